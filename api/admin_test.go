package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jwt-up/jwt-up/api"
	"github.com/jwt-up/jwt-up/store"
)

// adminRoutes are one request to each admin endpoint.
var adminRoutes = []struct{ method, target string }{
	{http.MethodGet, "/v1/keys"},
	{http.MethodPost, "/v1/keys/rotate"},
	{http.MethodPost, "/v1/keys/rotate?immediate=true"},
	{http.MethodDelete, "/v1/keys/some-kid"},
	{http.MethodDelete, "/v1/consumers/alice/tokens"},
}

func TestAdminOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	before := e.keys.Keys()

	auths := []struct{ name, value string }{
		{"no key", ""},
		{"gateway key", gatewayAuth},
		{"admin key", adminAuth},
	}
	for _, route := range adminRoutes {
		for _, auth := range auths {
			t.Run(route.method+" "+route.target+" "+auth.name, func(t *testing.T) {
				req := newRequest(route.method, route.target, "")
				if auth.value != "" {
					req.Header.Set("Authorization", auth.value)
				}
				checkProblem(t, e.do(t, req), http.StatusNotFound)
			})
		}
	}
	if diff := cmp.Diff(before, e.keys.Keys()); diff != "" {
		t.Errorf("keys changed while the admin API is off (-before +after):\n%s", diff)
	}
}

func TestAdminUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	before := e.keys.Keys()

	auths := []struct{ name, value string }{
		{"missing", ""},
		{"gateway key", gatewayAuth},
		{"wrong key", "Bearer " + wrongKey},
		{"other scheme", "Basic " + adminKey},
	}
	for _, route := range adminRoutes {
		for _, auth := range auths {
			t.Run(route.method+" "+route.target+" "+auth.name, func(t *testing.T) {
				req := newRequest(route.method, route.target, "")
				if auth.value != "" {
					req.Header.Set("Authorization", auth.value)
				}
				r := e.do(t, req)
				checkProblem(t, r, http.StatusUnauthorized)
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("got WWW-Authenticate %q, want it to start with Bearer", got)
				}
			})
		}
	}
	if diff := cmp.Diff(before, e.keys.Keys()); diff != "" {
		t.Errorf("keys changed by unauthorized requests (-before +after):\n%s", diff)
	}
}

// keyStates returns kid → state of a key list.
func keyStates(keys []api.KeyInfo) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		out[k.KID] = k.State
	}
	return out
}

// listKeys fetches GET /v1/keys.
func (e *env) listKeys(t *testing.T) []api.KeyInfo {
	t.Helper()
	r := e.admin(t, http.MethodGet, "/v1/keys")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/keys: got status %d, want 200; body %s", r.Status, r.Body)
	}
	var list api.KeyList
	decodeJSON(t, r.Body, &list)
	return list.Keys
}

// keyInfo decodes a KeyInfo answer with status want.
func keyInfo(t *testing.T, r reply, want int) api.KeyInfo {
	t.Helper()
	if r.Status != want {
		t.Fatalf("got status %d, want %d; body %s", r.Status, want, r.Body)
	}
	var k api.KeyInfo
	decodeJSON(t, r.Body, &k)
	return k
}

func TestListKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	r := e.admin(t, http.MethodGet, "/v1/keys")
	if r.Status != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
	}
	if got := mediaType(r.Header.Get("Content-Type")); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	for _, name := range privateMembers {
		if strings.Contains(string(r.Body), `"`+name+`"`) {
			t.Errorf("key list holds member %q: %s", name, r.Body)
		}
	}

	var got []api.KeyInfo
	for _, k := range e.listKeys(t) {
		if k.KID == "" || k.CreatedAt.IsZero() {
			t.Errorf("key %+v: want a kid and a creation time", k)
		}
		got = append(got, api.KeyInfo{KID: k.KID, Alg: k.Alg, State: k.State})
	}
	var want []api.KeyInfo
	for _, k := range e.keys.Keys() {
		want = append(want, api.KeyInfo{KID: k.KID, Alg: k.Alg, State: string(k.State)})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("key list mismatch (-want +got):\n%s", diff)
	}
	states := keyStates(e.listKeys(t))
	if states[e.keys.ActiveKID()] != "active" || len(states) != 2 {
		t.Errorf("got states %v, want the active key and one next", states)
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	active := e.keys.ActiveKID()

	k := keyInfo(t, e.admin(t, http.MethodPost, "/v1/keys/rotate"), http.StatusCreated)
	want := api.KeyInfo{KID: k.KID, Alg: "ES256", State: "next"}
	ignore := cmpopts.IgnoreFields(api.KeyInfo{}, "CreatedAt", "ActivatesAt")
	if diff := cmp.Diff(want, k, ignore); diff != "" {
		t.Errorf("new key mismatch (-want +got):\n%s", diff)
	}
	wantAt := e.clock.Now().Add(jwksMaxAge).UTC()
	if k.ActivatesAt == nil || !k.ActivatesAt.Equal(wantAt) {
		t.Errorf("got activates_at %v, want %v (one JWKS max-age on)", k.ActivatesAt, wantAt)
	}

	set, _ := e.jwks(t)
	if !slices.Contains(set.kids(), k.KID) {
		t.Errorf("got JWKS kids %q, want the new kid %q among them", set.kids(), k.KID)
	}
	if got := e.keys.ActiveKID(); got != active {
		t.Errorf("got active kid %q, want %q still: a staged key does not sign yet", got, active)
	}
	if got := e.mint(t, consumerBody("alice")).KID; got != active {
		t.Errorf("got a token signed by %q, want %q", got, active)
	}
	if got := keyStates(e.listKeys(t))[k.KID]; got != "next" {
		t.Errorf("GET /v1/keys: got state %q for the new key, want next", got)
	}
}

