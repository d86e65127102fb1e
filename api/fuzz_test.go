package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// reset empties the buffer, so that a long fuzz run does not keep every
// access line it wrote.
func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// serveFuzz serves req with e's router for a fuzz target, which has no
// *testing.T of its own to hand to e.do.
func serveFuzz(e *env, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	e.logs.reset()
	return rec
}

// checkFuzzAnswer fails unless rec is a 200 or a 4xx problem whose status
// member is its status. It returns the status.
func checkFuzzAnswer(t *testing.T, rec *httptest.ResponseRecorder) int {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("got status %d, want below 500; body %s", rec.Code, rec.Body)
	}
	if rec.Code == http.StatusOK {
		return rec.Code
	}
	if rec.Code < 400 {
		t.Fatalf("got status %d, want 200 or 4xx; body %s", rec.Code, rec.Body)
	}
	if got := mediaType(rec.Header().Get("Content-Type")); got != "application/problem+json" {
		t.Fatalf("status %d: got Content-Type %q, want application/problem+json", rec.Code, got)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("status %d: problem body %q: %v", rec.Code, rec.Body, err)
	}
	if p.Status != rec.Code || p.Type == "" || p.Detail == "" {
		t.Fatalf("status %d: got problem %+v", rec.Code, p)
	}
	return rec.Code
}

// checkFuzzToken fails unless token is a compact JWS of three parts.
func checkFuzzToken(t *testing.T, token string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		t.Fatalf("got token %q, want three parts", token)
	}
}

// FuzzMintRequest posts any body to /v1/tokens through the real router. No
// body may cost a 5xx or a panic (the recovery middleware would turn one
// into a 500); a refusal is a problem document, and a 200 carries a token.
// testdata/fuzz/FuzzMintRequest holds the bad inputs of
// TestPostTokenBadInput's kinds.
func FuzzMintRequest(f *testing.F) {
	for _, body := range []string{
		consumerBody("alice"),
		`{"consumer":{"id":"4e1c","username":"alice","custom_id":"c-42"},"groups":["gold","eu"],` +
			`"scopes":["orders:read"],"credential":{"id":"9b7","identifier":"k1"},` +
			`"authenticated_userid":"alice@example.com","audience":"orders-api",` +
			`"claims":{"tenant":"acme","tier":{"level":2,"tags":["a",null,true,1.5e3]}}}`,
		`{"consumer":{"id":"a"},"claims":{"iss":"x"}}`,
		`{"consumer":{"id":"a","ID":"b"}}`,
		`{"consumer":{"id":"a"},"claims":{"d":[[[[[[[[[1]]]]]]]]]}}`,
		`{"consumer":{"id":"a\u0000"}}`,
		"{\"consumer\":{\"id\":\"\xff\"}}",
		`{"consumer":{"id":"a"}} {}`,
		`[]`,
		``,
	} {
		f.Add([]byte(body))
	}
	e := newEnv(f, setup{})

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/tokens", strings.NewReader(string(body)))
		req.Header.Set("Authorization", gatewayAuth)
		req.Header.Set("Content-Type", "application/json")
		rec := serveFuzz(e, req)
		if checkFuzzAnswer(t, rec) != http.StatusOK {
			return
		}
		var tr struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
			t.Fatalf("200 body %q: %v", rec.Body, err)
		}
		checkFuzzToken(t, tr.Token)
	})
}

// FuzzForwardAuthHeaders sends any consumer headers to /v1/auth through the
// real router: never a 5xx or a panic, a refusal is a problem document, and
// a 200 carries a token in the Authorization header. An empty argument
// leaves its header out.
func FuzzForwardAuthHeaders(f *testing.F) {
	f.Add("4e1c", "alice", "c-42", "gold, eu", "orders:read orders:write", "orders-api")
	f.Add("", "", "", "gold", "", "")
	f.Add("a\x01", "", "", "", "", "")
	f.Add("a", "", "", ",,, ,", "\t", "\xff")
	f.Add("", "bob", "", "g\u0085", "s1  s2", strings.Repeat("x", 300))
	e := newEnv(f, setup{})

	f.Fuzz(func(t *testing.T, id, username, customID, groups, scopes, audience string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
		req.Header.Set("Authorization", gatewayAuth)
		for name, v := range map[string]string{
			"X-Consumer-ID":         id,
			"X-Consumer-Username":   username,
			"X-Consumer-Custom-ID":  customID,
			"X-Consumer-Groups":     groups,
			"X-Authenticated-Scope": scopes,
			"X-JWT-Audience":        audience,
		} {
			if v != "" {
				req.Header[http.CanonicalHeaderKey(name)] = []string{v} // as is, unchecked
			}
		}
		rec := serveFuzz(e, req)
		if checkFuzzAnswer(t, rec) != http.StatusOK {
			return
		}
		token, ok := strings.CutPrefix(rec.Header().Get("Authorization"), "Bearer ")
		if !ok {
			t.Fatalf("200 without a token header; headers %v", rec.Header())
		}
		checkFuzzToken(t, token)
	})
}
