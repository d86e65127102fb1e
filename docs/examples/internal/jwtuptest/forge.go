package jwtuptest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/jwt-up/jwt-up/service"
)

// Tamper returns token with its sub claim changed and the signature kept:
// what an attacker who edits a real token sends.
func Tamper(t testing.TB, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("decode claims: %v", err)
	}
	claims["sub"] = "mallory"
	payload, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// Forge signs a token with a fresh key of alg's type that no JWKS
// publishes, but with header kid and the claims jwt-up would set: what
// another signer, or an attacker who knows a published kid, sends.
func Forge(t testing.TB, alg, kid, issuer, audience string) string {
	t.Helper()
	priv, err := service.GenerateKey(alg)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer(issuer).Subject("mallory").Audience([]string{audience}).
		IssuedAt(now).NotBefore(now).Expiration(now.Add(5 * time.Minute)).
		Build()
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.SignatureAlgorithm(alg), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return string(signed)
}

// KID returns the kid in token's header.
func KID(t testing.TB, token string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		t.Fatalf("parse token header: %v", err)
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// Unsigned returns token's claims under a header with alg "none", the
// same kid and no signature: what an attacker sends to a verifier that
// trusts the token's own alg.
func Unsigned(t testing.TB, token string) string {
	t.Helper()
	hdr, err := json.Marshal(map[string]string{"alg": "none", "kid": KID(t, token), "typ": "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Split(token, ".")[1]
	return base64.RawURLEncoding.EncodeToString(hdr) + "." + payload + "."
}
