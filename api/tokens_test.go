package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jwt-up/jwt-up/api"
)

func TestPostToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	r := e.postToken(t, consumerBody("alice"))
	if r.Status != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
	}
	if got := mediaType(r.Header.Get("Content-Type")); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("got Cache-Control %q, want no-store", got)
	}

	var got api.TokenResponse
	decodeJSON(t, r.Body, &got)
	exp := e.clock.Now().Add(tokenTTL).UTC()
	want := api.TokenResponse{
		TokenType: "Bearer",
		ExpiresIn: int64(tokenTTL / time.Second),
		ExpiresAt: exp.Format(time.RFC3339),
		KID:       e.keys.ActiveKID(),
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(api.TokenResponse{}, "Token")); diff != "" {
		t.Errorf("answer mismatch (-want +got):\n%s", diff)
	}

	at, err := time.Parse(time.RFC3339, got.ExpiresAt)
	if err != nil {
		t.Fatalf("expires_at %q: %v", got.ExpiresAt, err)
	}
	if _, off := at.Zone(); off != 0 || !strings.HasSuffix(got.ExpiresAt, "Z") {
		t.Errorf("got expires_at %q, want UTC with a Z", got.ExpiresAt)
	}

	header, claims := tokenParts(t, got.Token)
	if header["kid"] != got.KID {
		t.Errorf("got token header kid %v, want %q", header["kid"], got.KID)
	}
	if claims["exp"] != float64(exp.Unix()) {
		t.Errorf("got exp claim %v, want %d (expires_at)", claims["exp"], exp.Unix())
	}
}

func TestPostTokenClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	tr := e.mint(t, `{
		"consumer":   {"id": "4e1c", "username": "alice", "custom_id": "c-42"},
		"groups":     ["gold", "eu"],
		"scopes":     ["orders:read", "orders:write"],
		"credential": {"id": "9b7", "identifier": "alice-key-1"},
		"authenticated_userid": "alice@example.com",
		"audience":   "orders-api",
		"claims":     {"tenant": "acme", "tier": {"level": 2}}
	}`)
	_, got := tokenParts(t, tr.Token)
	want := map[string]any{
		"iss":                  testIssuer,
		"sub":                  "4e1c",
		"aud":                  "orders-api",
		"consumer":             map[string]any{"id": "4e1c", "username": "alice", "custom_id": "c-42"},
		"groups":               []any{"gold", "eu"},
		"scope":                "orders:read orders:write",
		"credential":           map[string]any{"id": "9b7", "identifier": "alice-key-1"},
		"authenticated_userid": "alice@example.com",
		"tenant":               "acme",
		"tier":                 map[string]any{"level": float64(2)},
	}
	ignore := cmpopts.IgnoreMapEntries(func(k string, _ any) bool {
		return k == "iat" || k == "nbf" || k == "exp" || k == "jti"
	})
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("claims mismatch (-want +got):\n%s", diff)
	}

	now := e.clock.Now().Unix()
	times := map[string]float64{"iat": float64(now), "nbf": float64(now), "exp": float64(now + 300)}
	for name, want := range times {
		if got[name] != want {
			t.Errorf("claim %s: got %v, want %v", name, got[name], want)
		}
	}
	if jti, _ := got["jti"].(string); len(jti) < 22 {
		t.Errorf("got jti %q, want at least 128 bits", jti)
	}
}

func TestPostTokenDefaultAudience(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	_, claims := tokenParts(t, e.mint(t, consumerBody("alice")).Token)
	if claims["aud"] != defaultAudience {
		t.Errorf("got aud %v, want %q", claims["aud"], defaultAudience)
	}
}

func TestPostTokenCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	const body = `{"consumer":{"id":"alice"},"claims":{"tenant":{"a":1,"b":2}}}`
	first := e.mint(t, body)
	cases := []struct {
		name string
		body string
		same bool
	}{
		{"equal body", body, true},
		{"trailing newline", body + "\n", true},
		{"other order and spacing", `{ "claims": {"tenant": {"a": 1, "b": 2}}, "consumer": {"id": "alice"} }`, true},
		{"explicit default audience",
			`{"consumer":{"id":"alice"},"audience":"` + defaultAudience + `","claims":{"tenant":{"a":1,"b":2}}}`, true},
		{"other audience", `{"consumer":{"id":"alice"},"audience":"x","claims":{"tenant":{"a":1,"b":2}}}`, false},
		{"other claim", `{"consumer":{"id":"alice"},"claims":{"tenant":{"a":1,"b":3}}}`, false},
		{"other consumer", `{"consumer":{"id":"bob"},"claims":{"tenant":{"a":1,"b":2}}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := e.mint(t, tc.body)
			if same := got.Token == first.Token; same != tc.same {
				t.Errorf("got same token %v, want %v", same, tc.same)
			}
		})
	}
}

// TestPostTokenRefreshMargin moves the clock: the cached token is handed out
// while it has more than the refresh margin (30s) left, with expires_in
// counting down, and a new one after.
func TestPostTokenRefreshMargin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	first := e.mint(t, consumerBody("alice"))

	e.clock.Advance(tokenTTL - 31*time.Second)
	cached := e.mint(t, consumerBody("alice"))
	if cached.Token != first.Token {
		t.Errorf("31s before exp: got a new token, want the cached one")
	}
	if cached.ExpiresIn != 31 || cached.ExpiresAt != first.ExpiresAt {
		t.Errorf("31s before exp: got expires_in %d expires_at %s, want 31 and %s",
			cached.ExpiresIn, cached.ExpiresAt, first.ExpiresAt)
	}

	e.clock.Advance(time.Second)
	fresh := e.mint(t, consumerBody("alice"))
	if fresh.Token == first.Token {
		t.Errorf("30s before exp: got the cached token, want a new one")
	}
	if fresh.ExpiresIn != int64(tokenTTL/time.Second) {
		t.Errorf("new token: got expires_in %d, want %d", fresh.ExpiresIn, int64(tokenTTL/time.Second))
	}
}

func TestPostTokenUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	cases := []struct {
		name string
		auth string
	}{
		{"missing", ""},
		{"wrong key", "Bearer " + wrongKey},
		{"admin key", adminAuth},
		{"other scheme", "Basic " + gatewayKey},
		{"bare key", gatewayKey},
		{"empty bearer", "Bearer "},
		{"key with suffix", gatewayAuth + "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(http.MethodPost, "/v1/tokens", consumerBody("alice"),
				"Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			r := e.do(t, req)
			checkProblem(t, r, http.StatusUnauthorized)
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("got WWW-Authenticate %q, want it to start with Bearer", got)
			}
		})
	}
}

func TestPostTokenBadRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	cases := []struct {
		name   string
		body   string
		detail string // a part the detail must hold
	}{
		{"malformed JSON", `{"consumer":{"id":"alice"}`, "JSON"},
		{"not JSON", `consumer=alice`, "JSON"},
		{"empty body", ``, "empty"},
		{"array body", `[{"consumer":{"id":"alice"}}]`, "object"},
		{"unknown top-level field", `{"consumer":{"id":"alice"},"role":"admin"}`, "role"},
		{"unknown nested field", `{"consumer":{"id":"alice","email":"a@x"}}`, "email"},
		{"unknown credential field", `{"consumer":{"id":"alice"},"credential":{"secret":"s"}}`, "secret"},
		{"consumer id a number", `{"consumer":{"id":42}}`, "consumer.id"},
		{"consumer a string", `{"consumer":"alice"}`, "consumer"},
		{"groups a string", `{"consumer":{"id":"alice"},"groups":"gold"}`, "groups"},
		{"scopes a string", `{"consumer":{"id":"alice"},"scopes":"orders:read"}`, "scopes"},
		{"claims an array", `{"consumer":{"id":"alice"},"claims":["tenant"]}`, "claims"},
		{"empty consumer", `{"consumer":{}}`, "consumer"},
		{"consumer of empty strings", `{"consumer":{"id":"","username":"","custom_id":""}}`, "consumer"},
		{"no consumer", `{"groups":["gold"]}`, "consumer"},
		{"null body", `null`, "consumer"},
		{"trailing object", `{"consumer":{"id":"alice"}} {"consumer":{"id":"bob"}}`, "after"},
		{"trailing garbage", `{"consumer":{"id":"alice"}} x`, "after"},
		{"trailing brace", `{"consumer":{"id":"alice"}}}`, "after"},
		{"empty group", `{"consumer":{"id":"alice"},"groups":["gold",""]}`, "groups[1]"},
		{"scope with space", `{"consumer":{"id":"alice"},"scopes":["a b"]}`, "scope"},
		{"control character", `{"consumer":{"id":"ali\u0001ce"}}`, "consumer.id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := checkProblem(t, e.postToken(t, tc.body), http.StatusBadRequest)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("got detail %q, want it to mention %q", p.Detail, tc.detail)
			}
		})
	}
}

func TestPostTokenContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	cases := []struct {
		name        string
		contentType string
		want        int
	}{
		{"json", "application/json", http.StatusOK},
		{"json with charset", "application/json; charset=utf-8", http.StatusOK},
		{"json upper case", "Application/JSON", http.StatusOK},
		{"text", "text/plain", http.StatusUnsupportedMediaType},
		{"form", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"json suffix", "application/merge-patch+json", http.StatusUnsupportedMediaType},
		{"missing", "", http.StatusUnsupportedMediaType},
		{"malformed", "application/json;;", http.StatusUnsupportedMediaType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(http.MethodPost, "/v1/tokens", consumerBody("alice"),
				"Authorization", gatewayAuth)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			r := e.do(t, req)
			if tc.want == http.StatusOK {
				if r.Status != http.StatusOK {
					t.Errorf("got status %d, want 200; body %s", r.Status, r.Body)
				}
				return
			}
			checkProblem(t, r, tc.want)
		})
	}
}

// bodyOfSize returns a valid mint request of exactly n bytes. The padding
// is spread over claims of at most 4000 bytes each, below the limit on one
// claim's value.
func bodyOfSize(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"consumer":{"id":"alice"},"claims":{`, `}}`
	var b strings.Builder
	b.WriteString(head)
	for i := 0; ; i++ {
		name := fmt.Sprintf(`"p%02d":"`, i)
		if i > 0 {
			name = "," + name
		}
		left := n - b.Len() - len(tail) - len(name) - len(`"`)
		if left < 0 {
			t.Fatalf("no body of %d bytes", n)
		}
		pad := left
		if left > 4000 {
			pad = min(4000, left-16) // leave room for the next claim
		}
		b.WriteString(name + strings.Repeat("x", pad) + `"`)
		if pad == left {
			break
		}
	}
	b.WriteString(tail)
	return b.String()
}

// postSized posts a valid mint request of size bytes to a real server,
// with a Content-Length or, if chunked, without one.
func postSized(t *testing.T, srv *httptest.Server, size int, chunked bool) reply {
	t.Helper()
	var body io.Reader = strings.NewReader(bodyOfSize(t, size))
	if chunked {
		body = io.MultiReader(body) // hides the length: the client sends it chunked
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/tokens", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", gatewayAuth)
	req.Header.Set("Content-Type", "application/json")
	if chunked && req.ContentLength != 0 {
		t.Fatalf("got ContentLength %d, want unknown (0)", req.ContentLength)
	}
	return send(t, req)
}

// TestPostTokenBodySize sends bodies around the 64 KiB limit to a real
// server.
func TestPostTokenBodySize(t *testing.T) {
	t.Parallel()
	_, srv := newServerEnv(t, setup{})

	cases := []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"64 KiB with length", 64 << 10, false, http.StatusOK},
		{"64 KiB chunked", 64 << 10, true, http.StatusOK},
		{"one byte over with length", 64<<10 + 1, false, http.StatusRequestEntityTooLarge},
		{"1 MiB with length", 1 << 20, false, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := postSized(t, srv, tc.size, tc.chunked)
			if tc.want == http.StatusOK {
				if r.Status != http.StatusOK {
					t.Errorf("got status %d, want 200; body %.200s", r.Status, r.Body)
				}
				return
			}
			checkProblem(t, r, tc.want)
		})
	}
}

// TestPostTokenChunkedBodyOverLimitIs413 shows a bug: a body over 64 KiB
// sent without a Content-Length trips http.MaxBytesReader inside the JSON
// decoder, and decodeJSON answers that error with probInvalid (400) rather
// than probTooLarge (413).
func TestPostTokenChunkedBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	_, srv := newServerEnv(t, setup{})

	for _, size := range []int{64<<10 + 1, 1 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			checkProblem(t, postSized(t, srv, size, true), http.StatusRequestEntityTooLarge)
		})
	}
}

func TestPostTokenReservedClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	for _, name := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
		"consumer", "groups", "scope", "credential", "authenticated_userid"} {
		t.Run(name, func(t *testing.T) {
			body := `{"consumer":{"id":"alice"},"claims":{"tenant":"acme","` + name + `":"x"}}`
			p := checkProblem(t, e.postToken(t, body), http.StatusUnprocessableEntity)
			if !strings.Contains(p.Detail, name) {
				t.Errorf("got detail %q, want it to name %q", p.Detail, name)
			}
		})
	}
}

func TestPostTokenNoSigningKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{noStart: true})

	checkProblem(t, e.postToken(t, consumerBody("alice")), http.StatusServiceUnavailable)
}
