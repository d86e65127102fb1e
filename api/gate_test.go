package api_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/api"
)

// gatewayRoutes are the routes a gateway key opens, with a request each
// that mints when authenticated.
var gatewayRoutes = []struct {
	name string
	req  func(kv ...string) *http.Request
}{
	{"POST /v1/tokens", func(kv ...string) *http.Request {
		return newRequest(http.MethodPost, "/v1/tokens", consumerBody("alice"),
			append([]string{"Content-Type", "application/json"}, kv...)...)
	}},
	{"GET /v1/auth", func(kv ...string) *http.Request {
		return newRequest(http.MethodGet, "/v1/auth", "", append([]string{"X-Consumer-ID", "alice"}, kv...)...)
	}},
}

// TestKeyOnlyInAuthorizationHeader: a key anywhere else than
// "Authorization: Bearer" is not looked at.
func TestKeyOnlyInAuthorizationHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	places := []struct {
		name  string
		query string
		kv    []string
	}{
		{"query api_key", "?api_key=%s", nil},
		{"query access_token", "?access_token=%s", nil},
		{"query key", "?key=%s", nil},
		{"X-API-Key", "", []string{"X-API-Key", "%s"}},
		{"apikey header", "", []string{"apikey", "%s"}},
		{"Proxy-Authorization", "", []string{"Proxy-Authorization", "Bearer %s"}},
		{"bare Authorization", "", []string{"Authorization", "%s"}},
		{"Cookie", "", []string{"Cookie", "token=%s"}},
	}
	check := func(t *testing.T, req *http.Request) {
		t.Helper()
		r := e.do(t, req)
		checkProblem(t, r, http.StatusUnauthorized)
		if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", got)
		}
	}
	fill := func(kv []string, key string) []string {
		out := make([]string, len(kv))
		for i, v := range kv {
			out[i] = strings.ReplaceAll(v, "%s", key)
		}
		return out
	}
	for _, p := range places {
		for _, route := range gatewayRoutes {
			t.Run(p.name+"/"+route.name, func(t *testing.T) {
				req := route.req(fill(p.kv, gatewayKey)...)
				req.URL.RawQuery = strings.TrimPrefix(strings.ReplaceAll(p.query, "%s", gatewayKey), "?")
				check(t, req)
			})
		}
		t.Run(p.name+"/admin", func(t *testing.T) {
			req := newRequest(http.MethodGet, "/v1/keys", "", fill(p.kv, adminKey)...)
			req.URL.RawQuery = strings.TrimPrefix(strings.ReplaceAll(p.query, "%s", adminKey), "?")
			check(t, req)
		})
	}
}