func TestRotateImmediate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	old := e.keys.ActiveKID()

	k := keyInfo(t, e.admin(t, http.MethodPost, "/v1/keys/rotate?immediate=true"), http.StatusCreated)
	if k.State != "active" || k.ActivatedAt == nil {
		t.Errorf("got state %q activated_at %v, want active with a time", k.State, k.ActivatedAt)
	}
	if got := e.keys.ActiveKID(); got != k.KID {
		t.Errorf("got active kid %q, want the new %q", got, k.KID)
	}

	tr := e.mint(t, consumerBody("alice"))
	if tr.KID != k.KID {
		t.Errorf("got a token signed by %q, want the new key %q", tr.KID, k.KID)
	}
	if header, _ := tokenParts(t, tr.Token); header["kid"] != k.KID {
		t.Errorf("got token header kid %v, want %q", header["kid"], k.KID)
	}

	// The old key retires but stays published for the tokens it signed.
	if got := keyStates(e.listKeys(t))[old]; got != "retired" {
		t.Errorf("got state %q for the old key, want retired", got)
	}
	set, _ := e.jwks(t)
	for _, kid := range []string{old, k.KID} {
		if !slices.Contains(set.kids(), kid) {
			t.Errorf("got JWKS kids %q, want %q among them", set.kids(), kid)
		}
	}
}

func TestRotateImmediateInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	before := e.keys.Keys()

	for _, v := range []string{"banana", "", "yes", "2"} {
		t.Run(v, func(t *testing.T) {
			r := e.admin(t, http.MethodPost, "/v1/keys/rotate?immediate="+v)
			p := checkProblem(t, r, http.StatusBadRequest)
			if !strings.Contains(p.Detail, "immediate") {
				t.Errorf("got detail %q, want it to name immediate", p.Detail)
			}
		})
	}
	if diff := cmp.Diff(before, e.keys.Keys()); diff != "" {
		t.Errorf("keys changed by refused rotations (-before +after):\n%s", diff)
	}
}

func TestRotateImmediateFalse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	k := keyInfo(t, e.admin(t, http.MethodPost, "/v1/keys/rotate?immediate=false"), http.StatusCreated)
	if k.State != "next" {
		t.Errorf("got state %q, want next", k.State)
	}
}

func TestRevokeActiveKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	old := e.keys.ActiveKID()
	before := e.mint(t, consumerBody("alice"))
	if before.KID != old {
		t.Fatalf("got a token signed by %q, want the active %q", before.KID, old)
	}

	k := keyInfo(t, e.admin(t, http.MethodDelete, "/v1/keys/"+old), http.StatusOK)
	want := api.KeyInfo{KID: old, Alg: "ES256", State: "revoked"}
	ignore := cmpopts.IgnoreFields(api.KeyInfo{}, "CreatedAt", "ActivatedAt", "RemovedAt")
	if diff := cmp.Diff(want, k, ignore); diff != "" {
		t.Errorf("revoked key mismatch (-want +got):\n%s", diff)
	}
	if k.RemovedAt == nil {
		t.Errorf("got no removed_at on a revoked key")
	}

	set, _ := e.jwks(t)
	if slices.Contains(set.kids(), old) {
		t.Errorf("got JWKS kids %q, want the revoked %q gone", set.kids(), old)
	}
	if got := keyStates(e.listKeys(t))[old]; got != "revoked" {
		t.Errorf("GET /v1/keys: got state %q, want revoked", got)
	}

	// alice's cached token was signed by the revoked key: never hand it out.
	after := e.mint(t, consumerBody("alice"))
	if after.Token == before.Token {
		t.Errorf("got the cached token signed by the revoked key again")
	}
	if after.KID == old || after.KID != e.keys.ActiveKID() {
		t.Errorf("got a token signed by %q, want the new active %q", after.KID, e.keys.ActiveKID())
	}
	if header, _ := tokenParts(t, after.Token); header["kid"] != after.KID {
		t.Errorf("got token header kid %v, want %q", header["kid"], after.KID)
	}
	if !slices.Contains(set.kids(), after.KID) {
		t.Errorf("got JWKS kids %q, want the new signing kid %q among them", set.kids(), after.KID)
	}
}

func TestRevokeNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	revoked := e.keys.ActiveKID()
	if r := e.admin(t, http.MethodDelete, "/v1/keys/"+revoked); r.Status != http.StatusOK {
		t.Fatalf("first revocation: got status %d, want 200; body %s", r.Status, r.Body)
	}

	cases := []struct{ name, kid string }{
		{"unknown", "no-such-kid"},
		{"already revoked", revoked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkProblem(t, e.admin(t, http.MethodDelete, "/v1/keys/"+tc.kid), http.StatusNotFound)
		})
	}
}

func TestPurgeConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	alice := e.mint(t, consumerBody("alice"))
	aliceEU := e.mint(t, `{"consumer":{"id":"alice"},"audience":"eu"}`)
	bob := e.mint(t, consumerBody("bob"))

	r := e.admin(t, http.MethodDelete, "/v1/consumers/alice/tokens")
	if r.Status != http.StatusNoContent {
		t.Fatalf("got status %d, want 204; body %s", r.Status, r.Body)
	}
	if len(r.Body) != 0 {
		t.Errorf("got body %q, want none", r.Body)
	}

	if got := e.mint(t, consumerBody("alice")); got.Token == alice.Token {
		t.Errorf("alice got her purged token again")
	}
	if got := e.mint(t, `{"consumer":{"id":"alice"},"audience":"eu"}`); got.Token == aliceEU.Token {
		t.Errorf("alice got her purged token for audience eu again")
	}
	if got := e.mint(t, consumerBody("bob")); got.Token != bob.Token {
		t.Errorf("bob got a new token, want his cached one")
	}
}

// purgeAndMint mints for a consumer known by username sub, purges sub and
// wants a new token after.
func purgeAndMint(t *testing.T, e *env, sub string) {
	t.Helper()
	body := `{"consumer":{"username":"` + sub + `"}}`
	before := e.mint(t, body)

	r := e.admin(t, http.MethodDelete, "/v1/consumers/"+url.PathEscape(sub)+"/tokens")
	if r.Status != http.StatusNoContent {
		t.Fatalf("got status %d, want 204; body %s", r.Status, r.Body)
	}
	if e.mint(t, body).Token == before.Token {
		t.Errorf("got the purged token again")
	}
}

// TestPurgeConsumerEscapedSubject purges subjects that must be escaped in
// the path.
func TestPurgeConsumerEscapedSubject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	for _, sub := range []string{"alice@example.com", "alice smith", "50%", "ä?#"} {
		t.Run(sub, func(t *testing.T) { purgeAndMint(t, e, sub) })
	}
}

// TestPurgeConsumerSubjectWithSlash shows a bug. A subject is the username
// or custom_id when the consumer has no id, and those may hold a "/". The
// router matches on the decoded path, so /v1/consumers/team%2Falice/tokens
// matches no route and answers 404: that consumer's tokens cannot be purged.
func TestPurgeConsumerSubjectWithSlash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})

	purgeAndMint(t, e, "team/alice")
}

// unpurgeableCache is a token cache whose purges fail, as a shared cache
// does while it is unreachable.
type unpurgeableCache struct {
	store.TokenCache
}

func (unpurgeableCache) DeleteSubject(context.Context, string) error {
	return errors.New("dial tcp 10.0.0.7:6379: connection refused; password " + adminKey)
}

func TestPurgeConsumerCacheDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true, wrapCache: func(c store.TokenCache) store.TokenCache {
		return unpurgeableCache{c}
	}})
	e.mint(t, consumerBody("alice"))

	r := e.admin(t, http.MethodDelete, "/v1/consumers/alice/tokens")
	p := checkProblem(t, r, http.StatusServiceUnavailable)
	if strings.Contains(p.Detail, "10.0.0.7") {
		t.Errorf("got detail %q, want the cache's own error kept from the client", p.Detail)
	}
}
