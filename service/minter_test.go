package service

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jwt-up/jwt-up/store/memory"
)

var testMintConfig = MintConfig{
	Issuer:          "https://jwt-up.example",
	DefaultAudience: "https://jwt-up.example",
	Profile:         ProfileStandard,
	TTL:             5 * time.Minute,
	RefreshMargin:   30 * time.Second,
	ClockSkew:       10 * time.Second,
}

type mintFixture struct {
	clk    *clock
	keys   *KeyManager
	minter *Minter
}

func newMintFixture(t *testing.T, cfg MintConfig) *mintFixture {
	t.Helper()
	clk := newClock()
	keys := newTestManager(t, nil, testKeyConfig, clk)
	cache, err := memory.NewTokenCache(1000)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMinter(cfg, keys, cache, nil)
	m.SetClock(clk.Now)
	return &mintFixture{clk: clk, keys: keys, minter: m}
}

// claimsOf verifies tok against the manager's JWKS at the fixture's time and
// returns its claims.
func (f *mintFixture) claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	body, _ := f.keys.JWKS()
	set, err := jwk.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseString(tok, jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(f.clk.Now)))
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	claims, err := parsed.AsMap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(claims) // normalise times and audiences to JSON values
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// payloadOf decodes a token's claims without verifying, to see them as sent.
func payloadOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMintStandardClaims(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	req := MintRequest{
		Consumer:            Consumer{ID: "4e1c", Username: "alice", CustomID: "c-42"},
		Groups:              []string{"gold", "eu"},
		Scopes:              []string{"orders:read", "orders:write"},
		Credential:          &Credential{ID: "9b7", Identifier: "alice-key-1"},
		AuthenticatedUserID: "alice@example.com",
		Audience:            "orders-api",
		Claims:              map[string]json.RawMessage{"tenant": json.RawMessage(` "acme" `)},
	}
	got, err := f.minter.Mint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clk.Now()
	if got.ExpiresIn != 300 || !got.ExpiresAt.Equal(now.Add(5*time.Minute)) || got.KID != f.keys.ActiveKID() {
		t.Errorf("Minted = %+v, want 300 s left, signed by %s", got, f.keys.ActiveKID())
	}

	claims := payloadOf(t, got.Token)
	jti, _ := claims["jti"].(string)
	if len(jti) < 22 {
		t.Errorf("jti %q carries fewer than 128 bits", jti)
	}
	delete(claims, "jti")
	want := map[string]any{
		"iss":                  "https://jwt-up.example",
		"sub":                  "4e1c",
		"aud":                  "orders-api",
		"iat":                  float64(now.Unix()),
		"nbf":                  float64(now.Add(-10 * time.Second).Unix()),
		"exp":                  float64(now.Add(5 * time.Minute).Unix()),
		"consumer":             map[string]any{"id": "4e1c", "username": "alice", "custom_id": "c-42"},
		"groups":               []any{"gold", "eu"},
		"scope":                "orders:read orders:write",
		"credential":           map[string]any{"id": "9b7", "identifier": "alice-key-1"},
		"authenticated_userid": "alice@example.com",
		"tenant":               "acme",
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	f.claimsOf(t, got.Token) // and it verifies against the JWKS
}

func TestMintKongHeadersClaims(t *testing.T) {
	cfg := testMintConfig
	cfg.Profile = ProfileKongHeaders
	f := newMintFixture(t, cfg)
	got, err := f.minter.Mint(context.Background(), MintRequest{
		Consumer: Consumer{Username: "alice"},
		Groups:   []string{"gold", "eu"},
	})
	if err != nil {
		t.Fatal(err)
	}
	claims := payloadOf(t, got.Token)
	now := f.clk.Now()
	delete(claims, "jti")
	want := map[string]any{
		"iss": "https://jwt-up.example", "aud": "https://jwt-up.example",
		"iat": float64(now.Unix()), "nbf": float64(now.Add(-5 * time.Minute).Unix()),
		"exp":                    float64(now.Add(5 * time.Minute).Unix()),
		"X-Consumer-ID":          "none",
		"X-Consumer-Custom-ID":   "none",
		"X-Consumer-Username":    "alice",
		"X-Credential-Username":  "none",
		"X-Consumer-Groups":      "gold,eu",
		"X-Authenticated-Scope":  "none",
		"X-Authenticated-Userid": "none",
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestMintRefusesBadRequests(t *testing.T) {
	alice := Consumer{ID: "alice"}
	tests := []struct {
		name    string
		profile Profile
		req     MintRequest
		want    error
	}{
		{"empty consumer", ProfileStandard, MintRequest{}, ErrInvalidRequest},
		{"control character", ProfileStandard, MintRequest{Consumer: Consumer{ID: "a\x01"}}, ErrInvalidRequest},
		{"invalid UTF-8", ProfileStandard, MintRequest{Consumer: Consumer{ID: "a\xff"}}, ErrInvalidRequest},
		{"empty group", ProfileStandard, MintRequest{Consumer: alice, Groups: []string{""}}, ErrInvalidRequest},
		{"scope with space", ProfileStandard, MintRequest{Consumer: alice, Scopes: []string{"a b"}}, ErrInvalidRequest},
		{"claim not JSON", ProfileStandard, MintRequest{Consumer: alice, Claims: map[string]json.RawMessage{"x": json.RawMessage("{")}}, ErrInvalidRequest},
		{"reserved sub", ProfileStandard, MintRequest{Consumer: alice, Claims: map[string]json.RawMessage{"sub": json.RawMessage(`"x"`)}}, ErrReservedClaim},
		{"reserved exp", ProfileStandard, MintRequest{Consumer: alice, Claims: map[string]json.RawMessage{"exp": json.RawMessage(`1`)}}, ErrReservedClaim},
		{"reserved consumer", ProfileStandard, MintRequest{Consumer: alice, Claims: map[string]json.RawMessage{"consumer": json.RawMessage(`{}`)}}, ErrReservedClaim},
		{"reserved kong header", ProfileKongHeaders, MintRequest{Consumer: alice, Claims: map[string]json.RawMessage{"X-Consumer-ID": json.RawMessage(`"x"`)}}, ErrReservedClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testMintConfig
			cfg.Profile = tt.profile
			f := newMintFixture(t, cfg)
			if _, err := f.minter.Mint(context.Background(), tt.req); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMintCachesUntilRefreshMargin(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	ctx := context.Background()
	req := MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "orders"}

	first, err := f.minter.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Other spacing of the same claims, and the default audience spelled
	// out, are the same inputs.
	f.clk.Advance(testMintConfig.TTL - testMintConfig.RefreshMargin - time.Second)
	again, err := f.minter.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Token != first.Token {
		t.Fatal("a token with more than the margin left was not handed out again")
	}
	if again.ExpiresIn != int64((testMintConfig.RefreshMargin + time.Second).Seconds()) {
		t.Errorf("ExpiresIn = %d, want the time left", again.ExpiresIn)
	}

	other, err := f.minter.Mint(ctx, MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	if other.Token == first.Token {
		t.Error("another audience got the same token")
	}

	f.clk.Advance(time.Second) // now exactly the margin is left
	fresh, err := f.minter.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Token == first.Token {
		t.Fatal("a token with only the refresh margin left was handed out")
	}
	if fresh.ExpiresIn != int64(testMintConfig.TTL.Seconds()) {
		t.Errorf("fresh ExpiresIn = %d, want %v", fresh.ExpiresIn, testMintConfig.TTL)
	}
}

func TestMintSameClaimsOtherSpacing(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	ctx := context.Background()
	a, err := f.minter.Mint(ctx, MintRequest{Consumer: Consumer{ID: "bob"},
		Claims: map[string]json.RawMessage{"t": json.RawMessage(`{"a": 1, "b": [1, 2]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.minter.Mint(ctx, MintRequest{Consumer: Consumer{ID: "bob"}, Audience: testMintConfig.DefaultAudience,
		Claims: map[string]json.RawMessage{"t": json.RawMessage(`{"a":1,"b":[1,2]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Token != b.Token {
		t.Error("equal inputs written differently minted two tokens")
	}
}

func TestRevokedKeyTokensNotHandedOut(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	ctx := context.Background()
	req := MintRequest{Consumer: Consumer{ID: "alice"}}
	first, err := f.minter.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Revoke(ctx, first.KID); err != nil {
		t.Fatal(err)
	}
	again, err := f.minter.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Token == first.Token || again.KID == first.KID {
		t.Fatalf("after revoking %s the cached token signed by it was handed out", first.KID)
	}
	f.claimsOf(t, again.Token)
}

func TestPurge(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	ctx := context.Background()
	alice := MintRequest{Consumer: Consumer{ID: "alice"}}
	bob := MintRequest{Consumer: Consumer{ID: "bob"}}
	a1, _ := f.minter.Mint(ctx, alice)
	b1, _ := f.minter.Mint(ctx, bob)

	if err := f.minter.Purge(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a2, _ := f.minter.Mint(ctx, alice)
	b2, _ := f.minter.Mint(ctx, bob)
	if a2.Token == a1.Token {
		t.Error("alice's token survived the purge")
	}
	if b2.Token != b1.Token {
		t.Error("purging alice dropped bob's token")
	}
}

func TestNoSigningKey(t *testing.T) {
	m := NewMinter(testMintConfig, NewKeyManager(memory.NewKeyStore(), newTestSealer(t), testKeyConfig, discard()), mustCache(t), nil)
	if _, err := m.Mint(context.Background(), MintRequest{Consumer: Consumer{ID: "a"}}); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("err = %v, want ErrNoSigningKey", err)
	}
}

func mustCache(t *testing.T) *memory.TokenCache {
	t.Helper()
	c, err := memory.NewTokenCache(100)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConcurrentMissesSignOnce(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.minter.metrics = NewMetrics(prometheus.NewRegistry(), f.keys)

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens = map[string]bool{}
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := f.minter.Mint(context.Background(), MintRequest{Consumer: Consumer{ID: "alice"}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			tokens[got.Token] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(tokens) != 1 {
		t.Errorf("50 concurrent requests got %d distinct tokens, want 1", len(tokens))
	}
	if n := testutil.ToFloat64(f.minter.metrics.minted.WithLabelValues("ES256")); n != 1 {
		t.Errorf("signed %v times, want once", n)
	}
}

func TestCacheKeyTellsInputsApart(t *testing.T) {
	m := NewMinter(testMintConfig, nil, nil, nil)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	pairs := []struct {
		name string
		a, b MintRequest
	}{
		{"groups split otherwise", MintRequest{Groups: []string{"a", "b"}}, MintRequest{Groups: []string{"ab"}}},
		{"group moved to scopes", MintRequest{Groups: []string{"a"}}, MintRequest{Scopes: []string{"a"}}},
		{"field boundary", MintRequest{Consumer: Consumer{ID: "ab"}}, MintRequest{Consumer: Consumer{ID: "a", Username: "b"}}},
		{"empty credential", MintRequest{Credential: &Credential{}}, MintRequest{}},
		{"claim value", MintRequest{Claims: map[string]json.RawMessage{"x": raw(`1`)}}, MintRequest{Claims: map[string]json.RawMessage{"x": raw(`2`)}}},
		{"claim name", MintRequest{Claims: map[string]json.RawMessage{"x": raw(`1`)}}, MintRequest{Claims: map[string]json.RawMessage{"y": raw(`1`)}}},
		{"audience", MintRequest{Audience: "a"}, MintRequest{Audience: "b"}},
		{"user id", MintRequest{AuthenticatedUserID: "a"}, MintRequest{}},
	}
	def := m.profiles.Load().def
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			if m.cacheKey(def, &p.a, nil) == m.cacheKey(def, &p.b, nil) {
				t.Errorf("%+v and %+v share a cache key", p.a, p.b)
			}
		})
	}
	same := MintRequest{Groups: []string{"a"}, Claims: map[string]json.RawMessage{"x": raw(`1`), "y": raw(`2`)}}
	if m.cacheKey(def, &same, nil) != m.cacheKey(def, &same, nil) {
		t.Error("one request gave two cache keys")
	}
}

// TestCacheKeyManyClaims checks that claims past the few sorted without an
// allocation still give one key, whatever order the map yields them in.
func TestCacheKeyManyClaims(t *testing.T) {
	m := NewMinter(testMintConfig, nil, nil, nil)
	def := m.profiles.Load().def
	claims := map[string]json.RawMessage{}
	for i := range fewClaims + 5 {
		claims[string(rune('a'+i))] = json.RawMessage(`1`)
	}
	r := MintRequest{Claims: claims}
	first := m.cacheKey(def, &r, nil)
	for range 20 {
		copied := MintRequest{Claims: map[string]json.RawMessage{}}
		for k, v := range claims {
			copied.Claims[k] = v
		}
		if got := m.cacheKey(def, &copied, nil); got != first {
			t.Fatalf("the same claims gave keys %v and %v", first, got)
		}
	}
}

// TestCompactClaim holds compactClaim's shortcut for plain values to what
// json.Compact makes of them, and to the same refusals.
func TestCompactClaim(t *testing.T) {
	long := `"` + strings.Repeat("x", MaxClaimValueSize) + `"`
	for _, raw := range []string{
		`"acme"`, `""`, `true`, `false`, `null`, `"zoë 🙂"`, `"a b"`, ` "spaced" `, `"\u00e9"`, `"\""`,
		`1`, `[1, 2]`, `{"a": [true]}`, `"a"b"`, `"open`, `tru`, long, long[:len(long)-2] + `"`,
		"\"tab\there\"",
	} {
		got, err := compactClaim("c", json.RawMessage(raw))
		var want bytes.Buffer
		wantErr := json.Compact(&want, []byte(raw))
		if wantErr == nil && want.Len() > MaxClaimValueSize {
			wantErr = errors.New("too large")
		}
		switch {
		case (err == nil) != (wantErr == nil):
			t.Errorf("compactClaim(%.20q) error %v, want error %v", raw, err, wantErr)
		case err == nil && string(got) != want.String():
			t.Errorf("compactClaim(%.20q) = %.20q, want %.20q", raw, got, want.String())
		}
	}
}
