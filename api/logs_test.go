package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// secretValue looks like an API secret. Bad requests carry it in their
// bodies and headers; no log line may repeat it.
const secretValue = "sk_live_5f2b8c1e9a7d4036b2e8f1c3a5d7e9b0"

// jwkPrivateMember matches a JWK "d" member, escaped inside a string or not.
var jwkPrivateMember = regexp.MustCompile(`\\*"d\\*"\s*:`)

// TestLogsHoldNoSecrets drives mints, refused keys, bad input carrying a
// secret, an imported key, a rotation and revocations, then searches every
// log line for the keys, the tokens, the secret and private key material.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	var tokens []string
	mint := func(body string) {
		t.Helper()
		tokens = append(tokens, e.mint(t, body).Token)
	}
	auth := func(kv ...string) {
		t.Helper()
		r := e.do(t, authRequest(http.MethodGet, "/v1/auth", kv...))
		if r.Status != http.StatusOK {
			t.Fatalf("GET /v1/auth: got status %d, want 200; body %s", r.Status, r.Body)
		}
		tokens = append(tokens, bearerToken(t, r.Header.Get("Authorization")))
	}
	want := func(status int, req *http.Request) {
		t.Helper()
		if r := e.do(t, req); r.Status != status {
			t.Fatalf("%s %s: got status %d, want %d; body %s",
				req.Method, req.URL, r.Status, status, r.Body)
		}
	}

	// A key whose private part the test knows, to search the logs for.
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	imported, err := e.keys.Import(context.Background(), priv, true)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	mint(consumerBody("erin"))
	want(http.StatusOK, newRequest(http.MethodDelete, "/v1/keys/"+imported.KID, "", "Authorization", adminAuth))

	mint(consumerBody("alice"))
	mint(`{"consumer":{"username":"bob"},"claims":{"tenant":"acme"}}`)
	auth("X-Consumer-ID", "carol", "X-Consumer-Groups", "gold")

	want(http.StatusUnauthorized, newRequest(http.MethodPost, "/v1/tokens", consumerBody("alice"),
		"Authorization", "Bearer "+wrongKey, "Content-Type", "application/json"))
	want(http.StatusUnauthorized, newRequest(http.MethodGet, "/v1/auth", "",
		"Authorization", "Bearer "+wrongKey, "X-Consumer-ID", "alice"))
	want(http.StatusUnauthorized, newRequest(http.MethodPost, "/v1/tokens", consumerBody("alice"),
		"Authorization", adminAuth, "Content-Type", "application/json"))
	want(http.StatusUnauthorized, newRequest(http.MethodGet, "/v1/keys", "",
		"Authorization", gatewayAuth))
	want(http.StatusUnauthorized, newRequest(http.MethodGet, "/v1/keys", "",
		"Authorization", "Bearer "+wrongKey))
	want(http.StatusBadRequest, newRequest(http.MethodPost, "/v1/tokens", `{"consumer":{}}`,
		"Authorization", gatewayAuth, "Content-Type", "application/json"))
	badInputWithSecret(t, e)

	old := e.keys.ActiveKID()
	admin := func(method, target string) *http.Request {
		return newRequest(method, target, "", "Authorization", adminAuth)
	}
	want(http.StatusCreated, admin(http.MethodPost, "/v1/keys/rotate"))
	want(http.StatusCreated, admin(http.MethodPost, "/v1/keys/rotate?immediate=true"))
	mint(consumerBody("dave"))
	want(http.StatusOK, admin(http.MethodDelete, "/v1/keys/"+old))
	want(http.StatusOK, admin(http.MethodDelete, "/v1/keys/"+e.keys.ActiveKID()))
	mint(consumerBody("alice"))
	auth("X-Consumer-ID", "carol", "X-Consumer-Groups", "gold")
	want(http.StatusNoContent, admin(http.MethodDelete, "/v1/consumers/alice/tokens"))

	logs := e.logs.String()
	for _, part := range []string{`"msg":"request"`, `"msg":"key revoked"`, `"msg":"key activated"`} {
		if !strings.Contains(logs, part) {
			t.Errorf("logs hold no %s line: the test would prove nothing\n%s", part, logs)
		}
	}

	forbidden := map[string]string{
		"gateway key":  gatewayKey,
		"admin key":    adminKey,
		"wrong key":    wrongKey,
		"secret value": secretValue,
		"PEM armour":   "-----BEGIN",
		"PEM type":     "PRIVATE KEY",
	}
	for name, material := range privateKeyMaterial(t, priv) {
		forbidden[name] = material
	}
	for i, token := range tokens {
		forbidden[fmt.Sprintf("token %d", i)] = token
		forbidden[fmt.Sprintf("signature of token %d", i)] = token[strings.LastIndexByte(token, '.')+1:]
	}
	for _, line := range strings.Split(logs, "\n") {
		for name, secret := range forbidden {
			if strings.Contains(line, secret) {
				t.Errorf("a log line holds the %s: %s", name, line)
			}
		}
		if jwkPrivateMember.MatchString(line) {
			t.Errorf("a log line holds a JWK \"d\" member: %s", line)
		}
	}
}

