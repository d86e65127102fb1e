package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwt-up/jwt-up/api"
	"github.com/jwt-up/jwt-up/service"
	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/memory"
)

// The secrets every test router knows. They are long and distinctive so
// that a search of logs and bodies for them cannot miss.
const (
	gatewayKey = "gw-9f1c2e7a4b6d8035e1a2c4f6b8d0e3a5"
	adminKey   = "adm-3b5d7f9a1c2e4068b0d2f4a6c8e0b1d3"
	wrongKey   = "wrong-7e5c3a1f9d7b5032e4c6a8f0d2b4e6a8"

	testIssuer      = "https://jwt-up.test"
	defaultAudience = "default-audience"
	tokenTTL        = 5 * time.Minute
	jwksMaxAge      = 10 * time.Minute
	keyRefresh      = 10 * time.Second
)

// testClock is a settable clock shared by the key manager and the minter.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// newTestClock starts near the real time: the in-process token cache expires
// entries on the real clock.
func newTestClock() *testClock {
	return &testClock{t: time.Now().Truncate(time.Second)}
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

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the
// test reading it at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setup chooses how a test router is built; the zero value is the common
// case: ES256, admin API off, keys loaded.
type setup struct {
	alg        string        // default ES256
	admin      bool          // turn the admin API on with adminKey
	authHeader string        // Config.AuthHeader
	anonymous  bool          // Config.Anonymous
	noStart    bool          // never start the key manager: no keys at all
	quiet      bool          // log at warn, as a busy deployment may
	issuer     string        // default testIssuer
	keyRefresh time.Duration // default keyRefresh
	cacheState func(ctx context.Context) string
	// wrapCache, when set, puts a cache of the test's in front of the
	// memory one.
	wrapCache func(store.TokenCache) store.TokenCache
	// configure, when set, changes the router's config last.
	configure func(*api.Config)
	// profiles, when set, replaces the minter's profiles; their default
	// should match the one newEnv builds.
	profiles *service.Profiles
	// verifier, when set, verifies subject tokens.
	verifier service.SubjectVerifier
}

// env is one router over the real service, with its parts at hand.
type env struct {
	router http.Handler
	keys   *service.KeyManager
	clock  *testClock
	logs   *syncBuffer
}

// newEnv builds a router over a memory key store and token cache.
func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	if s.alg == "" {
		s.alg = "ES256"
	}
	if s.issuer == "" {
		s.issuer = testIssuer
	}
	if s.keyRefresh == 0 {
		s.keyRefresh = keyRefresh
	}

	logs := &syncBuffer{}
	level := slog.LevelDebug
	if s.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
	clock := newTestClock()
	now := clock.Now

	kek := make([]byte, service.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	sealer, err := service.NewSealer(kek)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	ks := memory.NewKeyStore()
	t.Cleanup(func() { _ = ks.Close() })
	keys := service.NewKeyManager(ks, sealer, service.KeyConfig{
		Alg:        s.alg,
		Rotation:   24 * time.Hour,
		TokenTTL:   tokenTTL,
		JWKSMaxAge: jwksMaxAge,
		Refresh:    s.keyRefresh,
	}, log)
	keys.SetClock(now)
	if !s.noStart {
		if err := keys.Start(context.Background()); err != nil {
			t.Fatalf("KeyManager.Start: %v", err)
		}
	}

	cache, err := memory.NewTokenCache(1000)
	if err != nil {
		t.Fatalf("NewTokenCache: %v", err)
	}
	var tokens store.TokenCache = cache
	if s.wrapCache != nil {
		tokens = s.wrapCache(cache)
	}
	reg := prometheus.NewRegistry()
	minter := service.NewMinter(service.MintConfig{
		Issuer:          s.issuer,
		DefaultAudience: defaultAudience,
		Profile:         service.ProfileStandard,
		TTL:             tokenTTL,
		RefreshMargin:   30 * time.Second,
	}, keys, tokens, service.NewMetrics(reg, keys))
	minter.SetClock(now)
	if s.profiles != nil {
		if err := minter.SetProfiles(*s.profiles); err != nil {
			t.Fatalf("SetProfiles: %v", err)
		}
	}
	if s.verifier != nil {
		minter.SetVerifier(s.verifier)
	}

	cfg := api.Config{
		Issuer:       s.issuer,
		GatewayKeys:  []string{gatewayKey},
		AuthHeader:   s.authHeader,
		Anonymous:    s.anonymous,
		JWKSMaxAge:   jwksMaxAge,
		StoreTimeout: 3 * s.keyRefresh,
		CacheState:   s.cacheState,
		Registry:     reg,
		Logger:       log,
	}
	if s.admin {
		cfg.AdminKeys = []string{adminKey}
	}
	if s.configure != nil {
		s.configure(&cfg)
	}
	return &env{
		router: api.New(cfg, minter, keys),
		keys:   keys,
		clock:  clock,
		logs:   logs,
	}
}

// newServerEnv is newEnv behind a real HTTP server whose URL is the issuer.
func newServerEnv(t *testing.T, s setup) (*env, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil) // listens already: the URL is known
	s.issuer = "http://" + srv.Listener.Addr().String()
	e := newEnv(t, s)
	srv.Config.Handler = e.router
	srv.Start()
	t.Cleanup(srv.Close)
	if srv.URL != s.issuer {
		t.Fatalf("server URL %q, want %q", srv.URL, s.issuer)
	}
	return e, srv
}

