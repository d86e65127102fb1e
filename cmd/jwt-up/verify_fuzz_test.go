package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// FuzzVerifyToken feeds arbitrary text to the token verifier behind
// jwt-up verify: it must never panic, and it may only call a token valid
// if the token really is signed by the published key.
func FuzzVerifyToken(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		f.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "k1")
	_ = key.Set(jwk.AlgorithmKey, jwa.ES256)
	pub, err := key.PublicKey()
	if err != nil {
		f.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)

	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tok, err := jwt.NewBuilder().Issuer("https://jwt-up.test").Audience([]string{"orders"}).
		IssuedAt(now).Expiration(now.Add(time.Minute)).Build()
	if err != nil {
		f.Fatal(err)
	}
	good, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(good))
	f.Add(strings.Replace(string(good), ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	f.Add("")

	v := verification{set: set, keysFrom: "test", issuer: "https://jwt-up.test", audience: "orders",
		algs: []string{"ES256"}, now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, token string) {
		var out bytes.Buffer
		err := v.report(&out, token)
		if err != nil && !errors.Is(err, errInvalidToken) {
			t.Fatalf("report(%q) = %v, want nil or errInvalidToken", token, err)
		}
		if err == nil {
			if _, perr := jwt.ParseString(token, jwt.WithKeySet(set), jwt.WithValidate(false)); perr != nil {
				t.Fatalf("report called %q valid, but it does not verify: %v", token, perr)
			}
		}
	})
}
