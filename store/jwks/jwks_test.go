package jwks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/jwt-up/jwt-up/service"
)

// testKey is an issuer's signing key.
type testKey struct {
	kid  string
	priv crypto.Signer
}

func newTestKey(t *testing.T, kid string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, priv: priv}
}

// jwksOf returns the JWKS document of keys.
func jwksOf(t *testing.T, keys ...testKey) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := jwk.FromRaw(k.priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Set(jwk.KeyIDKey, k.kid); err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// sign returns a compact ES256 token of claims under k's kid.
func (k testKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, k.kid); err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// jwksServer serves a JWKS document that tests may change, and counts GETs.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
	hits int
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.hits++
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func TestFetchKeySet(t *testing.T) {
	good := jwksOf(t, newTestKey(t, "a"), newTestKey(t, "b"))
	tests := []struct {
		name    string
		status  int
		body    []byte
		wantLen int
		wantErr string
	}{
		{name: "a set", status: http.StatusOK, body: good, wantLen: 2},
		{name: "not found", status: http.StatusNotFound, body: good, wantErr: "status 404 Not Found"},
		{name: "server error", status: http.StatusBadGateway, body: good, wantErr: "status 502"},
		{name: "body over the limit", status: http.StatusOK,
			body: append(good, make([]byte, MaxBody)...), wantErr: "body is over 1048576 bytes"},
		{name: "invalid JSON", status: http.StatusOK, body: []byte(`{"keys":[`), wantErr: "parse jwks"},
		{name: "empty set", status: http.StatusOK, body: []byte(`{"keys":[]}`), wantErr: "has no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var accept string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				accept = r.Header.Get("Accept")
				w.WriteHeader(tt.status)
				w.Write(tt.body)
			}))
			defer srv.Close()

			set, err := (&Fetcher{Client: srv.Client()}).FetchKeySet(context.Background(), srv.URL)
			if accept != "application/json" {
				t.Errorf("got Accept %q, want application/json", accept)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FetchKeySet: %v", err)
			}
			if set.Len() != tt.wantLen {
				t.Errorf("got %d keys, want %d", set.Len(), tt.wantLen)
			}
		})
	}
}

func TestFetchKeySetDefaultClient(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(t, newTestKey(t, "a")))
	set, err := (&Fetcher{}).FetchKeySet(context.Background(), srv.URL)
	if err != nil {
		t.Fatalf("FetchKeySet: %v", err)
	}
	if _, ok := set.LookupKeyID("a"); !ok {
		t.Error("kid a is missing from the set")
	}
}

func TestFetchKeySetHonoursContext(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(t, newTestKey(t, "a")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Fetcher{}).FetchKeySet(ctx, srv.URL); err == nil {
		t.Error("got no error with a cancelled context")
	}
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestVerifierWithServedJWKS runs the service's verifier against a JWKS
// served over HTTP, through an issuer's key rotation.
func TestVerifierWithServedJWKS(t *testing.T) {
	clk := &testClock{t: time.Now().Truncate(time.Second)}
	oldKey, newKey := newTestKey(t, "old"), newTestKey(t, "new")
	srv := newJWKSServer(t, jwksOf(t, oldKey))
	issuer := service.TrustedIssuer{
		Issuer:     "https://idp.example",
		JWKSURL:    srv.URL + "/jwks",
		Algorithms: []string{"ES256"},
		Audiences:  []string{"jwt-up"},
	}
	v, err := service.NewVerifier([]service.TrustedIssuer{issuer}, &Fetcher{Client: srv.Client()}, clk.Now, nil)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	claims := func() map[string]any {
		return map[string]any{"iss": "https://idp.example", "aud": "jwt-up", "sub": "alice",
			"exp": clk.Now().Add(time.Minute).Unix()}
	}

	v.Prefetch(context.Background())
	got, err := v.Verify(context.Background(), oldKey.sign(t, claims()))
	if err != nil {
		t.Fatalf("Verify with the old key: %v", err)
	}
	if got.Subject != "alice" || srv.count() != 1 {
		t.Fatalf("got subject %q after %d fetches, want alice after 1", got.Subject, srv.count())
	}

	srv.serve(jwksOf(t, oldKey, newKey))
	clk.Advance(time.Minute)
	if _, err := v.Verify(context.Background(), newKey.sign(t, claims())); err != nil {
		t.Fatalf("Verify with the new key: %v", err)
	}
	if srv.count() != 2 {
		t.Errorf("got %d fetches, want 2: the unknown kid fetches once", srv.count())
	}

	_, err = v.Verify(context.Background(), newTestKey(t, "other").sign(t, claims()))
	if err == nil || !strings.Contains(err.Error(), `has kid "other"`) {
		t.Errorf("got %v, want a refusal of kid other", err)
	}
	if srv.count() != 2 {
		t.Errorf("got %d fetches, want still 2 within jwks_min_refetch", srv.count())
	}
}

// TestFetchErrorsHideSecrets: an issuer's URL may carry a password or a
// key in its query; fetch errors, which reach the log, show neither.
func TestFetchErrorsHideSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for _, base := range []string{srv.URL, closed.URL} {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("idp", "pass-w0rd")
		u.Path, u.RawQuery = "/jwks", "api_key=k3y-in-query"

		_, err = (&Fetcher{Client: srv.Client()}).FetchKeySet(context.Background(), u.String())
		if err == nil {
			t.Fatalf("fetch from %s: no error", base)
		}
		msg := err.Error()
		for _, secret := range []string{"pass-w0rd", "k3y-in-query", "idp@"} {
			if strings.Contains(msg, secret) {
				t.Errorf("error %q shows %q", msg, secret)
			}
		}
		if want := u.Host + "/jwks?…"; !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
}
