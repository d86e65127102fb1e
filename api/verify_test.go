package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/jwt-up/jwt-up/service"
)

// get fetches url from a real server and wants 200.
func get(t *testing.T, url string, kv ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	r := send(t, req)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: got status %d, want 200; body %s", url, r.Status, r.Body)
	}
	return r
}

// discoverKeys finds the JWKS the way a verifier does: from the issuer's
// discovery document.
func discoverKeys(t *testing.T, issuer string) jose.JSONWebKeySet {
	t.Helper()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	decodeJSON(t, get(t, issuer+"/.well-known/openid-configuration").Body, &doc)
	if doc.Issuer != issuer || doc.JWKSURI != issuer+"/.well-known/jwks.json" {
		t.Fatalf("got issuer %q jwks_uri %q, want %q and its JWKS", doc.Issuer, doc.JWKSURI, issuer)
	}

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(get(t, doc.JWKSURI).Body, &set); err != nil {
		t.Fatalf("go-jose cannot read the JWKS: %v", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Errorf("key %s: public %v valid %v, want a valid public key", k.KeyID, k.IsPublic(), k.Valid())
		}
	}
	return set
}

// verify checks token the way an upstream does, with go-jose alone.
func verify(t *testing.T, set jose.JSONWebKeySet, token, alg, issuer, aud string) {
	t.Helper()
	algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
	tok, err := jwt.ParseSigned(token, algs)
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	if len(tok.Headers) != 1 {
		t.Fatalf("got %d signatures, want 1", len(tok.Headers))
	}
	h := tok.Headers[0]
	if h.Algorithm != alg {
		t.Errorf("got alg header %q, want %q", h.Algorithm, alg)
	}
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "JWT" {
		t.Errorf("got typ header %v, want JWT", typ)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("got %d JWKS keys with kid %q, want 1", len(keys), h.KeyID)
	}
	if keys[0].Algorithm != alg || keys[0].Use != "sig" {
		t.Errorf("JWKS key: got alg %q use %q, want %s sig", keys[0].Algorithm, keys[0].Use, alg)
	}

	var claims jwt.Claims
	if err := tok.Claims(keys[0], &claims); err != nil {
		t.Fatalf("verify signature: %v", err)
	}
	now := time.Now()
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      issuer,
		AnyAudience: jwt.Audience{aud},
		Time:        now,
	}, 0)
	if err != nil {
		t.Errorf("validate claims: %v", err)
	}
	if claims.Expiry == nil || !claims.Expiry.Time().After(now) {
		t.Errorf("got exp %v, want it after now %v", claims.Expiry, now)
	}
	if claims.NotBefore == nil || claims.NotBefore.Time().After(now) {
		t.Errorf("got nbf %v, want it no later than now %v", claims.NotBefore, now)
	}
	if claims.ID == "" || claims.Subject == "" {
		t.Errorf("got jti %q sub %q, want both", claims.ID, claims.Subject)
	}

	// A signature that does not match must fail, or the checks above prove
	// nothing.
	other := set.Keys[0]
	if other.KeyID == h.KeyID {
		other = set.Keys[len(set.Keys)-1]
	}
	if other.KeyID != h.KeyID && tok.Claims(other, &jwt.Claims{}) == nil {
		t.Errorf("token verified with key %s, which did not sign it", other.KeyID)
	}
	dot := strings.LastIndexByte(token, '.') + 1
	tampered := token[:dot] + flip(token[dot:])
	if tok, err := jwt.ParseSigned(tampered, algs); err == nil {
		if tok.Claims(keys[0], &jwt.Claims{}) == nil {
			t.Errorf("a token with an altered signature verified")
		}
	}
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}

// TestTokensVerifyWithGoJOSE mints a token of every algorithm through both
// endpoints of a real server and verifies it with go-jose against the JWKS
// found through discovery, as an upstream written in another stack would.
func TestTokensVerifyWithGoJOSE(t *testing.T) {
	t.Parallel()

	want := []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}
	for _, alg := range want {
		if !service.ValidAlgorithm(alg) {
			t.Errorf("service does not support %s", alg)
		}
	}
	for _, alg := range want {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			_, srv := newServerEnv(t, setup{alg: alg})
			set := discoverKeys(t, srv.URL)

			t.Run("POST /v1/tokens", func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/tokens",
					strings.NewReader(`{"consumer":{"id":"alice"},"audience":"orders-api"}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", gatewayAuth)
				req.Header.Set("Content-Type", "application/json")
				r := send(t, req)
				if r.Status != http.StatusOK {
					t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
				}
				var tr struct {
					Token string `json:"token"`
				}
				decodeJSON(t, r.Body, &tr)
				verify(t, set, tr.Token, alg, srv.URL, "orders-api")
			})
			t.Run("GET /v1/auth", func(t *testing.T) {
				r := get(t, srv.URL+"/v1/auth", "Authorization", gatewayAuth,
					"X-Consumer-Username", "bob", "X-JWT-Audience", "billing-api")
				verify(t, set, bearerToken(t, r.Header.Get("Authorization")), alg, srv.URL, "billing-api")
			})
		})
	}
}
