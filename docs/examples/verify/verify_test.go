package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/docs/examples/internal/jwtuptest"
)

func TestMain(m *testing.M) { os.Exit(jwtuptest.Main(m)) }

// TestVerifyLive checks the example against a live jwt-up for each
// algorithm: the token it mints passes, and every way a token can be wrong
// is refused.
func TestVerifyLive(t *testing.T) {
	for _, alg := range jwtuptest.Algorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			testVerifyLive(t, alg)
		})
	}
}

func testVerifyLive(t *testing.T, alg string) {
	s := jwtuptest.Start(t, alg)
	good := s.Mint(t, "4e1c", "orders-api")
	kid := jwtuptest.KID(t, good)
	want := expected{jwksURL: s.JWKSURL(), issuer: s.URL, audience: "orders-api", alg: alg}
	now := time.Now()

	claims, err := verify(good, want, now)
	if err != nil {
		t.Fatalf("a fresh token from jwt-up is refused: %v", err)
	}
	if claims["sub"] != "4e1c" {
		t.Errorf("got sub %v, want 4e1c", claims["sub"])
	}

	other := alg
	if other == "ES256" {
		other = "ES384"
	} else {
		other = "ES256"
	}
	forged := jwtuptest.Forge(t, alg, kid, s.URL, "orders-api")
	stranger := jwtuptest.Forge(t, alg, "not-published", s.URL, "orders-api")
	tests := []struct {
		name   string
		token  string
		change func(*expected)
		now    time.Time
		reason string // a word the error must hold
	}{
		{name: "wrong audience", token: s.Mint(t, "4e1c", "billing-api"), reason: "aud"},
		{name: "wrong issuer", token: good, change: func(w *expected) { w.issuer = "https://other.example" }, reason: "iss"},
		{name: "expired", token: good, now: now.Add(10 * time.Minute), reason: "exp"},
		{name: "not yet valid", token: good, now: now.Add(-10 * time.Minute), reason: "nbf"},
		{name: "another algorithm pinned", token: good, change: func(w *expected) { w.alg = other }, reason: "algorithm"},
		{name: "payload changed", token: jwtuptest.Tamper(t, good), reason: "signature"},
		{name: "another key, published kid", token: forged, reason: "signature"},
		{name: "another key, unknown kid", token: stranger, reason: "not in the JWKS"},
		{name: "alg none", token: jwtuptest.Unsigned(t, good), reason: "algorithm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := want
			if tc.change != nil {
				tc.change(&w)
			}
			at := now
			if !tc.now.IsZero() {
				at = tc.now
			}
			_, err := verify(tc.token, w, at)
			if err == nil {
				t.Fatal("verify accepted it, want an error")
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("got error %q, want one that mentions %q", err, tc.reason)
			}
		})
	}
}
