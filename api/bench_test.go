package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/api"
)

// benchServe sends req to the router b.N times, failing on another status.
func benchServe(b *testing.B, e *env, newReq func() *http.Request, want int) {
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.router.ServeHTTP(w, newReq())
		if w.Code != want {
			b.Fatalf("status %d, want %d: %s", w.Code, want, w.Body)
		}
	}
}

// asDeployed is how the router of a running jwt-up is set up by default,
// where that costs time on every request: success lines off, as in the
// benchmark program, and the failed-authentication limit on.
var asDeployed = setup{quiet: true, configure: func(c *api.Config) {
	c.AuthLimit = api.AuthLimit{Failures: 10, Window: time.Minute}
}}

// BenchmarkPostTokenHit is a gateway asking again for a cached token.
func BenchmarkPostTokenHit(b *testing.B) {
	e := newEnv(b, asDeployed)
	const body = `{"consumer":{"id":"4e1c","username":"alice"},"groups":["gold","eu"],"scopes":["orders:read"]}`
	benchServe(b, e, func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/tokens", strings.NewReader(body))
		r.Header.Set("Authorization", gatewayAuth)
		r.Header.Set("Content-Type", "application/json")
		return r
	}, http.StatusOK)
}

// BenchmarkAuthHit is a forward-auth call for a cached token.
func BenchmarkAuthHit(b *testing.B) {
	e := newEnv(b, asDeployed)
	benchServe(b, e, func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/v1/auth", nil)
		r.Header.Set("Authorization", gatewayAuth)
		r.Header.Set("X-Consumer-ID", "4e1c")
		r.Header.Set("X-Consumer-Groups", "gold,eu")
		return r
	}, http.StatusOK)
}

// BenchmarkJWKS is an upstream fetching the key set.
func BenchmarkJWKS(b *testing.B) {
	e := newEnv(b, setup{})
	benchServe(b, e, func() *http.Request {
		return httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	}, http.StatusOK)
}