// TestTwoGatewayKeys: while gateways move from one key to the next, both
// are accepted; the old one stops working once it is removed.
func TestTwoGatewayKeys(t *testing.T) {
	t.Parallel()
	const newKey = "gw-new-6a8c0e2f4b6d8a0c2e4f6a8b0d2f4a6c"
	both := newEnv(t, setup{configure: func(c *api.Config) {
		c.GatewayKeys = []string{gatewayKey, newKey}
	}})
	newOnly := newEnv(t, setup{configure: func(c *api.Config) {
		c.GatewayKeys = []string{newKey}
	}})

	cases := []struct {
		name string
		e    *env
		key  string
		want int
	}{
		{"old key while both", both, gatewayKey, http.StatusOK},
		{"new key while both", both, newKey, http.StatusOK},
		{"new key after the switch", newOnly, newKey, http.StatusOK},
		{"old key after the switch", newOnly, gatewayKey, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		for _, route := range gatewayRoutes {
			t.Run(tc.name+"/"+route.name, func(t *testing.T) {
				r := tc.e.do(t, route.req("Authorization", "Bearer "+tc.key))
				if r.Status != tc.want {
					t.Errorf("got status %d, want %d; body %s", r.Status, tc.want, r.Body)
				}
			})
		}
	}
}

// limited returns an env whose failure limit is 3 a minute on its clock.
func limited(t *testing.T) *env {
	t.Helper()
	var e *env
	e = newEnv(t, setup{admin: true, configure: func(c *api.Config) {
		c.AuthLimit = api.AuthLimit{Failures: 3, Window: time.Minute}
		c.Now = func() time.Time { return e.clock.Now() }
	}})
	return e
}

// from sets the TCP peer of req.
func from(req *http.Request, addr string) *http.Request {
	req.RemoteAddr = addr
	return req
}

// mintFrom posts a mint request with key from addr.
func (e *env) mintFrom(t *testing.T, addr, key string) reply {
	t.Helper()
	return e.do(t, from(gatewayRoutes[0].req("Authorization", "Bearer "+key), addr))
}

func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	e := limited(t)
	const attacker, other = "198.51.100.7:40000", "198.51.100.8:40000"

	for i := range 3 {
		if r := e.mintFrom(t, attacker, wrongKey); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: got status %d, want 401", i+1, r.Status)
		}
	}
	e.clock.Advance(10 * time.Second)

	// Turned away now, even with the right key, on either API.
	r := e.mintFrom(t, "198.51.100.7:40001", gatewayKey)
	checkProblem(t, r, http.StatusTooManyRequests)
	if got := r.Header.Get("Retry-After"); got != "50" {
		t.Errorf("got Retry-After %q, want 50", got)
	}
	checkProblem(t, e.do(t, from(newRequest(http.MethodGet, "/v1/keys", "", "Authorization", adminAuth), attacker)),
		http.StatusTooManyRequests)
	checkProblem(t, e.do(t, from(gatewayRoutes[1].req("Authorization", gatewayAuth), attacker)),
		http.StatusTooManyRequests)

	// Another source, and the public endpoints, are not affected.
	if r := e.mintFrom(t, other, gatewayKey); r.Status != http.StatusOK {
		t.Errorf("another source: got status %d, want 200", r.Status)
	}
	if r := e.do(t, from(newRequest(http.MethodGet, "/.well-known/jwks.json", ""), attacker)); r.Status != http.StatusOK {
		t.Errorf("JWKS from the turned-away source: got status %d, want 200", r.Status)
	}

	// Refusals do not extend the window: it ends a minute after the first
	// failure.
	e.clock.Advance(49 * time.Second)
	if r := e.mintFrom(t, attacker, gatewayKey); r.Header.Get("Retry-After") != "1" {
		t.Errorf("a second before the end: got status %d, Retry-After %q; want 429, 1",
			r.Status, r.Header.Get("Retry-After"))
	}
	e.clock.Advance(time.Second)
	if r := e.mintFrom(t, attacker, gatewayKey); r.Status != http.StatusOK {
		t.Errorf("after the window: got status %d, want 200; body %s", r.Status, r.Body)
	}

	want := map[string]float64{"gateway": 3, "admin": 0}
	got := map[string]float64{}
	text := string(e.do(t, newRequest(http.MethodGet, "/metrics", "")).Body)
	for api := range want {
		got[api], _ = metricValue(t, text, "jwtup_auth_failures_total", map[string]string{"api": api})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jwtup_auth_failures_total (-want +got):\n%s", diff)
	}
}

func TestAuthFailureLimitCounts(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name     string
		failures []string // sources of the failures, in turn
		noKey    bool     // the failures send no key at all
		then     string   // the source that then sends the right key
		want     int
	}{
		{"fewer than the limit", []string{"192.0.2.1:1", "192.0.2.1:2"}, false, "192.0.2.1:3", http.StatusOK},
		{"spread over sources", []string{"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1"}, false,
			"192.0.2.1:3", http.StatusOK},
		{"missing keys count", []string{"192.0.2.1:1", "192.0.2.1:1", "192.0.2.1:1"}, true,
			"192.0.2.1:2", http.StatusTooManyRequests},
		{"one IPv6 /64", []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2::2]:1", "[2001:db8:1:2:ffff::3]:1"}, false,
			"[2001:db8:1:2::4]:1", http.StatusTooManyRequests},
		{"another IPv6 /64", []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2::2]:1", "[2001:db8:1:2::3]:1"}, false,
			"[2001:db8:1:3::1]:1", http.StatusOK},
		{"IPv4-mapped IPv6 is IPv4", []string{"[::ffff:192.0.2.9]:1", "192.0.2.9:2", "192.0.2.9:3"}, false,
			"[::ffff:192.0.2.9]:4", http.StatusTooManyRequests},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := limited(t)
			for _, src := range tc.failures {
				req := from(gatewayRoutes[0].req(), src)
				if !tc.noKey {
					req.Header.Set("Authorization", "Bearer "+wrongKey)
				}
				if r := e.do(t, req); r.Status != http.StatusUnauthorized {
					t.Fatalf("failure from %s: got status %d, want 401", src, r.Status)
				}
			}
			if r := e.mintFrom(t, tc.then, gatewayKey); r.Status != tc.want {
				t.Errorf("right key from %s: got status %d, want %d", tc.then, r.Status, tc.want)
			}
		})
	}
}

