package service

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/memory"
)

// jwksKIDs returns the kids the JWKS publishes.
func jwksKIDs(t *testing.T, m *KeyManager) map[string]bool {
	t.Helper()
	body, _ := m.JWKS()
	var doc struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range doc.Keys {
		kids[k.KID] = true
	}
	return kids
}

func TestFirstStartCreatesActiveAndNext(t *testing.T) {
	clk := newClock()
	m := newTestManager(t, nil, testKeyConfig, clk)

	active := only(t, m, store.KeyActive)
	next := only(t, m, store.KeyNext)
	if m.ActiveKID() != active.KID {
		t.Errorf("ActiveKID = %s, want %s", m.ActiveKID(), active.KID)
	}
	if want := clk.Now().Add(testKeyConfig.Rotation); !next.ActivatesAt.Equal(want) {
		t.Errorf("next activates at %v, want one rotation ahead, %v", next.ActivatesAt, want)
	}
	if kids := jwksKIDs(t, m); !kids[active.KID] || !kids[next.KID] || len(kids) != 2 {
		t.Errorf("JWKS kids = %v, want active and next", kids)
	}
}

func TestScheduledRotation(t *testing.T) {
	clk := newClock()
	m := newTestManager(t, nil, testKeyConfig, clk)
	ctx := context.Background()
	first, second := only(t, m, store.KeyActive), only(t, m, store.KeyNext)

	// Just before the rotation is due, nothing changes.
	clk.Advance(testKeyConfig.Rotation - time.Second)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if m.ActiveKID() != first.KID {
		t.Fatalf("rotated early: active %s", m.ActiveKID())
	}

	clk.Advance(time.Second)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if m.ActiveKID() != second.KID {
		t.Fatalf("active = %s, want the next key %s", m.ActiveKID(), second.KID)
	}
	retired := only(t, m, store.KeyRetired)
	wantRemove := clk.Now().Add(testKeyConfig.TokenTTL + testKeyConfig.JWKSMaxAge)
	if retired.KID != first.KID || !retired.RemoveAt.Equal(wantRemove) {
		t.Errorf("retired = %s until %v, want %s until %v", retired.KID, retired.RemoveAt, first.KID, wantRemove)
	}
	third := only(t, m, store.KeyNext)
	if kids := jwksKIDs(t, m); !kids[first.KID] || !kids[second.KID] || !kids[third.KID] {
		t.Errorf("JWKS kids = %v, want retired, active and next", kids)
	}
	if !m.usable(first.KID) {
		t.Error("tokens of the retired key are no longer usable")
	}

	// Once its tokens have all expired and one max-age passed, it leaves.
	clk.Advance(testKeyConfig.TokenTTL + testKeyConfig.JWKSMaxAge)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if kids := jwksKIDs(t, m); kids[first.KID] {
		t.Error("removed key still in the JWKS")
	}
	removed := only(t, m, store.KeyRemoved)
	if removed.KID != first.KID || m.usable(first.KID) {
		t.Errorf("removed = %s (usable %v), want %s, unusable", removed.KID, m.usable(first.KID), first.KID)
	}
}

func TestRotateStagesAfterMaxAge(t *testing.T) {
	clk := newClock()
	m := newTestManager(t, nil, testKeyConfig, clk)
	ctx := context.Background()
	active, oldNext := only(t, m, store.KeyActive), only(t, m, store.KeyNext)

	staged, err := m.Rotate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if staged.State != store.KeyNext || !staged.ActivatesAt.Equal(clk.Now().Add(testKeyConfig.JWKSMaxAge)) {
		t.Fatalf("staged = %s at %v, want next at now + max-age", staged.State, staged.ActivatesAt)
	}
	if !jwksKIDs(t, m)[staged.KID] {
		t.Error("staged key not published before it signs")
	}
	if got := only(t, m, store.KeyRemoved); got.KID != oldNext.KID {
		t.Errorf("the replaced next key is %s, want %s removed", got.KID, oldNext.KID)
	}

	clk.Advance(testKeyConfig.JWKSMaxAge - time.Second)
	_ = m.Tick(ctx)
	if m.ActiveKID() != active.KID {
		t.Fatal("staged key signs before one max-age passed")
	}
	clk.Advance(time.Second)
	_ = m.Tick(ctx)
	if m.ActiveKID() != staged.KID {
		t.Fatalf("active = %s, want staged %s", m.ActiveKID(), staged.KID)
	}
}

