package nginx

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The consumers nginx knows, by auth_basic user name and password.
var users = map[string]string{
	"alice": "alice-password-4e1c",
	"bob":   "bob-password-9b7f",
	"carol": "carol-password-c042",
}

// TestAuthRequest runs auth_request.conf: nginx asks jwt-up's /v1/auth for
// a token and sends it upstream.
func TestAuthRequest(t *testing.T) {
	ng := requireNginx(t, false)
	j := startJWTUp(t)
	up := newRecorder(t)
	gw := startNginx(t, ng, "auth_request.conf", newConfData(t, ng, j, up, users))
	v := newVerifier(t, j)

	cases := []struct {
		name         string
		path         string
		user         string
		password     string
		header       http.Header
		body         string // sent with POST when set
		wantStatus   int
		wantSub      string // "": the upstream must not be reached
		wantAuth     string // prefix of WWW-Authenticate on a refusal
		wantJWTCalls float64
	}{{
		name: "consumer reaches upstream with a token",
		path: "/orders/1", user: "alice", password: users["alice"],
		wantStatus: http.StatusOK, wantSub: "alice", wantJWTCalls: 1,
	}, {
		name: "client's own consumer headers never reach jwt-up",
		path: "/orders/2", user: "alice", password: users["alice"],
		header: http.Header{
			"X-Consumer-Id":        {"mallory"},
			"X-Consumer-Username":  {"mallory"},
			"X-Consumer-Custom-Id": {"c-666"},
			"X-Consumer-Groups":    {"admins"},
			"X-Jwt-Audience":       {"admin-api"},
		},
		wantStatus: http.StatusOK, wantSub: "alice", wantJWTCalls: 1,
	}, {
		name: "POST: the body still reaches the upstream",
		path: "/orders/post", user: "bob", password: users["bob"],
		body:       `{"item": "book", "quantity": 2}`,
		wantStatus: http.StatusOK, wantSub: "bob", wantJWTCalls: 1,
	}, {
		name:       "no credentials: nginx refuses, jwt-up is not asked",
		path:       "/orders/3",
		wantStatus: http.StatusUnauthorized, wantAuth: "Basic",
	}, {
		name: "wrong password: nginx refuses, jwt-up is not asked",
		path: "/orders/4", user: "alice", password: "not-her-password",
		wantStatus: http.StatusUnauthorized, wantAuth: "Basic",
	}, {
		name:       "no identity: jwt-up refuses and nginx passes its 401 on",
		path:       "/open/5",
		wantStatus: http.StatusUnauthorized, wantAuth: `Bearer realm="consumer"`, wantJWTCalls: 1,
	}, {
		name: "jwt-up unreachable: nginx fails closed",
		path: "/down/6", user: "bob", password: users["bob"],
		wantStatus: http.StatusInternalServerError,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := j.counter(t, "jwtup_http_requests_total", "route", "/v1/auth")
			method := http.MethodGet
			if tc.body != "" {
				method = http.MethodPost
			}
			status, h := send(t, method, gw+tc.path, tc.user, tc.password, tc.header, tc.body)
			calls := j.counter(t, "jwtup_http_requests_total", "route", "/v1/auth") - before

			if status != tc.wantStatus {
				t.Fatalf("got status %d, want %d", status, tc.wantStatus)
			}
			if calls != tc.wantJWTCalls {
				t.Errorf("jwt-up got %v requests on /v1/auth, want %v", calls, tc.wantJWTCalls)
			}
			if tc.wantAuth != "" && !strings.HasPrefix(h.Get("WWW-Authenticate"), tc.wantAuth) {
				t.Errorf("got WWW-Authenticate %q, want it to start with %q",
					h.Get("WWW-Authenticate"), tc.wantAuth)
			}

			got, reached := up.headers(tc.path)
			if tc.wantSub == "" {
				if reached {
					t.Fatalf("the upstream got %s, want it never reached", tc.path)
				}
				return
			}
			if !reached {
				t.Fatalf("the upstream never got %s", tc.path)
			}
			checkToken(t, v, got, "orders-api", tc.wantSub, map[string]any{"username": tc.wantSub})
			if body := up.body(tc.path); body != tc.body {
				t.Errorf("the upstream got body %q, want %q", body, tc.body)
			}
		})
	}

	t.Run("gateway key and passwords never reach the upstream", func(t *testing.T) {
		checkNoLeaks(t, up, j)
	})
}

