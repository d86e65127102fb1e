package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jwt-up/jwt-up/api"
	"github.com/jwt-up/jwt-up/service"
)

// authRequest is a forward-auth request with the gateway key; kv are more
// header names and values in turn.
func authRequest(method, target string, kv ...string) *http.Request {
	return newRequest(method, target, "", append([]string{"Authorization", gatewayAuth}, kv...)...)
}

// bearerToken returns the token of a "Bearer <token>" value, or fails.
func bearerToken(t *testing.T, v string) string {
	t.Helper()
	token, ok := strings.CutPrefix(v, "Bearer ")
	if !ok || token == "" {
		t.Fatalf("got token header %q, want Bearer <token>", v)
	}
	return token
}

func TestForwardAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	cases := []struct {
		name   string
		method string
		target string
	}{
		{"GET", http.MethodGet, "/v1/auth"},
		{"POST", http.MethodPost, "/v1/auth"},
		{"HEAD", http.MethodHead, "/v1/auth"},
		{"PUT", http.MethodPut, "/v1/auth"},
		{"DELETE", http.MethodDelete, "/v1/auth"},
		{"path below", http.MethodGet, "/v1/auth/orders/42"},
		{"trailing slash", http.MethodGet, "/v1/auth/"},
		{"POST below", http.MethodPost, "/v1/auth/envoy/check"},
		{"query", http.MethodGet, "/v1/auth?x=1"},
	}
	tokens := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, authRequest(tc.method, tc.target, "X-Consumer-ID", "alice"))
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
			}
			if len(r.Body) != 0 {
				t.Errorf("got body %q, want none", r.Body)
			}
			token := bearerToken(t, r.Header.Get("Authorization"))
			tokens[token] = true
			if got := r.Header.Get("X-JWT-Expires-In"); got != "300" {
				t.Errorf("got X-JWT-Expires-In %q, want 300", got)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("got Cache-Control %q, want no-store", got)
			}
			if header, _ := tokenParts(t, token); header["kid"] != e.keys.ActiveKID() {
				t.Errorf("got kid %v, want the active kid %q", header["kid"], e.keys.ActiveKID())
			}
		})
	}
	if len(tokens) != 1 {
		t.Errorf("got %d distinct tokens for equal inputs, want 1", len(tokens))
	}
}

// tokenClaims are the claims the consumer headers shape.
type tokenClaims struct {
	Sub                 string
	Aud                 string
	Consumer            map[string]any
	Groups              []any
	Scope               string
	Credential          map[string]any
	AuthenticatedUserID string
}

func claimsOf(m map[string]any) tokenClaims {
	str := func(k string) string { s, _ := m[k].(string); return s }
	obj := func(k string) map[string]any { o, _ := m[k].(map[string]any); return o }
	groups, _ := m["groups"].([]any)
	return tokenClaims{
		Sub: str("sub"), Aud: str("aud"), Consumer: obj("consumer"), Groups: groups,
		Scope: str("scope"), Credential: obj("credential"),
		AuthenticatedUserID: str("authenticated_userid"),
	}
}

func TestForwardAuthClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	alice := map[string]any{"id": "alice"}
	cases := []struct {
		name    string
		headers []string
		want    tokenClaims
	}{{
		name:    "id only",
		headers: []string{"X-Consumer-ID", "alice"},
		want:    tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice},
	}, {
		name: "every consumer field",
		headers: []string{"X-Consumer-ID", "4e1c", "X-Consumer-Username", "alice",
			"X-Consumer-Custom-ID", "c-42"},
		want: tokenClaims{Sub: "4e1c", Aud: defaultAudience,
			Consumer: map[string]any{"id": "4e1c", "username": "alice", "custom_id": "c-42"}},
	}, {
		name:    "username only",
		headers: []string{"X-Consumer-Username", "alice"},
		want: tokenClaims{Sub: "alice", Aud: defaultAudience,
			Consumer: map[string]any{"username": "alice"}},
	}, {
		name:    "custom id only",
		headers: []string{"X-Consumer-Custom-ID", "c-42"},
		want:    tokenClaims{Sub: "c-42", Aud: defaultAudience, Consumer: map[string]any{"custom_id": "c-42"}},
	}, {
		name:    "groups comma split",
		headers: []string{"X-Consumer-ID", "alice", "X-Consumer-Groups", "gold, eu,,platinum "},
		want: tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice,
			Groups: []any{"gold", "eu", "platinum"}},
	}, {
		name:    "scope space split",
		headers: []string{"X-Consumer-ID", "alice", "X-Authenticated-Scope", " orders:read  orders:write "},
		want: tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice,
			Scope: "orders:read orders:write"},
	}, {
		name:    "credential identifier",
		headers: []string{"X-Consumer-ID", "alice", "X-Credential-Identifier", "alice-key-1"},
		want: tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice,
			Credential: map[string]any{"identifier": "alice-key-1"}},
	}, {
		name:    "older credential username",
		headers: []string{"X-Consumer-ID", "alice", "X-Credential-Username", "alice-basic"},
		want: tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice,
			Credential: map[string]any{"identifier": "alice-basic"}},
	}, {
		name: "identifier wins over username",
		headers: []string{"X-Consumer-ID", "alice", "X-Credential-Identifier", "alice-key-1",
			"X-Credential-Username", "alice-basic"},
		want: tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice,
			Credential: map[string]any{"identifier": "alice-key-1"}},
	}, {
		name:    "authenticated userid",
		headers: []string{"X-Consumer-ID", "alice", "X-Authenticated-Userid", "alice@example.com"},
		want: tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice,
			AuthenticatedUserID: "alice@example.com"},
	}, {
		name:    "audience",
		headers: []string{"X-Consumer-ID", "alice", "X-JWT-Audience", "orders-api"},
		want:    tokenClaims{Sub: "alice", Aud: "orders-api", Consumer: alice},
	}, {
		name:    "anonymous false",
		headers: []string{"X-Consumer-ID", "alice", "X-Anonymous-Consumer", "false"},
		want:    tokenClaims{Sub: "alice", Aud: defaultAudience, Consumer: alice},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, authRequest(http.MethodGet, "/v1/auth", tc.headers...))
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
			}
			_, claims := tokenParts(t, bearerToken(t, r.Header.Get("Authorization")))
			if claims["iss"] != testIssuer {
				t.Errorf("got iss %v, want %q", claims["iss"], testIssuer)
			}
			if diff := cmp.Diff(tc.want, claimsOf(claims), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("claims mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForwardAuthHeaderName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{authHeader: "X-Upstream-Authorization"})

	r := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Consumer-ID", "alice"))
	if r.Status != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
	}
	bearerToken(t, r.Header.Get("X-Upstream-Authorization"))
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("got Authorization %q, want none: the token goes in X-Upstream-Authorization", got)
	}
}

// TestForwardAuthSameTokenAsPost checks that both endpoints are one mint:
// equal inputs, whichever endpoint comes first, get the same cached token.
func TestForwardAuthSameTokenAsPost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})

	headers := []string{
		"X-Consumer-ID", "4e1c", "X-Consumer-Username", "alice",
		"X-Consumer-Groups", "gold,eu", "X-Authenticated-Scope", "orders:read orders:write",
		"X-Credential-Identifier", "alice-key-1", "X-Authenticated-Userid", "alice@example.com",
		"X-JWT-Audience", "orders-api",
	}
	body := `{"consumer":{"id":"4e1c","username":"alice"},"groups":["gold","eu"],
		"scopes":["orders:read","orders:write"],"credential":{"identifier":"alice-key-1"},
		"authenticated_userid":"alice@example.com","audience":"orders-api"}`

	t.Run("auth first", func(t *testing.T) {
		r := e.do(t, authRequest(http.MethodGet, "/v1/auth", headers...))
		fromAuth := bearerToken(t, r.Header.Get("Authorization"))
		if fromPost := e.mint(t, body).Token; fromPost != fromAuth {
			t.Errorf("POST /v1/tokens gave another token than /v1/auth for equal inputs")
		}
	})
	t.Run("post first", func(t *testing.T) {
		fromPost := e.mint(t, consumerBody("bob")).Token
		r := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Consumer-ID", "bob"))
		if fromAuth := bearerToken(t, r.Header.Get("Authorization")); fromAuth != fromPost {
			t.Errorf("/v1/auth gave another token than POST /v1/tokens for equal inputs")
		}
	})
}