func TestRotateImmediate(t *testing.T) {
	clk := newClock()
	m := newTestManager(t, nil, testKeyConfig, clk)
	old, next := only(t, m, store.KeyActive), only(t, m, store.KeyNext)

	k, err := m.Rotate(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if k.State != store.KeyActive || m.ActiveKID() != k.KID {
		t.Fatalf("new key %s is %s, active %s; want it active", k.KID, k.State, m.ActiveKID())
	}
	if got := only(t, m, store.KeyRetired); got.KID != old.KID {
		t.Errorf("retired %s, want %s", got.KID, old.KID)
	}
	if got := only(t, m, store.KeyNext); got.KID != next.KID || !got.ActivatesAt.Equal(clk.Now().Add(testKeyConfig.Rotation)) {
		t.Errorf("next = %s at %v, want %s one rotation from now", got.KID, got.ActivatesAt, next.KID)
	}
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	t.Run("active", func(t *testing.T) {
		clk := newClock()
		m := newTestManager(t, nil, testKeyConfig, clk)
		active, next := only(t, m, store.KeyActive), only(t, m, store.KeyNext)

		k, err := m.Revoke(ctx, active.KID)
		if err != nil {
			t.Fatal(err)
		}
		if k.State != store.KeyRevoked || k.RemovedAt.IsZero() {
			t.Errorf("revoked key = %+v", k)
		}
		if m.ActiveKID() != next.KID {
			t.Errorf("active = %s, want the next key %s at once", m.ActiveKID(), next.KID)
		}
		if jwksKIDs(t, m)[active.KID] || m.usable(active.KID) {
			t.Error("revoked key still published or usable")
		}
		only(t, m, store.KeyNext) // a new next key was made
	})
	t.Run("next", func(t *testing.T) {
		m := newTestManager(t, nil, testKeyConfig, newClock())
		next := only(t, m, store.KeyNext)
		if _, err := m.Revoke(ctx, next.KID); err != nil {
			t.Fatal(err)
		}
		if got := only(t, m, store.KeyNext); got.KID == next.KID {
			t.Error("the revoked next key is still next")
		}
	})
	t.Run("unknown", func(t *testing.T) {
		m := newTestManager(t, nil, testKeyConfig, newClock())
		if _, err := m.Revoke(ctx, "nope"); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("err = %v, want ErrKeyNotFound", err)
		}
	})
	t.Run("twice", func(t *testing.T) {
		m := newTestManager(t, nil, testKeyConfig, newClock())
		kid := m.ActiveKID()
		if _, err := m.Revoke(ctx, kid); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Revoke(ctx, kid); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("second revoke err = %v, want ErrKeyNotFound", err)
		}
	})
}

func TestAlgorithmChange(t *testing.T) {
	clk := newClock()
	ks := memory.NewKeyStore()
	sealer := newTestSealer(t)
	ctx := context.Background()

	m := NewKeyManager(ks, sealer, testKeyConfig, discard())
	m.SetClock(clk.Now)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	old := m.ActiveKID()

	cfg := testKeyConfig
	cfg.Alg = "EdDSA"
	m2 := NewKeyManager(ks, sealer, cfg, discard())
	m2.SetClock(clk.Now)
	if err := m2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	next := only(t, m2, store.KeyNext)
	if next.Alg != "EdDSA" || !next.ActivatesAt.Equal(clk.Now().Add(cfg.JWKSMaxAge)) {
		t.Fatalf("next = %s at %v, want EdDSA one max-age from now", next.Alg, next.ActivatesAt)
	}
	if m2.ActiveKID() != old {
		t.Fatal("the active key changed before the new one was published for one max-age")
	}
	clk.Advance(cfg.JWKSMaxAge)
	if err := m2.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if m2.ActiveKID() != next.KID {
		t.Errorf("active = %s, want the EdDSA key %s", m2.ActiveKID(), next.KID)
	}
}

