package examples_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/docs/examples/internal/jwtuptest"
)

// The example under profiles/: jwt-up.yaml is started as it is, except
// for the JWKS URL of its trusted issuer (the test serves the issuer's keys
// on a port of its own) and listen and issuer, which jwtuptest sets
// through variables, which win over the file.
const (
	profilesDir    = "profiles"
	exampleJWKSURL = "http://localhost:9000/jwks.json"
	idpIssuer      = "https://idp.example"
)

// idpScripts returns the absolute paths of idp.py and check.py, or skips
// when Debian's python3 with PyJWT and cryptography is missing.
func idpScripts(t *testing.T) (idpPy, checkPy string) {
	t.Helper()
	var missing error
	imports := exec.Command(systemPython, "-c", "import jwt, cryptography")
	if out, err := imports.CombinedOutput(); err != nil {
		missing = fmt.Errorf("%s cannot import jwt and cryptography: %v: %s",
			systemPython, err, bytes.TrimSpace(out))
	}
	jwtuptest.NeedTool(t, missing, "run: apt-get install -y python3-jwt python3-cryptography")

	dir, err := filepath.Abs(profilesDir)
	if err != nil {
		t.Fatal(err)
	}
	idpPy, checkPy = filepath.Join(dir, "idp.py"), filepath.Join(dir, "check.py")
	for _, script := range []string{idpPy, checkPy} {
		// The stat also tells go test to run again when a script changes.
		if _, err := os.Stat(script); err != nil {
			t.Fatal(err)
		}
	}
	return idpPy, checkPy
}

// runPython runs script with Debian's python3 and returns its exit status,
// standard output and standard error.
func runPython(t *testing.T, script string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("%s: %v\n%s%s", filepath.Base(script), err, &stdout, &stderr)
	return 0, "", ""
}

// idp is the identity provider of the example: the key directory idp.py
// keeps, and an HTTP server publishing its jwks.json as jwt-up.yaml's
// jwks_url does. It counts the fetches.
type idp struct {
	script, dir string
	srv         *httptest.Server

	mu        sync.Mutex
	fetches   int
	lastFetch time.Time
}

// newIDP makes the issuer's key with idp.py and starts publishing it.
func newIDP(t *testing.T, script string) *idp {
	t.Helper()
	p := &idp{script: script, dir: filepath.Join(t.TempDir(), "idp")}
	p.run(t, "keys", p.dir)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serveJWKS))
	t.Cleanup(p.srv.Close)
	return p
}

// serveJWKS serves jwks.json as idp.py last wrote it.
func (p *idp) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/jwks.json" {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(p.dir, "jwks.json"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.fetches++
	p.lastFetch = time.Now()
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// fetched returns how often the JWKS was fetched, and when last.
func (p *idp) fetched() (int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches, p.lastFetch
}

func (p *idp) jwksURL() string { return p.srv.URL + "/jwks.json" }