// TestLua runs lua.conf: nginx's Lua calls jwt-up's POST /v1/tokens
// through jwtup.lua and caches the token in a shared dict.
func TestLua(t *testing.T) {
	ng := requireNginx(t, true)
	j := startJWTUp(t)
	up := newRecorder(t)
	gw := startNginx(t, ng, "lua.conf", newConfData(t, ng, j, up, users))
	v := newVerifier(t, j)

	tokenCalls := func() float64 {
		return j.counter(t, "jwtup_http_requests_total", "route", "/v1/tokens")
	}
	upstreamToken := func(t *testing.T, path, user string) string {
		t.Helper()
		status, _ := request(t, gw+path, user, users[user], nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s as %s: got status %d, want 200", path, user, status)
		}
		h, ok := up.headers(path)
		if !ok {
			t.Fatalf("the upstream never got %s", path)
		}
		return checkToken(t, v, h, "orders-api", user, map[string]any{"username": user})
	}

	var alice string
	t.Run("first request mints a token", func(t *testing.T) {
		alice = upstreamToken(t, "/orders/1", "alice")
		if got := tokenCalls(); got != 1 {
			t.Errorf("jwt-up got %v requests on /v1/tokens, want 1", got)
		}
	})

	t.Run("second request reuses the cached token", func(t *testing.T) {
		if got := upstreamToken(t, "/orders/2", "alice"); got != alice {
			t.Error("got a different token, want the cached one")
		}
		if got := tokenCalls(); got != 1 {
			t.Errorf("jwt-up got %v requests on /v1/tokens, want still 1", got)
		}
		if got := j.counter(t, "jwtup_tokens_minted_total"); got != 1 {
			t.Errorf("jwt-up minted %v tokens, want 1", got)
		}
	})

	t.Run("POST: the body still reaches the upstream", func(t *testing.T) {
		const body = `{"item": "book", "quantity": 2}`
		status, _ := send(t, http.MethodPost, gw+"/orders/post", "alice", users["alice"], nil, body)
		if status != http.StatusOK {
			t.Fatalf("got status %d, want 200", status)
		}
		h, _ := up.headers("/orders/post")
		if got, _ := bearer(h); got != alice {
			t.Error("got a different token, want the cached one")
		}
		if got := up.body("/orders/post"); got != body {
			t.Errorf("the upstream got body %q, want %q", got, body)
		}
	})

	t.Run("another consumer gets its own token", func(t *testing.T) {
		if got := upstreamToken(t, "/orders/3", "bob"); got == alice {
			t.Error("bob got alice's token")
		}
		if got := tokenCalls(); got != 2 {
			t.Errorf("jwt-up got %v requests on /v1/tokens, want 2", got)
		}
	})

	t.Run("wrong password never reaches jwt-up", func(t *testing.T) {
		status, _ := request(t, gw+"/orders/4", "carol", "not-her-password", nil)
		if status != http.StatusUnauthorized {
			t.Errorf("got status %d, want 401", status)
		}
		if _, ok := up.headers("/orders/4"); ok {
			t.Error("the upstream got the request")
		}
		if got := tokenCalls(); got != 2 {
			t.Errorf("jwt-up got %v requests on /v1/tokens, want still 2", got)
		}
	})

	t.Run("gateway key and passwords never reach the upstream", func(t *testing.T) {
		checkNoLeaks(t, up, j)
	})

	t.Run("jwt-up down: cached tokens still served, a new consumer gets 503", func(t *testing.T) {
		j.stop()
		if got := upstreamToken(t, "/orders/6", "alice"); got != alice {
			t.Error("got a different token, want the cached one")
		}
		status, _ := request(t, gw+"/orders/7", "carol", users["carol"], nil)
		if status != http.StatusServiceUnavailable {
			t.Errorf("got status %d, want 503", status)
		}
		if _, ok := up.headers("/orders/7"); ok {
			t.Error("the upstream got the request")
		}
	})
}

// TestLuaCacheExpiry checks that the Lua cache lets a token go before it
// expires: with 4-second tokens and a 1-second margin, nginx asks jwt-up
// again within a few seconds, and never sends an expired token upstream.
func TestLuaCacheExpiry(t *testing.T) {
	ng := requireNginx(t, true)
	j := startJWTUp(t, "JWTUP_TOKEN_TTL=4s", "JWTUP_REFRESH_MARGIN=1s")
	up := newRecorder(t)
	data := newConfData(t, ng, j, up, users)
	data.Margin = 1
	gw := startNginx(t, ng, "lua.conf", data)
	v := newVerifier(t, j)

	tokenCalls := func() float64 {
		return j.counter(t, "jwtup_http_requests_total", "route", "/v1/tokens")
	}
	send := func(path string) {
		t.Helper()
		if status, _ := request(t, gw+path, "alice", users["alice"], nil); status != http.StatusOK {
			t.Fatalf("GET %s: got status %d, want 200", path, status)
		}
		h, _ := up.headers(path)
		checkToken(t, v, h, "orders-api", "alice", map[string]any{"username": "alice"})
	}

	send("/orders/first")
	send("/orders/second")
	if got := tokenCalls(); got != 1 {
		t.Fatalf("after two quick requests jwt-up got %v requests on /v1/tokens, want 1", got)
	}

	// Poll until the cached token has gone; every token sent meanwhile
	// must still be valid.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; tokenCalls() < 2; i++ {
		if time.Now().After(deadline) {
			t.Fatal("nginx still had not asked jwt-up again after 15s: the cache outlives the token")
		}
		send(fmt.Sprintf("/orders/poll-%d", i))
		time.Sleep(100 * time.Millisecond)
	}
}

// checkToken checks that h carries "Bearer <token>" and that the token
// verifies with the wanted audience, subject and consumer claim. It
// returns the token.
func checkToken(t *testing.T, v *verifier, h http.Header, aud, sub string,
	consumer map[string]any) string {
	t.Helper()
	token, ok := bearer(h)
	if !ok {
		t.Fatalf("upstream got Authorization %q, want a bearer token", h.Get("Authorization"))
	}
	claims, err := v.verify(token, aud)
	if err != nil {
		t.Fatalf("the upstream's token does not verify: %v", err)
	}
	if claims["sub"] != sub {
		t.Errorf("got sub %v, want %q", claims["sub"], sub)
	}
	if diff := cmp.Diff(consumer, claims["consumer"]); diff != "" {
		t.Errorf("consumer claim (-want +got):\n%s", diff)
	}
	return token
}

// checkNoLeaks fails when any header the upstream got holds the gateway
// key, a password, or basic credentials.
func checkNoLeaks(t *testing.T, up *recorder, j *jwtUp) {
	t.Helper()
	secrets := []string{j.gatewayKey, "Basic "}
	for _, p := range users {
		secrets = append(secrets, p)
	}
	if leaks := up.leaks(secrets...); len(leaks) > 0 {
		t.Errorf("secrets reached the upstream in: %s", strings.Join(leaks, ", "))
	}
}