func TestForwardAuthNoIdentity(t *testing.T) {
	t.Parallel()
	deny := newEnv(t, setup{})
	pass := newEnv(t, setup{anonymous: true})

	cases := []struct {
		name    string
		headers []string
	}{
		{"no header", nil},
		{"empty id", []string{"X-Consumer-ID", ""}},
		{"groups only", []string{"X-Consumer-Groups", "gold", "X-Authenticated-Userid", "alice"}},
		{"anonymous consumer", []string{"X-Consumer-ID", "anon", "X-Anonymous-Consumer", "true"}},
		{"anonymous upper case", []string{"X-Consumer-Username", "anon", "X-Anonymous-Consumer", "TRUE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/deny", func(t *testing.T) {
			r := deny.do(t, authRequest(http.MethodGet, "/v1/auth", tc.headers...))
			checkProblem(t, r, http.StatusUnauthorized)
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("got WWW-Authenticate %q, want it to start with Bearer", got)
			}
		})
		t.Run(tc.name+"/pass", func(t *testing.T) {
			r := pass.do(t, authRequest(http.MethodGet, "/v1/auth", tc.headers...))
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
			}
			for _, name := range []string{"Authorization", "X-JWT-Expires-In"} {
				if got := r.Header.Get(name); got != "" {
					t.Errorf("got %s %q, want none", name, got)
				}
			}
			if len(r.Body) != 0 {
				t.Errorf("got body %q, want none", r.Body)
			}
		})
	}
}

func TestForwardAuthControlCharacter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{anonymous: true})

	cases := []struct {
		name   string
		header string
		value  string
	}{
		{"tab in id", "X-Consumer-ID", "ali\tce"},
		{"SOH in id", "X-Consumer-ID", "ali\x01ce"},
		{"newline in username", "X-Consumer-Username", "alice\nX-Admin: 1"},
		{"DEL in custom id", "X-Consumer-Custom-ID", "c\x7f42"},
		{"SOH in groups", "X-Consumer-Groups", "gold,\x01eu"},
		{"tab in scope", "X-Authenticated-Scope", "orders:read\torders:write"},
		{"SOH in credential", "X-Credential-Identifier", "key\x01"},
		{"SOH in old credential", "X-Credential-Username", "key\x01"},
		{"SOH in userid", "X-Authenticated-Userid", "alice\x01"},
		{"SOH in audience", "X-JWT-Audience", "orders\x01"},
		{"SOH in anonymous", "X-Anonymous-Consumer", "true\x01"},
		{"C1 control in id", "X-Consumer-ID", "alice\u0085"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := authRequest(http.MethodGet, "/v1/auth")
			if tc.header != "X-Consumer-ID" {
				req.Header.Set("X-Consumer-ID", "alice")
			}
			// Written to the map directly, as a proxy in front might hand it on.
			req.Header[http.CanonicalHeaderKey(tc.header)] = []string{tc.value}
			r := e.do(t, req)
			checkProblem(t, r, http.StatusBadRequest)
			if got := r.Header.Get("Authorization"); got != "" {
				t.Errorf("got Authorization %q, want none", got)
			}
		})
	}
}

// TestForwardAuthControlCharacterOverHTTP sends a tab, which HTTP allows in
// a header value, through a real server.
func TestForwardAuthControlCharacterOverHTTP(t *testing.T) {
	t.Parallel()
	_, srv := newServerEnv(t, setup{})

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", gatewayAuth)
	req.Header.Set("X-Consumer-ID", "ali\tce")
	checkProblem(t, send(t, req), http.StatusBadRequest)
}

func TestForwardAuthUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	cases := []struct {
		name string
		auth string
	}{
		{"missing", ""},
		{"wrong key", "Bearer " + wrongKey},
		{"admin key", adminAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(http.MethodGet, "/v1/auth", "", "X-Consumer-ID", "alice")
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

func TestForwardAuthNoSigningKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{noStart: true})

	r := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Consumer-ID", "alice"))
	checkProblem(t, r, http.StatusServiceUnavailable)
}

// configuredNames is a router whose subject token and body digest headers
// are renamed, the first written in lower case as a setting may be.
func configuredNames(t *testing.T) *env {
	t.Helper()
	return newEnv(t, setup{profiles: testProfiles(false), verifier: outsideVerifier(t),
		configure: func(c *api.Config) {
			c.SubjectTokenHeader = "x-incoming-token"
			c.BodyDigestHeader = "X-Content-Digest"
		}})
}

