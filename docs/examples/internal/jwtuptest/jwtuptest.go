// Package jwtuptest runs a real jwt-up binary for the tests of the
// examples under docs/examples: it builds ./cmd/jwt-up once per test
// binary, starts it on a loopback port with a data dir of the test's own,
// and mints tokens through its HTTP API as a gateway would.
//
// A package that uses it runs its tests through Main, which removes the
// built binary at the end:
//
//	func TestMain(m *testing.M) { os.Exit(jwtuptest.Main(m)) }
package jwtuptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store/storetest"
)

// Algorithms are the signing algorithms jwt-up offers.
var Algorithms = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Main runs the package's tests and then removes the jwt-up binary they
// built. Its result is the exit code for os.Exit.
func Main(m *testing.M) int {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// Binary returns the path of a jwt-up binary built from this module,
// building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.bin, build.err = buildBinary() })
	if build.err != nil {
		t.Fatalf("build jwt-up: %v", build.err)
	}
	return build.bin
}

func buildBinary() (string, error) {
	// go test puts the go command of its own toolchain first on PATH.
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the jwt-up module (go env GOMOD = %q)", gomod)
	}

	build.dir, err = os.MkdirTemp("", "jwtuptest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(build.dir, "jwt-up")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/jwt-up")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jwt-up: %w\n%s", err, out)
	}
	return bin, nil
}

// Server is a jwt-up process serving on a loopback port.
type Server struct {
	// URL is where it serves, without a trailing slash. It is also the
	// issuer its tokens carry.
	URL string
	// Alg is the algorithm it signs with.
	Alg string
	// GatewayKey is the key Mint presents.
	GatewayKey string

	log  *lockedBuffer
	proc *os.Process
}

// Start runs jwt-up signing with alg until the test ends, and returns
// once /healthz answers. env adds settings as "JWTUP_NAME=value" pairs;
// the JWTUP_* variables of the test's own environment are not passed on.
func Start(t testing.TB, alg string, env ...string) *Server {
	t.Helper()
	bin := Binary(t)
	addr := freeAddr(t)
	s := &Server{URL: "http://" + addr, Alg: alg, GatewayKey: randomKey(t), log: &lockedBuffer{}}

	cmd := exec.Command(bin, "serve")
	cmd.Env = append(withoutSettings(os.Environ()),
		"JWTUP_LISTEN="+addr,
		"JWTUP_ISSUER="+s.URL,
		"JWTUP_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"JWTUP_GATEWAY_KEYS="+s.GatewayKey,
		"JWTUP_SIGNING_ALG="+alg,
		"JWTUP_LOG_FORMAT=json",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jwt-up: %v", err)
	}
	s.proc = cmd.Process
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { stop(t, cmd, exited, s.log) })

	s.waitHealthy(t, exited)
	return s
}

// withoutSettings drops JWTUP_* settings a developer may have exported;
// the JWTUP_TEST_* variables are not settings and stay.
func withoutSettings(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, "JWTUP_") && !strings.HasPrefix(kv, "JWTUP_TEST_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (s *Server) waitHealthy(t testing.TB, exited <-chan error) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("jwt-up exited before it served (%v); log:\n%s", err, s.log)
		default:
		}
		if res, err := client.Get(s.URL + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("jwt-up did not answer /healthz within 60s; log:\n%s", s.log)
}

// stop ends the process the way an orchestrator would, SIGTERM first.
func stop(t testing.TB, cmd *exec.Cmd, exited <-chan error, log *lockedBuffer) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("jwt-up did not stop within 15s of SIGTERM; log:\n%s", log)
	}
}

// Signal sends sig to the jwt-up process, e.g. syscall.SIGHUP to have it
// read its profiles again.
func (s *Server) Signal(sig os.Signal) error { return s.proc.Signal(sig) }

// Log returns what the server has written so far.
func (s *Server) Log() string { return s.log.String() }

// JWKSURL is the address of the server's published key set.
func (s *Server) JWKSURL() string { return s.URL + "/.well-known/jwks.json" }

// Mint asks for a token for consumer id with the given audience, over
// POST /v1/tokens with the gateway key, and returns the compact token.
func (s *Server) Mint(t testing.TB, id, audience string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"consumer": map[string]string{"id": id},
		"audience": audience,
	})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/tokens", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.GatewayKey)
	req.Header.Set("Content-Type", "application/json")

	data, status := s.do(t, req)
	if status != http.StatusOK {
		t.Fatalf("POST /v1/tokens: status %d, body %s", status, data)
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || answer.Token == "" {
		t.Fatalf("POST /v1/tokens answered %s (%v), want a token", data, err)
	}
	return answer.Token
}

// Get fetches path from the server and wants 200.
func (s *Server) Get(t testing.TB, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, status := s.do(t, req)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", path, status, data)
	}
	return data
}

func (s *Server) do(t testing.TB, req *http.Request) ([]byte, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return data, res.StatusCode
}

// NeedTool skips the test when a tool it runs is missing, with why; when
// JWTUP_TEST_REQUIRE_SERVICES=1 it fails instead, so CI cannot pass by
// skipping. how says how to get the tool.
func NeedTool(t testing.TB, missing error, how string) {
	t.Helper()
	if missing == nil {
		return
	}
	if os.Getenv(storetest.RequireServicesEnv) == "1" {
		t.Fatalf("%v, but %s=1 requires this test to run; %s",
			missing, storetest.RequireServicesEnv, how)
	}
	t.Skipf("skipping: %v; %s", missing, how)
}

// freeAddr returns a loopback address no one listens on, most likely: the
// port is free when it returns, and jwt-up takes it a moment later.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomKey(t testing.TB) string {
	t.Helper()
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
