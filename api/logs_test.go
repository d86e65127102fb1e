package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestLogsHoldNoSecrets drives mints, refused keys, a rotation and a
// revocation, then searches every log line for the keys and the tokens.
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
		"gateway key": gatewayKey,
		"admin key":   adminKey,
		"wrong key":   wrongKey,
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
	}
}