func TestWrongKEKFailsStart(t *testing.T) {
	ks := memory.NewKeyStore()
	newTestManager(t, ks, testKeyConfig, newClock())

	m := NewKeyManager(ks, newTestSealer(t), testKeyConfig, discard())
	if err := m.Start(context.Background()); !errors.Is(err, ErrKEKMismatch) {
		t.Fatalf("Start with another KEK: err = %v, want ErrKEKMismatch", err)
	}
	keys, _ := ks.ListKeys(context.Background())
	if len(keys) != 2 {
		t.Errorf("store holds %d keys after a failed start, want the 2 it had", len(keys))
	}
}

// Replicas sharing a store and started together end with one active key.
func TestConcurrentStartsMakeOneActiveKey(t *testing.T) {
	ks := memory.NewKeyStore()
	sealer := newTestSealer(t)
	clk := newClock()

	var wg sync.WaitGroup
	managers := make([]*KeyManager, 4)
	for i := range managers {
		managers[i] = NewKeyManager(ks, sealer, testKeyConfig, discard())
		managers[i].SetClock(clk.Now)
		wg.Add(1)
		go func(m *KeyManager) {
			defer wg.Done()
			if err := m.Start(context.Background()); err != nil {
				t.Error(err)
			}
		}(managers[i])
	}
	wg.Wait()

	keys, err := ks.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("store holds %d keys, want one active and one next", len(keys))
	}
	for _, m := range managers {
		if m.ActiveKID() != managers[0].ActiveKID() {
			t.Errorf("replicas sign with different keys: %s and %s", m.ActiveKID(), managers[0].ActiveKID())
		}
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newTestManager(t, nil, testKeyConfig, clk) // ES256

	fits, err := GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Import(ctx, fits, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := only(t, m, store.KeyNext); got.KID != k.KID || got.Alg != "ES256" {
		t.Errorf("next = %s (%s), want the imported %s", got.KID, got.Alg, k.KID)
	}

	other, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	before := m.Keys()
	_, err = m.Import(ctx, other, true)
	if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "JWTUP_SIGNING_ALG=EdDSA") {
		t.Fatalf("import of an Ed25519 key into ES256: err = %v, want ErrInvalidKey with a hint", err)
	}
	if diff := cmp.Diff(before, m.Keys()); diff != "" {
		t.Errorf("a refused import changed the keys (-before +after):\n%s", diff)
	}
}

// failingStore fails every change, as a key store out of reach does.
type failingStore struct{ store.KeyStore }

func (failingStore) UpdateKeys(context.Context, func([]store.Key) ([]store.Key, error)) error {
	return errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func TestChangeWithStoreDown(t *testing.T) {
	ks := memory.NewKeyStore()
	m := newTestManager(t, ks, testKeyConfig, newClock())
	m.store = failingStore{ks}
	kid := m.ActiveKID()

	_, err := m.Rotate(context.Background(), true)
	if !errors.Is(err, ErrKeyStoreUnavailable) || strings.Contains(err.Error(), "10.0.0.5") {
		t.Fatalf("rotate with the store down: err = %v, want ErrKeyStoreUnavailable without the cause", err)
	}
	if _, err := m.Revoke(context.Background(), kid); !errors.Is(err, ErrKeyStoreUnavailable) {
		t.Errorf("revoke with the store down: err = %v, want ErrKeyStoreUnavailable", err)
	}
	if m.ActiveKID() != kid {
		t.Error("the signing key changed although the store refused")
	}
}