// TestForwardAuthRefusalDetails pins the detail of each header refusal,
// word for word: it names the header as the client or the setting wrote
// it, and the first fault is the one reported, in a fixed order.
func TestForwardAuthRefusalDetails(t *testing.T) {
	t.Parallel()
	e := configuredNames(t)

	type headers = map[string][]string // written to the request as is
	const bad = http.StatusBadRequest
	manyGroups := strings.TrimSuffix(strings.Repeat("g,", service.MaxGroups+1), ",")
	cases := []struct {
		name   string
		header headers
		status int
		detail string
	}{
		{"id twice", headers{"X-Consumer-Id": {"a", "b"}},
			bad, "header X-Consumer-ID is given 2 times; send it once"},
		{"username three times", headers{"X-Consumer-Username": {"a", "b", "c"}},
			bad, "header X-Consumer-Username is given 3 times; send it once"},
		{"audience not UTF-8", headers{"X-Jwt-Audience": {"a\xff"}},
			bad, "header X-JWT-Audience is not valid UTF-8"},
		{"userid control character", headers{"X-Authenticated-Userid": {"a\x01"}},
			bad, "header X-Authenticated-Userid contains a control character"},
		{"forwarded method too long", headers{"X-Forwarded-Method": {over(service.MaxTextLength)}},
			bad, fmt.Sprintf("header X-Forwarded-Method is longer than %d bytes",
				service.MaxTextLength)},
		{"subject token twice", headers{"X-Incoming-Token": {"a", "b"}},
			bad, "header x-incoming-token is given 2 times; send it once"},
		{"body digest not UTF-8", headers{"X-Content-Digest": {"\xc0\xaf"}},
			bad, "header X-Content-Digest is not valid UTF-8"},
		{"body digest control character", headers{"X-Content-Digest": {"ab\ncd"}},
			bad, "header X-Content-Digest contains a control character"},
		{"too many groups", headers{"X-Consumer-Groups": {manyGroups}},
			bad, fmt.Sprintf("header X-Consumer-Groups lists more than %d entries", service.MaxGroups)},
		{"scope too long", headers{"X-Authenticated-Scope": {"read " + over(service.MaxEntryLength)}},
			bad, fmt.Sprintf("header X-Authenticated-Scope holds an entry longer than %d bytes",
				service.MaxEntryLength)},
		{"first header in order", headers{"X-Jwt-Audience": {"a\x00"}, "X-Consumer-Id": {"a", "b"}},
			bad, "header X-Consumer-ID is given 2 times; send it once"},
		{"headers before lists", headers{"X-Consumer-Groups": {manyGroups}, "X-Incoming-Token": {"a", "b"}},
			bad, "header x-incoming-token is given 2 times; send it once"},
		{"default subject token name unread", headers{"X-Subject-Token": {"a", "b"}},
			http.StatusUnauthorized, "no consumer identity header (X-Consumer-ID, " +
				"X-Consumer-Username or X-Consumer-Custom-ID) and no x-incoming-token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := authRequest(http.MethodGet, "/v1/auth")
			maps.Copy(req.Header, tc.header)
			p := checkProblem(t, e.do(t, req), tc.status)
			if p.Detail != tc.detail {
				t.Errorf("got detail %q, want %q", p.Detail, tc.detail)
			}
		})
	}
}

// TestForwardAuthConfiguredHeaders checks that renamed subject token and
// body digest headers are read, and the default names are not.
func TestForwardAuthConfiguredHeaders(t *testing.T) {
	t.Parallel()
	e := configuredNames(t)

	subject := outsideToken(t, e, map[string]any{"sub": "user-9"})
	r := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Incoming-Token", "Bearer "+subject))
	if r.Status != http.StatusOK {
		t.Fatalf("subject token: got %d, want 200; body %s", r.Status, r.Body)
	}
	_, claims := tokenParts(t, bearerToken(t, r.Header.Get("Authorization")))
	if claims["sub"] != "user-9" {
		t.Errorf("subject token: sub %v, want user-9", claims["sub"])
	}

	sum := sha256.Sum256(nil)
	bound := func(digestHeader string) reply {
		return e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Consumer-ID", "alice",
			"X-JWT-Audience", "payments", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/pay",
			digestHeader, hex.EncodeToString(sum[:])))
	}
	r = bound("X-Content-Digest")
	if r.Status != http.StatusOK {
		t.Fatalf("body digest: got %d, want 200; body %s", r.Status, r.Body)
	}
	_, claims = tokenParts(t, bearerToken(t, r.Header.Get("Authorization")))
	got, _ := claims["request"].(map[string]any)
	if got["method"] != "GET" || got["path"] != "/pay" {
		t.Errorf("body digest: request claim %v, want method GET and path /pay", claims["request"])
	}
	// Under its default name the digest is not read, and payments needs one.
	checkProblem(t, bound("X-Body-SHA256"), http.StatusBadRequest)
}
