package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{noStart: true})

	r := e.do(t, newRequest(http.MethodGet, "/healthz", ""))
	if r.Status != http.StatusOK {
		t.Errorf("got status %d, want 200", r.Status)
	}
	var got map[string]any
	decodeJSON(t, r.Body, &got)
	if got["status"] != "ok" {
		t.Errorf("got %s, want status ok", r.Body)
	}
}

// readiness is the part of /readyz's body that is there, ready or not.
type readiness struct {
	Components map[string]struct {
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"components"`
}

// componentStates returns each component's status.
func (r readiness) componentStates() map[string]string {
	out := map[string]string{}
	for name, c := range r.Components {
		out[name] = c.Status
	}
	return out
}

func TestReadyz(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name  string
		setup setup
		want  map[string]string
	}{{
		name:  "ready",
		setup: setup{},
		want:  map[string]string{"signing_key": "ok", "key_store": "ok", "cache": "ok"},
	}, {
		name:  "degraded cache is still ready",
		setup: setup{cacheState: func(context.Context) string { return "degraded" }},
		want:  map[string]string{"signing_key": "ok", "key_store": "ok", "cache": "degraded"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.setup)

			r := e.do(t, newRequest(http.MethodGet, "/readyz", ""))
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
			}
			if got := mediaType(r.Header.Get("Content-Type")); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
			var got struct {
				readiness
				Ready string `json:"status"`
			}
			decodeJSON(t, r.Body, &got)
			if got.Ready != "ready" {
				t.Errorf("got status %q, want ready", got.Ready)
			}
			if diff := cmp.Diff(tc.want, got.componentStates()); diff != "" {
				t.Errorf("components mismatch (-want +got):\n%s", diff)
			}
			if d := got.Components["signing_key"].Detail; !strings.Contains(d, e.keys.ActiveKID()) {
				t.Errorf("got signing_key detail %q, want the active kid in it", d)
			}
		})
	}
}

func TestReadyzNeverLoaded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{noStart: true})

	r := e.do(t, newRequest(http.MethodGet, "/readyz", ""))
	checkProblem(t, r, http.StatusServiceUnavailable)
	var got readiness
	decodeJSON(t, r.Body, &got)
	want := map[string]string{"signing_key": "down", "key_store": "down", "cache": "ok"}
	if diff := cmp.Diff(want, got.componentStates()); diff != "" {
		t.Errorf("components mismatch (-want +got):\n%s", diff)
	}
}

// TestReadyzStaleKeyStore lets the key store go unread for more than three
// refresh periods of the test clock.
func TestReadyzStaleKeyStore(t *testing.T) {
	t.Parallel()
	const refresh = 10 * time.Second
	e := newEnv(t, setup{keyRefresh: refresh})

	e.clock.Advance(3 * refresh)
	if r := e.do(t, newRequest(http.MethodGet, "/readyz", "")); r.Status != http.StatusOK {
		t.Fatalf("three refreshes after the last read: got status %d, want 200", r.Status)
	}
	e.clock.Advance(time.Second)
	r := e.do(t, newRequest(http.MethodGet, "/readyz", ""))
	checkProblem(t, r, http.StatusServiceUnavailable)
	var got readiness
	decodeJSON(t, r.Body, &got)
	want := map[string]string{"signing_key": "ok", "key_store": "down", "cache": "ok"}
	if diff := cmp.Diff(want, got.componentStates()); diff != "" {
		t.Errorf("components mismatch (-want +got):\n%s", diff)
	}
	if d := got.Components["key_store"].Detail; !strings.Contains(d, "has not answered since") {
		t.Errorf("got key_store detail %q, want when it last answered", d)
	}

	// A refresh that reaches the store makes it ready again.
	if err := e.keys.Tick(context.Background()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if r := e.do(t, newRequest(http.MethodGet, "/readyz", "")); r.Status != http.StatusOK {
		t.Errorf("after a refresh: got status %d, want 200; body %s", r.Status, r.Body)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.mint(t, consumerBody("alice"))
	e.mint(t, consumerBody("alice")) // a cache hit

	r := e.do(t, newRequest(http.MethodGet, "/metrics", ""))
	if r.Status != http.StatusOK {
		t.Fatalf("got status %d, want 200", r.Status)
	}
	if got := mediaType(r.Header.Get("Content-Type")); got != "text/plain" {
		t.Errorf("got Content-Type %q, want text/plain", got)
	}
	text := string(r.Body)

	cases := []struct {
		name   string
		metric string
		labels map[string]string
		least  float64
	}{
		{"requests by route", "jwtup_http_requests_total",
			map[string]string{"route": "/v1/tokens", "method": "POST", "status": "200"}, 2},
		{"request duration", "jwtup_http_request_duration_seconds_count",
			map[string]string{"route": "/v1/tokens"}, 2},
		{"minted", "jwtup_tokens_minted_total", map[string]string{"alg": "ES256"}, 1},
		{"cache hit", "jwtup_token_cache_requests_total", map[string]string{"result": "hit"}, 1},
		{"cache miss", "jwtup_token_cache_requests_total", map[string]string{"result": "miss"}, 1},
		{"signing time", "jwtup_signing_seconds_count", map[string]string{"alg": "ES256"}, 1},
		{"key age", "jwtup_active_key_age_seconds", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := metricValue(t, text, tc.metric, tc.labels)
			if !ok {
				t.Fatalf("no %s%v in\n%s", tc.metric, tc.labels, text)
			}
			if got < tc.least {
				t.Errorf("got %s%v = %v, want at least %v", tc.metric, tc.labels, got, tc.least)
			}
		})
	}
	if got, _ := metricValue(t, text, "jwtup_tokens_minted_total", nil); got != 1 {
		t.Errorf("got jwtup_tokens_minted_total %v, want 1: the second mint is a cache hit", got)
	}
}

// TestMetricsCountMadeUpMethodsAsOther checks that a client cannot add a
// series per method it makes up: net/http takes any token as a method.
func TestMetricsCountMadeUpMethodsAsOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	for i := range 3 {
		e.do(t, newRequest(fmt.Sprintf("BREW%d", i), "/no-such-path", ""))
	}
	e.do(t, newRequest(http.MethodDelete, "/no-such-path", ""))

	text := string(e.do(t, newRequest(http.MethodGet, "/metrics", "")).Body)
	if strings.Contains(text, "BREW") {
		t.Errorf("a made-up method became a label:\n%s", text)
	}
	for method, want := range map[string]float64{"other": 3, "DELETE": 1} {
		got, _ := metricValue(t, text, "jwtup_http_requests_total",
			map[string]string{"route": "unmatched", "method": method, "status": "404"})
		if got != want {
			t.Errorf("got %v unmatched %s requests, want %v", got, method, want)
		}
	}
}

func TestSwagger(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	t.Run("doc.json", func(t *testing.T) {
		r := e.do(t, newRequest(http.MethodGet, "/swagger/doc.json", ""))
		if r.Status != http.StatusOK {
			t.Fatalf("got status %d, want 200", r.Status)
		}
		var doc struct {
			Paths map[string]any `json:"paths"`
		}
		decodeJSON(t, r.Body, &doc)
		for _, path := range []string{"/v1/tokens", "/v1/auth", "/.well-known/jwks.json"} {
			if _, ok := doc.Paths[path]; !ok {
				t.Errorf("path %q missing from the OpenAPI document", path)
			}
		}
	})
	t.Run("index.html", func(t *testing.T) {
		r := e.do(t, newRequest(http.MethodGet, "/swagger/index.html", ""))
		if r.Status != http.StatusOK {
			t.Fatalf("got status %d, want 200", r.Status)
		}
		if got := mediaType(r.Header.Get("Content-Type")); got != "text/html" {
			t.Errorf("got Content-Type %q, want text/html", got)
		}
		if !strings.Contains(strings.ToLower(string(r.Body)), "<html") {
			t.Errorf("got body %.200q, want an HTML page", r.Body)
		}
	})
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	cases := []struct {
		name   string
		method string
		target string
		want   int
		allow  string // a method the Allow header must list
	}{
		{"unknown path", http.MethodGet, "/nope", http.StatusNotFound, ""},
		{"unknown under v1", http.MethodPost, "/v1/nope", http.StatusNotFound, ""},
		{"unknown under well-known", http.MethodGet, "/.well-known/nope", http.StatusNotFound, ""},
		{"GET tokens", http.MethodGet, "/v1/tokens", http.StatusMethodNotAllowed, http.MethodPost},
		{"PUT tokens", http.MethodPut, "/v1/tokens", http.StatusMethodNotAllowed, http.MethodPost},
		{"POST jwks", http.MethodPost, "/.well-known/jwks.json", http.StatusMethodNotAllowed, http.MethodGet},
		{"DELETE healthz", http.MethodDelete, "/healthz", http.StatusMethodNotAllowed, http.MethodGet},
		{"POST keys", http.MethodPost, "/v1/keys", http.StatusMethodNotAllowed, http.MethodGet},
		{"GET rotate", http.MethodGet, "/v1/keys/rotate", http.StatusMethodNotAllowed, http.MethodPost},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, newRequest(tc.method, tc.target, "", "Authorization", gatewayAuth))
			checkProblem(t, r, tc.want)
			if tc.allow != "" && !strings.Contains(r.Header.Get("Allow"), tc.allow) {
				t.Errorf("got Allow %q, want it to list %s", r.Header.Get("Allow"), tc.allow)
			}
		})
	}
}