// TestAuthSuccessNeverLimited: many good requests from one source are
// never counted, and do not reset the count of failures either.
func TestAuthSuccessNeverLimited(t *testing.T) {
	t.Parallel()
	e := limited(t)
	const src = "192.0.2.10:5000"
	for i := range 50 {
		if r := e.mintFrom(t, src, gatewayKey); r.Status != http.StatusOK {
			t.Fatalf("good request %d: got status %d, want 200", i+1, r.Status)
		}
	}
	for range 2 {
		e.mintFrom(t, src, wrongKey)
	}
	if r := e.mintFrom(t, src, gatewayKey); r.Status != http.StatusOK {
		t.Errorf("after 50 good and 2 bad: got status %d, want 200", r.Status)
	}
}

func TestAuthLimitOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	for range 20 {
		e.mintFrom(t, "192.0.2.20:1", wrongKey)
	}
	if r := e.mintFrom(t, "192.0.2.20:1", gatewayKey); r.Status != http.StatusOK {
		t.Errorf("with no limit set: got status %d, want 200", r.Status)
	}
}

// verified returns TLS state as the server leaves it after verifying a
// client certificate with cn and dns names.
func verified(cn string, dns ...string) *tls.ConnectionState {
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	return &tls.ConnectionState{
		HandshakeComplete: true,
		PeerCertificates:  []*x509.Certificate{leaf},
		VerifiedChains:    [][]*x509.Certificate{{leaf}},
	}
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true, configure: func(c *api.Config) {
		c.ClientSubjects = []string{"kong-1.gw.internal", "nginx-gateway"}
	}})
	unverified := verified("kong-1.gw.internal")
	unverified.VerifiedChains = nil

	cases := []struct {
		name string
		tls  *tls.ConnectionState
		auth string
		want int
	}{
		{"allowed common name", verified("nginx-gateway"), "", http.StatusOK},
		{"allowed DNS name", verified("kong", "other.example", "kong-1.gw.internal"), "", http.StatusOK},
		{"allowed, wrong key too", verified("nginx-gateway"), "Bearer " + wrongKey, http.StatusOK},
		{"name not listed", verified("intruder"), "", http.StatusUnauthorized},
		{"name differs in case", verified("NGINX-GATEWAY"), "", http.StatusUnauthorized},
		{"not verified", unverified, "", http.StatusUnauthorized},
		{"not listed, gateway key", verified("intruder"), gatewayAuth, http.StatusOK},
		{"no certificate, gateway key", nil, gatewayAuth, http.StatusOK},
	}
	for _, tc := range cases {
		for _, route := range gatewayRoutes {
			t.Run(tc.name+"/"+route.name, func(t *testing.T) {
				req := route.req()
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				req.TLS = tc.tls
				r := e.do(t, req)
				if r.Status != tc.want {
					t.Errorf("got status %d, want %d; body %s", r.Status, tc.want, r.Body)
				}
			})
		}
	}

	t.Run("never for the admin API", func(t *testing.T) {
		req := newRequest(http.MethodGet, "/v1/keys", "")
		req.TLS = verified("nginx-gateway")
		checkProblem(t, e.do(t, req), http.StatusUnauthorized)
	})
	t.Run("logged", func(t *testing.T) {
		req := gatewayRoutes[0].req()
		req.TLS = verified("nginx-gateway")
		e.do(t, req)
		if !strings.Contains(e.logs.String(), `"client_cert":"nginx-gateway"`) {
			t.Errorf("no access line names the client certificate:\n%s", e.logs)
		}
	})
}

func TestReadyzDraining(t *testing.T) {
	t.Parallel()
	var draining atomic.Bool
	e := newEnv(t, setup{configure: func(c *api.Config) { c.Draining = draining.Load }})

	if r := e.do(t, newRequest(http.MethodGet, "/readyz", "")); r.Status != http.StatusOK {
		t.Fatalf("before shutdown: got status %d, want 200", r.Status)
	}
	draining.Store(true)
	r := e.do(t, newRequest(http.MethodGet, "/readyz", ""))
	checkProblem(t, r, http.StatusServiceUnavailable)
	var got readiness
	decodeJSON(t, r.Body, &got)
	want := map[string]string{"server": "draining", "signing_key": "ok", "key_store": "ok", "cache": "ok"}
	if diff := cmp.Diff(want, got.componentStates()); diff != "" {
		t.Errorf("components mismatch (-want +got):\n%s", diff)
	}
	if r := e.mintFrom(t, "192.0.2.1:1", gatewayKey); r.Status != http.StatusOK {
		t.Errorf("minting while draining: got status %d, want 200", r.Status)
	}
}
