package api_test

import (
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/service"
)

// privateMembers are the JWK members that hold private key material.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func TestJWKS(t *testing.T) {
	t.Parallel()

	publicMembers := map[string][]string{
		"RSA": {"n", "e"},
		"EC":  {"crv", "x", "y"},
		"OKP": {"crv", "x"},
	}
	for _, alg := range service.Algorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{alg: alg})

			set, r := e.jwks(t)
			if got := mediaType(r.Header.Get("Content-Type")); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
			want := "public, max-age=" + strconv.Itoa(int(jwksMaxAge.Seconds()))
			if got := r.Header.Get("Cache-Control"); got != want {
				t.Errorf("got Cache-Control %q, want %q", got, want)
			}
			if etag := r.Header.Get("ETag"); len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
				t.Errorf("got ETag %q, want a quoted tag", etag)
			}

			// The active key and the next one.
			if len(set.Keys) != 2 {
				t.Errorf("got %d keys, want 2 (active and next)", len(set.Keys))
			}
			if !slices.Contains(set.kids(), e.keys.ActiveKID()) {
				t.Errorf("got kids %q, want the active kid %q among them", set.kids(), e.keys.ActiveKID())
			}
			for _, k := range set.Keys {
				for _, name := range []string{"kty", "kid", "use", "alg"} {
					if s, _ := k[name].(string); s == "" {
						t.Errorf("key %v: member %q missing", k["kid"], name)
					}
				}
				if k["use"] != "sig" || k["alg"] != alg {
					t.Errorf("key %v: got use %v alg %v, want sig %s", k["kid"], k["use"], k["alg"], alg)
				}
				kty, _ := k["kty"].(string)
				for _, name := range publicMembers[kty] {
					if _, ok := k[name]; !ok {
						t.Errorf("key %v: public member %q missing", k["kid"], name)
					}
				}
				for _, name := range privateMembers {
					if _, ok := k[name]; ok {
						t.Errorf("key %v: holds private member %q", k["kid"], name)
					}
				}
			}
		})
	}
}

func TestJWKSIfNoneMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	_, first := e.jwks(t)
	etag := first.Header.Get("ETag")

	cases := []struct {
		name        string
		ifNoneMatch string
		want        int
	}{
		{"strong", etag, http.StatusNotModified},
		{"weak", "W/" + etag, http.StatusNotModified},
		{"list", `"other", ` + etag + `, "more"`, http.StatusNotModified},
		{"list without spaces", `"other",W/` + etag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"other", `"other"`, http.StatusOK},
		{"other weak", `W/"other"`, http.StatusOK},
		{"unquoted", etag[1 : len(etag)-1], http.StatusOK},
		{"none", "", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(http.MethodGet, "/.well-known/jwks.json", "")
			if tc.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			r := e.do(t, req)
			if r.Status != tc.want {
				t.Fatalf("got status %d, want %d", r.Status, tc.want)
			}
			if got := r.Header.Get("ETag"); got != etag {
				t.Errorf("got ETag %q, want %q", got, etag)
			}
			if got := r.Header.Get("Cache-Control"); got != "public, max-age=600" {
				t.Errorf("got Cache-Control %q, want public, max-age=600", got)
			}
			if tc.want == http.StatusNotModified {
				if len(r.Body) != 0 {
					t.Errorf("got body %q on 304, want none", r.Body)
				}
				return
			}
			if string(r.Body) != string(first.Body) {
				t.Errorf("got body %s, want %s", r.Body, first.Body)
			}
		})
	}
}

func TestJWKSETagChangesOnRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{admin: true})
	_, before := e.jwks(t)
	etag := before.Header.Get("ETag")

	if r := e.admin(t, http.MethodPost, "/v1/keys/rotate"); r.Status != http.StatusCreated {
		t.Fatalf("rotate: got status %d, want 201; body %s", r.Status, r.Body)
	}
	_, after := e.jwks(t)
	if got := after.Header.Get("ETag"); got == etag {
		t.Errorf("got ETag %q after a rotation, want a new one", got)
	}

	r := e.do(t, newRequest(http.MethodGet, "/.well-known/jwks.json", "", "If-None-Match", etag))
	if r.Status != http.StatusOK {
		t.Errorf("old ETag after a rotation: got status %d, want 200", r.Status)
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		issuer  string
		jwksURI string
	}{
		{"host", "https://jwt-up.test", "https://jwt-up.test/.well-known/jwks.json"},
		{"path", "https://example.test/jwt-up", "https://example.test/jwt-up/.well-known/jwks.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{issuer: tc.issuer})

			r := e.do(t, newRequest(http.MethodGet, "/.well-known/openid-configuration", ""))
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", r.Status, r.Body)
			}
			if got := mediaType(r.Header.Get("Content-Type")); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
			var got map[string]any
			decodeJSON(t, r.Body, &got)
			want := map[string]any{
				"issuer":                                tc.issuer,
				"jwks_uri":                              tc.jwksURI,
				"id_token_signing_alg_values_supported": []any{"ES256"},
				"response_types_supported":              []any{"id_token"},
				"subject_types_supported":               []any{"public"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("discovery document mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
