// Package examples_test runs the examples under docs/examples against a
// live jwt-up: the Node.js and Python verifiers, the Grafana dashboard's
// queries against the metrics jwt-up exports, and the Swagger UI in
// headless Chromium. The Go verifier has its own test beside it.
package examples_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/docs/examples/internal/jwtuptest"
)

func TestMain(m *testing.M) { os.Exit(jwtuptest.Main(m)) }

// systemPython is Debian's interpreter, which sees the python3-jwt
// package; a python3 earlier on PATH (pyenv, a virtualenv) may not.
const systemPython = "/usr/bin/python3"

// verifier is one example verifier run as a command.
type verifier struct {
	name string
	cmd  []string // the command line, before its five arguments
}

// run calls v with the JWKS URL, issuer, audience, alg and token, and
// returns its exit status and output. token "-" sends stdin on stdin.
func (v verifier) run(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append(append([]string{}, v.cmd...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("%s: %v\n%s", v.name, err, out.String())
	return 0, ""
}

// nodeVerifier returns the Node.js example, or skips when node or its
// node_modules are missing.
func nodeVerifier(t *testing.T) verifier {
	t.Helper()
	dir, err := filepath.Abs("verify-node")
	if err != nil {
		t.Fatal(err)
	}
	_, missing := exec.LookPath("node")
	jwtuptest.NeedTool(t, missing, "install Node.js 20.19 or later (Debian: apt-get install nodejs)")
	_, missing = os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json"))
	jwtuptest.NeedTool(t, missing, "run: npm ci --prefix docs/examples/verify-node")
	return verifier{name: "node", cmd: []string{"node", filepath.Join(dir, "verify.mjs")}}
}

// pythonVerifier returns the Python example, or skips when Debian's
// python3 with PyJWT and cryptography is missing.
func pythonVerifier(t *testing.T) verifier {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("verify-python", "verify.py"))
	if err != nil {
		t.Fatal(err)
	}
	var missing error
	if out, err := exec.Command(systemPython, "-c", "import jwt, cryptography").CombinedOutput(); err != nil {
		missing = fmt.Errorf("%s cannot import jwt and cryptography: %v: %s", systemPython, err, bytes.TrimSpace(out))
	}
	jwtuptest.NeedTool(t, missing, "run: apt-get install -y python3-jwt python3-cryptography")
	return verifier{name: "python", cmd: []string{systemPython, script}}
}

func verifiers(t *testing.T) []verifier {
	t.Helper()
	return []verifier{nodeVerifier(t), pythonVerifier(t)}
}

// TestVerifiers runs each example verifier against a live jwt-up per
// algorithm: a token it minted passes, and each way a token can be wrong
// is refused with a reason that names it.
func TestVerifiers(t *testing.T) {
	vs := verifiers(t)
	for _, alg := range jwtuptest.Algorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			testVerifiers(t, vs, alg)
		})
	}
}

// verifyCase is one token shown to every verifier.
type verifyCase struct {
	name     string
	token    string
	stdin    bool   // pass the token on stdin, as "-"
	issuer   string // expected; default the server's
	alg      string // pinned; default the server's
	wantExit int
	reason   *regexp.Regexp // the verifier's line must match, when set
}

func testVerifiers(t *testing.T, vs []verifier, alg string) {
	s := jwtuptest.Start(t, alg)
	good := s.Mint(t, "4e1c", "orders-api")
	kid := jwtuptest.KID(t, good)
	other := "ES256"
	if alg == other {
		other = "ES384"
	}

	forged := jwtuptest.Forge(t, alg, kid, s.URL, "orders-api")
	stranger := jwtuptest.Forge(t, alg, "not-published", s.URL, "orders-api")
	names := func(re string) *regexp.Regexp { return regexp.MustCompile("(?i)" + re) }

	cases := []verifyCase{
		{name: "good", token: good},
		{name: "good, on stdin", token: good, stdin: true},
		{name: "wrong audience", token: s.Mint(t, "4e1c", "billing-api"), wantExit: 1, reason: names("aud")},
		{name: "wrong issuer", token: good, issuer: "https://other.example", wantExit: 1, reason: names("iss")},
		{name: "another algorithm pinned", token: good, alg: other, wantExit: 1, reason: names("alg")},
		{name: "alg none", token: jwtuptest.Unsigned(t, good), wantExit: 1, reason: names("alg")},
		{name: "payload changed", token: jwtuptest.Tamper(t, good), wantExit: 1, reason: names("signature")},
		{name: "another key, published kid", token: forged, wantExit: 1, reason: names("signature")},
		{name: "another key, unknown kid", token: stranger, wantExit: 1, reason: names("key")},
	}
	for _, v := range vs {
		for _, tc := range cases {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				checkVerifier(t, v, s, tc)
			})
		}
	}
}

func checkVerifier(t *testing.T, v verifier, s *jwtuptest.Server, tc verifyCase) {
	t.Helper()
	issuer, alg := s.URL, s.Alg
	if tc.issuer != "" {
		issuer = tc.issuer
	}
	if tc.alg != "" {
		alg = tc.alg
	}
	token, stdin := tc.token, ""
	if tc.stdin {
		token, stdin = "-", tc.token+"\n"
	}

	code, out := v.run(t, stdin, s.JWKSURL(), issuer, "orders-api", alg, token)
	t.Logf("%s exited %d: %s", v.name, code, strings.TrimSpace(out))
	if code != tc.wantExit {
		t.Fatalf("%s exited %d, want %d; output:\n%s", v.name, code, tc.wantExit, out)
	}
	prefix := "valid: "
	if tc.wantExit != 0 {
		prefix = "invalid: "
	}
	if !strings.HasPrefix(out, prefix) {
		t.Errorf("%s printed %q, want a line starting %q", v.name, out, prefix)
	}
	if tc.reason != nil && !tc.reason.MatchString(out) {
		t.Errorf("%s printed %q, want a reason matching %s", v.name, out, tc.reason)
	}
}

// TestVerifiersExpired shows each verifier a token past its exp. jwt-up
// mints tokens of one second here, and the test waits that second out.
func TestVerifiersExpired(t *testing.T) {
	vs := verifiers(t)
	s := jwtuptest.Start(t, "EdDSA", "JWTUP_TOKEN_TTL=1s", "JWTUP_REFRESH_MARGIN=0s")
	token := s.Mint(t, "4e1c", "orders-api")

	// exp is in whole seconds and a verifier refuses a token from the
	// second of its exp on; two seconds is past it whatever the rounding.
	time.Sleep(2 * time.Second)
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			checkVerifier(t, v, s, verifyCase{
				token: token, wantExit: 1, reason: regexp.MustCompile(`(?i)exp`),
			})
		})
	}
}
