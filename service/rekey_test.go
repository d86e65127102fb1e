package service

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/memory"
)

// startWith returns a started manager over ks that seals with s.
func startWith(t *testing.T, ks store.KeyStore, s *Sealer, clk *clock) (*KeyManager, error) {
	t.Helper()
	m := NewKeyManager(ks, s, testKeyConfig, discard())
	m.SetClock(clk.Now)
	return m, m.Start(context.Background())
}

// storedKeys lists ks or fails.
func storedKeys(t *testing.T, ks store.KeyStore) []store.Key {
	t.Helper()
	keys, err := ks.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// sealedCount counts the keys that still have a private part.
func sealedCount(keys []store.Key) int {
	n := 0
	for _, k := range keys {
		if k.Sealed != nil {
			n++
		}
	}
	return n
}

// rotatedStore returns a memory store holding an active, a next and a
// retired key, sealed under old.
func rotatedStore(t *testing.T, old *Sealer, clk *clock) store.KeyStore {
	t.Helper()
	ks := memory.NewKeyStore()
	m, err := startWith(t, ks, old, clk)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := m.Rotate(context.Background(), true); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return ks
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	oldKEK, newKEK := newTestSealer(t), newTestSealer(t)
	ks := rotatedStore(t, oldKEK, clk)
	before := storedKeys(t, ks)

	m, err := startWith(t, ks, oldKEK, clk)
	if err != nil {
		t.Fatal(err)
	}
	active := m.ActiveKID()
	n, err := m.Rekey(ctx, newKEK)
	if err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	if want := sealedCount(before); n != want || n < 3 {
		t.Errorf("Rekey sealed %d keys, want every one of the %d sealed (at least 3)", n, want)
	}

	after := storedKeys(t, ks)
	for i, k := range after {
		if bytes.Equal(k.Sealed, before[i].Sealed) && k.Sealed != nil {
			t.Errorf("key %s (%s) is sealed as before", k.KID, k.State)
		}
		if k.Sealed != nil {
			if _, err := openKey(newKEK, k); err != nil {
				t.Errorf("key %s does not open under the new KEK: %v", k.KID, err)
			}
		}
	}

	t.Run("new KEK starts", func(t *testing.T) {
		m2, err := startWith(t, ks, newKEK, clk)
		if err != nil {
			t.Fatalf("Start with the new KEK: %v", err)
		}
		if m2.ActiveKID() != active {
			t.Errorf("active kid %s, want %s", m2.ActiveKID(), active)
		}
	})
	t.Run("old KEK refused", func(t *testing.T) {
		if _, err := startWith(t, ks, oldKEK, clk); !errors.Is(err, ErrKEKMismatch) {
			t.Errorf("Start with the old KEK: err = %v, want ErrKEKMismatch", err)
		}
	})
	t.Run("manager goes on under the new KEK", func(t *testing.T) {
		k, err := m.Rotate(ctx, false)
		if err != nil {
			t.Fatalf("Rotate after Rekey: %v", err)
		}
		stored := storedKeys(t, ks)
		for _, s := range stored {
			if s.KID == k.KID {
				if _, err := openKey(newKEK, s); err != nil {
					t.Errorf("key staged after Rekey does not open under the new KEK: %v", err)
				}
			}
		}
	})
}

func TestRekeyCorruptKeyChangesNothing(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	oldKEK := newTestSealer(t)
	ks := rotatedStore(t, oldKEK, clk)
	m, err := startWith(t, ks, oldKEK, clk)
	if err != nil {
		t.Fatal(err)
	}

	// Flip a bit of the next key's sealed blob: the active key still opens.
	err = ks.UpdateKeys(ctx, func(keys []store.Key) ([]store.Key, error) {
		for i, k := range keys {
			if k.State == store.KeyNext {
				keys[i].Sealed = bytes.Clone(k.Sealed)
				keys[i].Sealed[len(k.Sealed)-1] ^= 1
			}
		}
		return keys, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := storedKeys(t, ks)

	if _, err := m.Rekey(ctx, newTestSealer(t)); !errors.Is(err, ErrKEKMismatch) {
		t.Fatalf("Rekey over a corrupt key: err = %v, want ErrKEKMismatch", err)
	}
	if diff := cmp.Diff(before, storedKeys(t, ks)); diff != "" {
		t.Errorf("Rekey that failed changed the store (-before +after):\n%s", diff)
	}
	if _, err := startWith(t, ks, oldKEK, clk); err != nil {
		t.Errorf("the old KEK no longer starts after a failed Rekey: %v", err)
	}
}

// TestStaleKEKWritesNothing: a replica that missed a rekey keeps the old
// KEK; its changes must not put keys in the store that the others cannot
// open.
func TestStaleKEKWritesNothing(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	oldKEK := newTestSealer(t)
	ks := rotatedStore(t, oldKEK, clk)
	stale, err := startWith(t, ks, oldKEK, clk)
	if err != nil {
		t.Fatal(err)
	}
	rekeyer, err := startWith(t, ks, oldKEK, clk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rekeyer.Rekey(ctx, newTestSealer(t)); err != nil {
		t.Fatal(err)
	}
	before := storedKeys(t, ks)

	if _, err := stale.Rotate(ctx, true); !errors.Is(err, ErrKEKMismatch) {
		t.Errorf("Rotate on the old KEK: err = %v, want ErrKEKMismatch", err)
	}
	clk.Advance(48 * testKeyConfig.Rotation)
	if err := stale.Tick(ctx); !errors.Is(err, ErrKEKMismatch) {
		t.Errorf("Tick on the old KEK with a step due: err = %v, want ErrKEKMismatch", err)
	}
	if diff := cmp.Diff(before, storedKeys(t, ks)); diff != "" {
		t.Errorf("a replica on the old KEK changed the store (-before +after):\n%s", diff)
	}
}