// run runs idp.py and returns what it printed, failing on any error.
func (p *idp) run(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runPython(t, p.script, args...)
	if code != 0 {
		t.Fatalf("idp.py %s exited %d: %s%s", args[0], code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// sign has idp.py sign claims, with its options in args.
func (p *idp) sign(t *testing.T, claims map[string]any, args ...string) string {
	t.Helper()
	data, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return p.run(t, append([]string{"sign", p.dir, string(data)}, args...)...)
}

// exampleConfig returns jwt-up.yaml with jwksURL in place of its own.
func exampleConfig(t *testing.T, jwksURL string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(profilesDir, "jwt-up.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return replaceOnce(t, string(data), exampleJWKSURL, jwksURL)
}

// replaceOnce replaces old in text, which must hold it exactly once.
func replaceOnce(t *testing.T, text, old, new string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("jwt-up.yaml holds %q %d times, want once", old, n)
	}
	return strings.Replace(text, old, new, 1)
}

// writeWhole writes text to path through a rename, so that jwt-up never
// reads half a file.
func writeWhole(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startExample starts jwt-up with the example's settings file, whose
// path it returns too.
func startExample(t *testing.T, p *idp) (*jwtuptest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt-up.yaml")
	writeWhole(t, path, exampleConfig(t, p.jwksURL()))
	// check.py pins RS256, as the file's signing_alg says.
	return jwtuptest.Start(t, "RS256", "JWTUP_CONFIG="+path), path
}

// answer is jwt-up's answer to one request.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// send makes req with the gateway key and reads the answer.
func send(client *http.Client, s *jwtuptest.Server, req *http.Request) (answer, error) {
	req.Header.Set("Authorization", "Bearer "+s.GatewayKey)
	res, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: body}, err
}

// mintRequest is POST /v1/tokens with body as JSON.
func mintRequest(s *jwtuptest.Server, body map[string]any) *http.Request {
	data, _ := json.Marshal(body) // maps of strings and maps always encode
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/tokens", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// authRequest is a forward-auth request to /v1/auth with headers.
func authRequest(s *jwtuptest.Server, method string, headers map[string]string) *http.Request {
	req, _ := http.NewRequest(method, s.URL+"/v1/auth", nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

var testClient = &http.Client{Timeout: 30 * time.Second}

// mint sends POST /v1/tokens.
func mint(t *testing.T, s *jwtuptest.Server, body map[string]any) answer {
	t.Helper()
	a, err := send(testClient, s, mintRequest(s, body))
	if err != nil {
		t.Fatalf("POST /v1/tokens: %v", err)
	}
	return a
}

// forwardAuth sends a request to /v1/auth.
func forwardAuth(t *testing.T, s *jwtuptest.Server, method string,
	headers map[string]string) answer {
	t.Helper()
	a, err := send(testClient, s, authRequest(s, method, headers))
	if err != nil {
		t.Fatalf("%s /v1/auth: %v", method, err)
	}
	return a
}

// token returns the token of a 200 answer of either endpoint.
func (a answer) token() (string, error) {
	if a.status != http.StatusOK {
		return "", fmt.Errorf("status %d, body %s", a.status, a.body)
	}
	if v, ok := strings.CutPrefix(a.header.Get("Authorization"), "Bearer "); ok {
		return v, nil
	}
	var res struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(a.body, &res); err != nil || res.Token == "" {
		return "", fmt.Errorf("no token in %s", a.body)
	}
	return res.Token, nil
}

// mustToken is token for an answer that must be 200.
func (a answer) mustToken(t *testing.T) string {
	t.Helper()
	tok, err := a.token()
	if err != nil {
		t.Fatalf("want a token: %v", err)
	}
	return tok
}

// wantProblem fails unless a is a problem of type "urn:jwt-up:problem:"
// + slug with status.
func (a answer) wantProblem(t *testing.T, status int, slug string) string {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("status %d, body %s: not a problem: %v", a.status, a.body, err)
	}
	ct := a.header.Get("Content-Type")
	if a.status != status || p.Type != "urn:jwt-up:problem:"+slug || ct != "application/problem+json" {
		t.Fatalf("got status %d, %s, type %q; want %d, application/problem+json, %s (body %s)",
			a.status, ct, p.Type, status, slug, a.body)
	}
	return p.Detail
}

// checkArgs names the upstream check.py plays: its audience and the typ
// it expects, and the request it received, for bound tokens.
type checkArgs struct {
	audience, typ string
	body, method  string // body is a file; both empty: no binding check
	path          string
}

// upstream runs check.py against one jwt-up, as its upstream APIs would.
type upstream struct {
	script string
	s      *jwtuptest.Server
}

// check runs check.py on token and returns its exit status, the claims
// it printed on success, and its output.
func (u upstream) check(t *testing.T, c checkArgs, token string) (int, map[string]any, string) {
	t.Helper()
	args := []string{u.s.JWKSURL(), u.s.URL, c.audience, c.typ, token}
	if c.body != "" {
		args = append(args, "--body", c.body, "--method", c.method, "--path", c.path)
	}
	code, out, errOut := runPython(t, u.script, args...)
	if code > 1 {
		t.Fatalf("check.py exited %d: %s%s", code, out, errOut)
	}
	var claims map[string]any
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &claims); err != nil {
			t.Fatalf("check.py printed %q: %v", out, err)
		}
	}
	return code, claims, strings.TrimSpace(out + errOut)
}

// accept runs check.py, wants the token accepted and returns its claims.
func (u upstream) accept(t *testing.T, c checkArgs, token string) map[string]any {
	t.Helper()
	code, claims, out := u.check(t, c, token)
	if code != 0 {
		t.Fatalf("check.py %s %s refused the token: %s", c.audience, c.typ, out)
	}
	return claims
}

// refuse runs check.py and wants the token refused for reason.
func (u upstream) refuse(t *testing.T, c checkArgs, token, reason string) {
	t.Helper()
	code, _, out := u.check(t, c, token)
	if code != 1 || !strings.Contains(out, reason) {
		t.Errorf("check.py %s %s exited %d: %s; want 1 and a reason naming %s",
			c.audience, c.typ, code, out, reason)
	}
}

// wantClaim compares a claim with want as JSON.
func wantClaim(t *testing.T, claims map[string]any, name string, want any) {
	t.Helper()
	got, _ := json.Marshal(claims[name])
	w, _ := json.Marshal(want)
	if _, ok := claims[name]; !ok && want != nil {
		t.Errorf("claim %s is missing, want %s", name, w)
		return
	}
	if !bytes.Equal(got, w) {
		t.Errorf("claim %s = %s, want %s", name, got, w)
	}
}

// lifetime is exp - iat in seconds.
func lifetime(claims map[string]any) int64 {
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	return int64(exp - iat)
}

// TestProfiles runs the example of docs/profiles.md and docs/exchange.md:
// jwt-up started with profiles/jwt-up.yaml, tokens checked by check.py
// (PyJWT) as each upstream would, incoming tokens issued by idp.py.
func TestProfiles(t *testing.T) {
	t.Parallel()
	idpScript, checkScript := idpScripts(t)
	p := newIDP(t, idpScript)
	s, _ := startExample(t, p)
	e := &example{s: s, idp: p, up: upstream{checkScript, s}}

	// refused goes first: it makes jwt-up fetch the issuer's keys for an
	// unknown kid, and rotation must wait jwks_min_refetch after that.
	t.Run("refused", e.refused)
	t.Run("audiences", e.audiences)
	t.Run("resign", e.resign)
	t.Run("binding", e.binding)
	t.Run("rotation", e.rotation)
}

// example is one jwt-up running the example, with its issuer.
type example struct {
	s   *jwtuptest.Server
	idp *idp
	up  upstream
}

// audienceCase is one mint request and what the upstream must see.
type audienceCase struct {
	name     string
	req      map[string]any
	status   int    // 0: 200
	slug     string // problem type when refused
	upstream checkArgs
	claims   func(t *testing.T, claims map[string]any)
}

// audiences mints for each audience of the file, and for others.
func (e *example) audiences(t *testing.T) {
	bodyA := writeBody(t, `{"amount": 100, "currency": "EUR"}`)
	consumer := map[string]any{"id": "4e1c"}
	bound := map[string]any{"method": "POST", "path": "/payments?dry_run=1",
		"body_sha256": digestHex(t, bodyA)}

	cases := []audienceCase{
		{name: "orders-api is a JWT with tenant acme",
			req:      map[string]any{"consumer": consumer, "audience": "orders-api"},
			upstream: checkArgs{audience: "orders-api", typ: "JWT"},
			claims: func(t *testing.T, c map[string]any) {
				wantClaim(t, c, "tenant", "acme")
				wantClaim(t, c, "client_id", nil)
				wantClaim(t, c, "txn", nil)
				if got := lifetime(c); got != 300 {
					t.Errorf("exp - iat = %d, want the default 300", got)
				}
			}},
		{name: "orders-api takes region",
			req: map[string]any{"consumer": consumer, "audience": "orders-api",
				"claims": map[string]any{"region": "eu"}},
			upstream: checkArgs{audience: "orders-api", typ: "JWT"},
			claims: func(t *testing.T, c map[string]any) {
				wantClaim(t, c, "region", "eu")
				wantClaim(t, c, "tenant", "acme")
			}},
		{name: "orders-api refuses another claim",
			req: map[string]any{"consumer": consumer, "audience": "orders-api",
				"claims": map[string]any{"plan": "gold"}},
			status: http.StatusUnprocessableEntity, slug: "claim-not-allowed"},
		{name: "orders-api refuses to change tenant",
			req: map[string]any{"consumer": consumer, "audience": "orders-api",
				"claims": map[string]any{"tenant": "globex"}},
			status: http.StatusUnprocessableEntity, slug: "reserved-claim"},
		{name: "billing-api is an at+jwt of two minutes",
			req:      map[string]any{"consumer": consumer, "audience": "billing-api"},
			upstream: checkArgs{audience: "billing-api", typ: "at+jwt"},
			claims: func(t *testing.T, c map[string]any) {
				wantClaim(t, c, "client_id", "4e1c")
				wantClaim(t, c, "tenant", nil)
				if got := lifetime(c); got != 120 {
					t.Errorf("exp - iat = %d, want 120", got)
				}
			}},
		{name: "billing-api names the credential as client_id",
			req: map[string]any{"consumer": consumer, "audience": "billing-api",
				"credential": map[string]any{"id": "c-9", "identifier": "key-42"}},
			upstream: checkArgs{audience: "billing-api", typ: "at+jwt"},
			claims: func(t *testing.T, c map[string]any) {
				wantClaim(t, c, "client_id", "key-42")
			}},
		{name: "billing-api names the credential id when it has no identifier",
			req: map[string]any{"consumer": consumer, "audience": "billing-api",
				"credential": map[string]any{"id": "c-9"}},
			upstream: checkArgs{audience: "billing-api", typ: "at+jwt"},
			claims: func(t *testing.T, c map[string]any) {
				wantClaim(t, c, "client_id", "c-9")
			}},
		{name: "payments-api needs a request",
			req:    map[string]any{"consumer": consumer, "audience": "payments-api"},
			status: http.StatusBadRequest, slug: "invalid-request"},
		{name: "payments-api is a txntoken+jwt bound to the request",
			req: map[string]any{"consumer": consumer, "audience": "payments-api", "request": bound},
			upstream: checkArgs{audience: "payments-api", typ: "txntoken+jwt",
				body: bodyA, method: "POST", path: "/payments?dry_run=1"},
			claims: func(t *testing.T, c map[string]any) {
				wantClaim(t, c, "txn", c["jti"])
				if got := lifetime(c); got != 60 {
					t.Errorf("exp - iat = %d, want 60", got)
				}
			}},
		{name: "an unlisted audience is refused",
			req:    map[string]any{"consumer": consumer, "audience": "inventory-api"},
			status: http.StatusForbidden, slug: "unknown-audience"},
		{name: "no audience is refused",
			req:    map[string]any{"consumer": consumer},
			status: http.StatusForbidden, slug: "unknown-audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { e.mintCase(t, tc) })
	}

	t.Run("billing-api tokens are cached", func(t *testing.T) {
		req := map[string]any{"consumer": map[string]any{"id": "cache-1"}, "audience": "billing-api"}
		if a, b := mint(t, e.s, req).mustToken(t), mint(t, e.s, req).mustToken(t); a != b {
			t.Error("two equal requests got two tokens, want the cached one twice")
		}
	})
}

// mintCase mints tc.req and checks the answer, or the token as tc's
// upstream would.
func (e *example) mintCase(t *testing.T, tc audienceCase) {
	a := mint(t, e.s, tc.req)
	if tc.status != 0 {
		t.Logf("refused: %s", a.wantProblem(t, tc.status, tc.slug))
		return
	}
	claims := e.up.accept(t, tc.upstream, a.mustToken(t))
	wantClaim(t, claims, "aud", tc.upstream.audience)
	tc.claims(t, claims)

	// An upstream expecting another type refuses the token.
	other := tc.upstream
	other.typ = nextType[other.typ]
	e.up.refuse(t, other, a.mustToken(t), "typ")
}

// nextType maps each token type to another.
var nextType = map[string]string{"JWT": "at+jwt", "at+jwt": "txntoken+jwt", "txntoken+jwt": "JWT"}

// resign re-signs tokens of the trusted issuer.
func (e *example) resign(t *testing.T) {
	email := "user-7@example.com"
	incoming := e.idp.sign(t, map[string]any{"sub": "user-7", "email": email})
	orders := checkArgs{audience: "orders-api", typ: "JWT"}

	t.Run("for its own subject", func(t *testing.T) {
		a := mint(t, e.s, map[string]any{"subject_token": incoming, "audience": "orders-api"})
		c := e.up.accept(t, orders, a.mustToken(t))
		wantClaim(t, c, "sub", "user-7")
		wantClaim(t, c, "consumer", map[string]any{"id": "user-7"})
		wantClaim(t, c, "email", email)
		wantClaim(t, c, "tenant", "acme")
		wantClaim(t, c, "act", nil)
	})
	t.Run("for a consumer acting for it", func(t *testing.T) {
		a := mint(t, e.s, map[string]any{"subject_token": incoming, "audience": "orders-api",
			"consumer": map[string]any{"id": "svc-1"}})
		c := e.up.accept(t, orders, a.mustToken(t))
		wantClaim(t, c, "sub", "svc-1")
		wantClaim(t, c, "act", map[string]any{"sub": "user-7", "iss": idpIssuer})
		wantClaim(t, c, "email", email)
	})
	for _, header := range []string{"Bearer " + incoming, incoming} {
		name := "/v1/auth, X-Subject-Token bare"
		if strings.HasPrefix(header, "Bearer ") {
			name = "/v1/auth, X-Subject-Token Bearer"
		}
		t.Run(name, func(t *testing.T) {
			a := forwardAuth(t, e.s, http.MethodGet, map[string]string{
				"X-Subject-Token": header, "X-JWT-Audience": "orders-api"})
			c := e.up.accept(t, orders, a.mustToken(t))
			wantClaim(t, c, "sub", "user-7")
			wantClaim(t, c, "email", email)
			wantClaim(t, c, "act", nil)
		})
	}
	t.Run("never outlives the incoming token", func(t *testing.T) {
		exp := time.Now().Add(90 * time.Second).Unix()
		short := e.idp.sign(t, map[string]any{"sub": "user-7", "exp": exp})
		a := mint(t, e.s, map[string]any{"subject_token": short, "audience": "billing-api"})
		c := e.up.accept(t, checkArgs{audience: "billing-api", typ: "at+jwt"}, a.mustToken(t))
		wantClaim(t, c, "exp", exp)
		wantClaim(t, c, "client_id", "user-7")
	})
}

// writeBody writes a request body to a file for check.py.
func writeBody(t *testing.T, body string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "body-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// digestHex is the SHA-256 of the file at path, in hex.
func digestHex(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// refused shows jwt-up forged and otherwise bad subject tokens.
func (e *example) refused(t *testing.T) {
	now := time.Now().Unix()
	user := map[string]any{"sub": "user-7"}
	with := func(k string, v any) map[string]any { return map[string]any{"sub": "user-7", k: v} }
	other := filepath.Join(t.TempDir(), "other")
	e.idp.run(t, "keys", other)
	otherKey, publicKey := filepath.Join(other, "idp.key"), filepath.Join(e.idp.dir, "idp.pub")

	cases := []struct {
		name, token string
		reason      string // the detail must match it
	}{
		{"another key under kid idp-1",
			e.idp.sign(t, user, "--key", otherKey, "--kid", "idp-1"), "signature"},
		{"alg none", e.idp.sign(t, user, "--alg", "none", "--kid", "idp-1"), "none"},
		{"HS256 keyed with the public key",
			e.idp.sign(t, user, "--alg", "HS256", "--key", publicKey, "--kid", "idp-1"), "HS256"},
		{"expired", e.idp.sign(t, with("exp", now-600)), "expired"},
		{"not valid yet", e.idp.sign(t, with("nbf", now+600)), "not valid yet"},
		{"another issuer", e.idp.sign(t, with("iss", "https://evil.example")), "issuer"},
		{"another audience", e.idp.sign(t, with("aud", "https://other.example")), "audience"},
		{"payload changed", jwtuptest.Tamper(t, e.idp.sign(t, user)), "signature"},
		{"unknown kid", e.idp.sign(t, user, "--kid", "idp-9"), "kid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			post := mint(t, e.s, map[string]any{"subject_token": tc.token, "audience": "orders-api"})
			get := forwardAuth(t, e.s, http.MethodGet, map[string]string{
				"X-Subject-Token": "Bearer " + tc.token, "X-JWT-Audience": "orders-api"})
			for _, a := range []answer{post, get} {
				wantRefusedSubject(t, a, tc.reason)
			}
		})
	}
}

// wantRefusedSubject wants a 401 invalid-subject-token problem whose
// detail names reason, with a WWW-Authenticate challenge.
func wantRefusedSubject(t *testing.T, a answer, reason string) {
	t.Helper()
	detail := a.wantProblem(t, http.StatusUnauthorized, "invalid-subject-token")
	if !strings.Contains(detail, reason) {
		t.Errorf("detail %q, want it to name %q", detail, reason)
	}
	if got := a.header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
		t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", got)
	}
}

// binding mints tokens bound to one request through /v1/auth.
func (e *example) binding(t *testing.T) {
	bodyA := writeBody(t, `{"amount": 100, "currency": "EUR"}`)
	bodyB := writeBody(t, `{"amount": 100000, "currency": "EUR"}`)
	path := "/payments?dry_run=1"
	headers := map[string]string{
		"X-Consumer-ID": "4e1c", "X-JWT-Audience": "payments-api",
		"X-Forwarded-Method": "POST", "X-Forwarded-Uri": path, "X-Body-SHA256": digestHex(t, bodyA),
	}
	upstream := checkArgs{audience: "payments-api", typ: "txntoken+jwt",
		body: bodyA, method: "POST", path: path}

	first := forwardAuth(t, e.s, http.MethodPost, headers).mustToken(t)
	second := forwardAuth(t, e.s, http.MethodPost, headers).mustToken(t)
	if first == second {
		t.Error("two equal bound requests got the same token; bound tokens must never be cached")
	}

	c := e.up.accept(t, upstream, first)
	wantClaim(t, c, "txn", c["jti"])
	if c2 := e.up.accept(t, upstream, second); c2["jti"] == c["jti"] {
		t.Errorf("both tokens have jti %v", c["jti"])
	}

	t.Run("another body", func(t *testing.T) {
		u := upstream
		u.body = bodyB
		e.up.refuse(t, u, first, "body_sha256")
	})
	t.Run("another method", func(t *testing.T) {
		u := upstream
		u.method = "PUT"
		e.up.refuse(t, u, first, "method")
	})
	t.Run("digest in base64url", func(t *testing.T) {
		h := cloneHeaders(headers)
		raw, _ := hex.DecodeString(h["X-Body-SHA256"])
		h["X-Body-SHA256"] = base64.RawURLEncoding.EncodeToString(raw)
		e.up.accept(t, upstream, forwardAuth(t, e.s, http.MethodPost, h).mustToken(t))
	})
	t.Run("no digest", func(t *testing.T) {
		h := cloneHeaders(headers)
		delete(h, "X-Body-SHA256")
		forwardAuth(t, e.s, http.MethodPost, h).wantProblem(t, http.StatusBadRequest, "invalid-request")
	})
	t.Run("a digest for an audience that does not bind", func(t *testing.T) {
		h := cloneHeaders(headers)
		h["X-JWT-Audience"] = "orders-api"
		forwardAuth(t, e.s, http.MethodPost, h).wantProblem(t, http.StatusBadRequest, "invalid-request")
	})
}

func cloneHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

// minRefetch reads jwks_min_refetch from jwt-up.yaml: jwt-up fetches the
// issuer's keys for an unknown kid no sooner than this after the last
// fetch.
func minRefetch(t *testing.T) time.Duration {
	t.Helper()
	setting := regexp.MustCompile(`(?m)^\s*jwks_min_refetch:\s*(\S+)`)
	m := setting.FindStringSubmatch(exampleConfig(t, exampleJWKSURL))
	if m == nil {
		t.Fatal("jwt-up.yaml sets no jwks_min_refetch")
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// rotation has the issuer sign with a new key: jwt-up, meeting its kid,
// fetches the JWKS again.
func (e *example) rotation(t *testing.T) {
	before := e.idp.sign(t, map[string]any{"sub": "user-7"})

	// jwt-up fetched the keys at start and for the unknown kid above;
	// wait until it may fetch them again.
	n, last := e.idp.fetched()
	if wait := time.Until(last.Add(minRefetch(t) + 500*time.Millisecond)); wait > 0 {
		t.Logf("waiting %s for jwks_min_refetch to pass", wait.Round(time.Millisecond))
		time.Sleep(wait)
	}

	if kid := e.idp.run(t, "rotate", e.idp.dir); kid != "idp-2" {
		t.Fatalf("idp.py rotate printed %q, want idp-2", kid)
	}
	after := e.idp.sign(t, map[string]any{"sub": "user-8"})
	if kid := jwtuptest.KID(t, after); kid != "idp-2" {
		t.Fatalf("token after rotation has kid %q, want idp-2", kid)
	}

	orders := checkArgs{audience: "orders-api", typ: "JWT"}
	c := e.up.accept(t, orders,
		mint(t, e.s, map[string]any{"subject_token": after, "audience": "orders-api"}).mustToken(t))
	wantClaim(t, c, "sub", "user-8")
	if got, _ := e.idp.fetched(); got != n+1 {
		t.Errorf("the JWKS was fetched %d times for the new kid, want once", got-n)
	}

	// The old key stays published: tokens it signed still pass.
	mint(t, e.s, map[string]any{"subject_token": before, "audience": "orders-api"}).mustToken(t)
}

// The reload log lines of jwt-up.
const (
	reloadedMsg = "reload: profiles and trusted issuers in use"
	keptMsg     = "reload: kept the profiles in use"
)

// logCount counts the log lines of s with message msg, and returns the
// last one.
func logCount(s *jwtuptest.Server, msg string) (int, map[string]any) {
	var (
		n    int
		last map[string]any
	)
	for _, line := range strings.Split(s.Log(), "\n") {
		if !strings.Contains(line, msg) {
			continue // most lines are access lines: skip them unparsed
		}
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == msg {
			n, last = n+1, entry
		}
	}
	return n, last
}

// reloadTo writes text to the settings file, sends SIGHUP and waits for
// the log line msg to appear once more; it returns that line.
func reloadTo(t *testing.T, s *jwtuptest.Server, path, text, msg string) map[string]any {
	t.Helper()
	n, _ := logCount(s, msg)
	writeWhole(t, path, text)
	if err := s.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if got, line := logCount(s, msg); got > n {
			return line
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no new %q line within 10s of SIGHUP; log:\n%s", msg, s.Log())
	return nil
}

// TestProfilesReload changes the settings file under load and sends
// SIGHUP every 50 ms: every request is answered, and every token is of
// the profiles of one version of the file or the other. A broken version
// is logged and changes nothing.
func TestProfilesReload(t *testing.T) {
	t.Parallel()
	idpScript, checkScript := idpScripts(t)
	p := newIDP(t, idpScript)
	s, path := startExample(t, p)

	acme := exampleConfig(t, p.jwksURL())
	globex := replaceOnce(t, acme, "tenant: acme", "tenant: globex")
	broken := replaceOnce(t, acme, "token_ttl: 2m", "token_ttl: 2 minutes")
	incoming := p.sign(t, map[string]any{"sub": "user-7", "email": "user-7@example.com"})

	// Each SIGHUP waits for the line of its reload, so that no two
	// signals merge into one reload and the count below is exact.
	load := startLoad(s, incoming, 4)
	signals := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); signals++ {
		time.Sleep(50 * time.Millisecond)
		if signals == 20 {
			reloadTo(t, s, path, broken, keptMsg)
			continue
		}
		reloadTo(t, s, path, []string{globex, acme}[signals%2], reloadedMsg)
	}
	res := load.stop()

	reloaded, _ := logCount(s, reloadedMsg)
	kept, _ := logCount(s, keptMsg)
	t.Logf("%d SIGHUPs, %d reloads, %d refused; %d requests: %v, tenants %v",
		signals, reloaded, kept, res.requests, res.statuses, res.tenants)
	for _, f := range res.faults {
		t.Error(f)
	}
	if res.statuses[http.StatusOK] != res.requests {
		t.Errorf("answers by status %v, want all %d 200", res.statuses, res.requests)
	}
	if res.tenants["acme"] == 0 || res.tenants["globex"] == 0 {
		t.Errorf("tenants seen %v, want both acme and globex", res.tenants)
	}
	if reloaded != signals-1 || kept != 1 {
		t.Errorf("log has %d %q and %d %q lines, want %d and 1",
			reloaded, reloadedMsg, kept, keptMsg, signals-1)
	}

	t.Run("a broken file keeps the profiles", func(t *testing.T) {
		reloadKeeps(t, upstream{checkScript, s}, path, [3]string{globex, broken, acme})
	})
}

// reloadKeeps loads the versions globex, broken and acme of the file in
// turn, and checks the tenant of a token after each: globex, globex, acme.
func reloadKeeps(t *testing.T, up upstream, path string, versions [3]string) {
	s := up.s
	globex, broken, acme := versions[0], versions[1], versions[2]
	// One consumer throughout: its cached token of one version must not
	// be handed out under the next.
	req := func(audience string) map[string]any {
		return map[string]any{"consumer": map[string]any{"id": "reload-1"}, "audience": audience}
	}
	orders := checkArgs{audience: "orders-api", typ: "JWT"}
	tenant := func() any {
		return up.accept(t, orders, mint(t, s, req("orders-api")).mustToken(t))["tenant"]
	}

	reloadTo(t, s, path, globex, reloadedMsg)
	if got := tenant(); got != "globex" {
		t.Errorf("after loading globex: tenant %v, want globex", got)
	}
	line := reloadTo(t, s, path, broken, keptMsg)
	if line["level"] != "ERROR" || !strings.Contains(fmt.Sprint(line["err"]), "token_ttl") {
		t.Errorf("log line %v, want level ERROR and an err naming token_ttl", line)
	}
	if got := tenant(); got != "globex" {
		t.Errorf("after a broken file: tenant %v, want globex still", got)
	}
	billing := checkArgs{audience: "billing-api", typ: "at+jwt"}
	c := up.accept(t, billing, mint(t, s, req("billing-api")).mustToken(t))
	if got := lifetime(c); got != 120 {
		t.Errorf("after a broken file: billing-api exp - iat = %d, want 120 still", got)
	}
	reloadTo(t, s, path, acme, reloadedMsg)
	if got := tenant(); got != "acme" {
		t.Errorf("after loading acme again: tenant %v, want acme", got)
	}
}

// loadResult sums up the answers of a load.
type loadResult struct {
	requests int
	statuses map[int]int
	tenants  map[string]int
	faults   []string // at most a few
}

// load sends mints from several goroutines until stopped.
type load struct {
	done      chan struct{}
	wg        sync.WaitGroup
	transport *http.Transport

	mu  sync.Mutex
	res loadResult
}

// startLoad starts workers goroutines that mint, in turn, for the three
// audiences and from the subject token incoming.
func startLoad(s *jwtuptest.Server, incoming string, workers int) *load {
	l := &load{done: make(chan struct{})}
	l.res.statuses, l.res.tenants = map[int]int{}, map[string]int{}
	l.transport = &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Timeout: 10 * time.Second, Transport: l.transport}
	for w := range workers {
		l.wg.Go(func() { l.work(client, s, incoming, w) })
	}
	return l
}

// stop stops the workers and returns what they saw.
func (l *load) stop() loadResult {
	close(l.done)
	l.wg.Wait()
	l.transport.CloseIdleConnections()
	return l.res
}

// loadKind is one kind of request of the load, and the typ its tokens
// must have.
type loadKind struct {
	typ string
	req func(i int) *http.Request
}

func (l *load) work(client *http.Client, s *jwtuptest.Server, incoming string, w int) {
	digest := strings.Repeat("ab", sha256.Size)
	kinds := []loadKind{
		{"JWT", func(i int) *http.Request { return mintRequest(s, loadBody(w, i, "orders-api")) }},
		{"at+jwt", func(i int) *http.Request { return mintRequest(s, loadBody(w, i, "billing-api")) }},
		{"txntoken+jwt", func(i int) *http.Request {
			return authRequest(s, http.MethodPost, map[string]string{
				"X-Consumer-ID": "load", "X-JWT-Audience": "payments-api",
				"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/payments", "X-Body-SHA256": digest})
		}},
		{"JWT", func(int) *http.Request {
			return mintRequest(s, map[string]any{"subject_token": incoming, "audience": "orders-api"})
		}},
	}
	for i := 0; ; i++ {
		for _, k := range kinds {
			select {
			case <-l.done:
				return
			default:
			}
			a, err := send(client, s, k.req(i))
			l.record(a, err, k.typ)
		}
	}
}

// loadBody is a mint request for one of a few consumers, so that the
// load has cache hits and misses.
func loadBody(w, i int, audience string) map[string]any {
	id := "load-" + strconv.Itoa(w) + "-" + strconv.Itoa(i%8)
	return map[string]any{"consumer": map[string]any{"id": id}, "audience": audience}
}

// record adds one answer to the result, checking its token's typ and,
// for orders-api, its tenant.
func (l *load) record(a answer, err error, typ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.requests++
	if err != nil {
		l.fault("request failed: %v", err)
		return
	}
	l.res.statuses[a.status]++
	tok, err := a.token()
	if err != nil {
		l.fault("%v", err)
		return
	}
	header, claims, err := tokenParts(tok)
	if err != nil {
		l.fault("%v", err)
		return
	}
	if header["typ"] != typ {
		l.fault("token for %v has typ %v, want %s", claims["aud"], header["typ"], typ)
	}
	if claims["aud"] == "orders-api" {
		tenant, _ := claims["tenant"].(string)
		if tenant != "acme" && tenant != "globex" {
			l.fault("orders-api token has tenant %v, want acme or globex", claims["tenant"])
		}
		l.res.tenants[tenant]++
	}
}

func (l *load) fault(format string, args ...any) {
	if len(l.res.faults) < 10 {
		l.res.faults = append(l.res.faults, fmt.Sprintf(format, args...))
	}
}

// tokenParts decodes the header and the claims of a compact JWS, without
// checking it: check.py does that for the tokens the test looks at
// closely.
func tokenParts(token string) (header, claims map[string]any, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("token has %d parts, want 3", len(parts))
	}
	for i, v := range []*map[string]any{&header, &claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, fmt.Errorf("token part %d: %w", i, err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			return nil, nil, fmt.Errorf("token part %d: %w", i, err)
		}
	}
	return header, claims, nil
}