// badInputWithSecret sends refused requests whose bodies and headers carry
// secretValue, one of each kind of refusal.
func badInputWithSecret(t *testing.T, e *env) {
	t.Helper()
	const s = secretValue
	bodies := []struct {
		body        string
		contentType string
		want        int
	}{
		{`{"consumer":{"id":"alice"},"password":"` + s + `"}`, "application/json", 400},
		{`{"consumer":{"id":"alice"},"` + s + `":1}`, "application/json", 400},
		{`{"consumer":{"id":"` + s, "application/json", 400},
		{`{"consumer":{"id":"alice"},"audience":["` + s + `"]}`, "application/json", 400},
		{`{"consumer":{"id":"alice"},"claims":{"api_key":"` + s + `","api_key":"` + s + `"}}`, "application/json", 400},
		{`{"consumer":{"id":"alice"},"claims":{"k":"` + s + strings.Repeat("x", 5000) + `"}}`, "application/json", 400},
		{`{"consumer":{"id":"alice"},"claims":{"k":` + strings.Repeat("[", 20) + `"` + s + `"` +
			strings.Repeat("]", 20) + `}}`, "application/json", 400},
		{`{"consumer":{"id":"alice\u0001` + s + `"}}`, "application/json", 400},
		{"{\"consumer\":{\"id\":\"\xff" + s + "\"}}", "application/json", 400},
		{`{"consumer":{"id":"alice"},"claims":{"iss":"` + s + `"}}`, "application/json", 422},
		{`{"consumer":{"id":"` + s + `"}}`, "text/plain", 415},
		{`{"consumer":{"id":"alice"},"claims":{"k":"` + s + strings.Repeat("x", 70000) + `"}}`, "application/json", 413},
	}
	for _, b := range bodies {
		r := e.do(t, newRequest(http.MethodPost, "/v1/tokens", b.body,
			"Authorization", gatewayAuth, "Content-Type", b.contentType))
		if r.Status != b.want {
			t.Fatalf("POST /v1/tokens %.80s: got status %d, want %d; body %s", b.body, r.Status, b.want, r.Body)
		}
	}

	headers := [][]string{
		{"X-Consumer-ID", s + "\x01"},
		{"X-Consumer-ID", "alice", "X-JWT-Audience", s + strings.Repeat("x", 300)},
		{"X-Consumer-ID", "alice", "X-Consumer-Groups", s + "\n"},
		{"X-Consumer-ID", "alice", "X-Authenticated-Scope", "\xff" + s},
	}
	for _, kv := range headers {
		r := e.do(t, authRequest(http.MethodGet, "/v1/auth", kv...))
		if r.Status != http.StatusBadRequest {
			t.Fatalf("GET /v1/auth %q: got status %d, want 400; body %s", kv, r.Status, r.Body)
		}
	}
}

// privateKeyMaterial returns forms the private part of priv could take in
// a log line: the JWK "d" member, hex, and the PEM body and its lines.
func privateKeyMaterial(t *testing.T, priv *ecdsa.PrivateKey) map[string]string {
	t.Helper()
	d, err := priv.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{
		"private key as JWK d":   base64.RawURLEncoding.EncodeToString(d),
		"private key as base64":  base64.StdEncoding.EncodeToString(d),
		"private key as hex":     hex.EncodeToString(d),
		"private key as PKCS #8": base64.StdEncoding.EncodeToString(der),
	}
	block := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for i, line := range strings.Split(string(block), "\n") {
		if len(line) == 64 { // the full lines of the base64 body
			out[fmt.Sprintf("PEM line %d", i)] = line
		}
	}
	// And as JSON: a log line holding a marshalled JWK would hold this.
	quoted, _ := json.Marshal(out["private key as JWK d"])
	out["private key as JSON string"] = string(quoted)
	return out
}