// reply is an answer, from a recorder or a real server.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// newRequest builds a request; kv are header names and values in turn.
func newRequest(method, target, body string, kv ...string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	return req
}

// do serves req with the router.
func (e *env) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	return reply{Status: rec.Code, Header: rec.Result().Header, Body: rec.Body.Bytes()}
}

// send sends req to a real server.
func send(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", req.Method, req.URL, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

const gatewayAuth = "Bearer " + gatewayKey
const adminAuth = "Bearer " + adminKey

// postToken posts body to /v1/tokens with the gateway key.
func (e *env) postToken(t *testing.T, body string) reply {
	t.Helper()
	return e.do(t, newRequest(http.MethodPost, "/v1/tokens", body,
		"Authorization", gatewayAuth, "Content-Type", "application/json"))
}

// mint posts body to /v1/tokens and wants a token.
func (e *env) mint(t *testing.T, body string) api.TokenResponse {
	t.Helper()
	r := e.postToken(t, body)
	if r.Status != http.StatusOK {
		t.Fatalf("POST /v1/tokens %s: got status %d, want 200; body %s", body, r.Status, r.Body)
	}
	var tr api.TokenResponse
	decodeJSON(t, r.Body, &tr)
	if tr.Token == "" {
		t.Fatalf("POST /v1/tokens %s: no token in %s", body, r.Body)
	}
	return tr
}

// consumerBody is the smallest mint request for consumer id.
func consumerBody(id string) string {
	return `{"consumer":{"id":"` + id + `"}}`
}

// admin sends an admin request with the admin key.
func (e *env) admin(t *testing.T, method, target string) reply {
	t.Helper()
	return e.do(t, newRequest(method, target, "", "Authorization", adminAuth))
}

func decodeJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// mediaType returns the media type of a Content-Type value, or "".
func mediaType(v string) string {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return mt
}

// secrets are the keys no answer's detail may hold.
var secrets = []string{gatewayKey, adminKey, wrongKey}

// jwtShape matches anything that looks like a compact JWS.
var jwtShape = regexp.MustCompile(`eyJ[\w-]*\.[\w-]+\.[\w-]+`)

// checkProblem checks that r is a problem+json answer with status want and
// returns it. Its detail must hold no key and nothing shaped like a token.
func checkProblem(t *testing.T, r reply, want int) api.Problem {
	t.Helper()
	if r.Status != want {
		t.Errorf("got status %d, want %d; body %s", r.Status, want, r.Body)
	}
	if got := mediaType(r.Header.Get("Content-Type")); got != "application/problem+json" {
		t.Errorf("got Content-Type %q, want application/problem+json", r.Header.Get("Content-Type"))
	}

	var fields map[string]any
	if err := json.Unmarshal(r.Body, &fields); err != nil {
		t.Fatalf("problem body %q: %v", r.Body, err)
	}
	for _, name := range []string{"type", "title", "detail"} {
		if s, ok := fields[name].(string); !ok || s == "" {
			t.Errorf("problem member %q: got %#v, want a non-empty string", name, fields[name])
		}
	}
	if got, ok := fields["status"].(float64); !ok || int(got) != want {
		t.Errorf("problem member status: got %#v, want %d", fields["status"], want)
	}

	var p api.Problem
	decodeJSON(t, r.Body, &p)
	for _, s := range secrets {
		if strings.Contains(p.Detail, s) {
			t.Errorf("problem detail %q holds a key", p.Detail)
		}
	}
	if jwtShape.MatchString(p.Detail) {
		t.Errorf("problem detail %q holds a token", p.Detail)
	}
	return p
}

// tokenParts decodes a compact JWS's header and claims.
func tokenParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: got %d parts, want 3", token, len(parts))
	}
	decode := func(part string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			t.Fatalf("token part %q: %v", part, err)
		}
		var m map[string]any
		decodeJSON(t, raw, &m)
		return m
	}
	return decode(parts[0]), decode(parts[1])
}

// jwkSet is the JWKS as served, each key a plain map.
type jwkSet struct {
	Keys []map[string]any `json:"keys"`
}

// jwks fetches and decodes the JWKS.
func (e *env) jwks(t *testing.T) (jwkSet, reply) {
	t.Helper()
	r := e.do(t, newRequest(http.MethodGet, "/.well-known/jwks.json", ""))
	if r.Status != http.StatusOK {
		t.Fatalf("GET /.well-known/jwks.json: got status %d, want 200", r.Status)
	}
	var set jwkSet
	decodeJSON(t, r.Body, &set)
	return set, r
}

// kids returns the kids of the set.
func (s jwkSet) kids() []string {
	var out []string
	for _, k := range s.Keys {
		kid, _ := k["kid"].(string)
		out = append(out, kid)
	}
	return out
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// metricValue finds the sample of name whose labels include want in
// Prometheus text exposition, and returns its value.
func metricValue(t *testing.T, text, name string, want map[string]string) (float64, bool) {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		metric, labels, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		got := map[string]string{}
		for _, m := range labelRE.FindAllStringSubmatch(labels, -1) {
			got[m[1]] = m[2]
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return f, true
	}
	return 0, false
}
