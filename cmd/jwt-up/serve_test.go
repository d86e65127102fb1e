package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// server is a jwt-up serve command running in process.
type server struct {
	url    string
	addr   string
	client *http.Client
	log    *syncBuffer
	stop   func() error
}

// freeAddr returns a loopback address no one listens on, most likely.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startServer runs serve with e until the test ends or stop is called. It
// returns once /healthz answers, or with the error serve stopped with.
func startServer(t *testing.T, e env) (*server, error) {
	t.Helper()
	return startServerWith(t, e, "http", http.DefaultClient)
}

// startServerWith is startServer for a server that answers client at
// scheme://addr.
func startServerWith(t *testing.T, e env, scheme string, client *http.Client) (*server, error) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	logBuf := &syncBuffer{}
	root := newRootCmd(e.get, io.Discard, logBuf)
	root.SetArgs([]string{"serve", "--listen", addr})
	var serveErr error
	done := make(chan struct{}) // closed once serveErr is set
	go func() {
		defer close(done)
		serveErr = root.ExecuteContext(ctx)
	}()

	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case <-done:
			return serveErr
		case <-time.After(30 * time.Second):
			return errors.New("serve did not stop within 30s")
		}
	})
	s := &server{url: scheme + "://" + addr, addr: addr, client: client, log: logBuf, stop: stop}
	t.Cleanup(func() { _ = stop() })

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			if serveErr == nil {
				return nil, errors.New("serve returned without error before it was stopped")
			}
			return nil, serveErr
		default:
		}
		resp, err := client.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("serve did not answer /healthz within 30s; log:\n%s", logBuf)
}

// mustStart is startServer for servers that must come up.
func mustStart(t *testing.T, e env) *server {
	t.Helper()
	s, err := startServer(t, e)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	return s
}

// mustStop stops s and fails if serve ended with an error.
func (s *server) mustStop(t *testing.T) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("serve stopped with: %v\nlog:\n%s", err, s.log)
	}
}

type minted struct {
	Token string `json:"token"`
	KID   string `json:"kid"`
}

// mint asks the server for a token for consumer id.
func (s *server) mint(t *testing.T, gatewayKey, id string) minted {
	t.Helper()
	body := fmt.Sprintf(`{"consumer":{"id":%q},"audience":"orders-api"}`, id)
	req, err := http.NewRequest(http.MethodPost, s.url+"/v1/tokens", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+gatewayKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/tokens: %s\n%s", resp.Status, data)
	}
	var m minted
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("POST /v1/tokens answered %s: %v", data, err)
	}
	return m
}

// jwks fetches the published key set.
func (s *server) jwks(t *testing.T) []byte {
	t.Helper()
	resp, err := http.Get(s.url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks.json: %s %v", resp.Status, err)
	}
	return data
}

// readFile returns a file's content or fails.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestartKeepsKeys(t *testing.T) {
	e := testEnv(t)
	dir := e["JWTUP_DATA_DIR"]

	// First start: everything is generated.
	first := mustStart(t, e)
	gatewayFile := readFile(t, filepath.Join(dir, gatewayFileName))
	kekFile := readFile(t, filepath.Join(dir, kekFileName))
	gatewayKey := strings.TrimSpace(string(gatewayFile))
	tok := first.mint(t, gatewayKey, "alice")
	jwks1 := first.jwks(t)
	if !strings.Contains(first.log.String(), "generated a gateway key") {
		t.Errorf("the first start does not say it generated a gateway key; log:\n%s", first.log)
	}
	if strings.Contains(first.log.String(), gatewayKey) {
		t.Errorf("the log holds the gateway key:\n%s", first.log)
	}
	first.mustStop(t)
	keys1 := listKeys(t, e)

	// Second start on the same data dir.
	second := mustStart(t, e)
	if strings.Contains(second.log.String(), "generated") {
		t.Errorf("the second start generated something; log:\n%s", second.log)
	}
	tok2 := second.mint(t, gatewayKey, "bob")
	if tok2.KID != tok.KID {
		t.Errorf("active kid after restart = %s, want %s", tok2.KID, tok.KID)
	}
	jwks2 := second.jwks(t)
	if !bytes.Equal(jwks2, jwks1) {
		t.Errorf("JWKS after restart differs:\nbefore %s\nafter  %s", jwks1, jwks2)
	}

	// The token of the first instance verifies against the second's JWKS.
	set, err := jwk.Parse(jwks2)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse([]byte(tok.Token), jwt.WithKeySet(set), jwt.WithValidate(true),
		jwt.WithIssuer("http://localhost:8080"), jwt.WithAudience("orders-api"))
	if err != nil {
		t.Fatalf("the first instance's token does not verify against the second's JWKS: %v", err)
	}
	if parsed.Subject() != "alice" {
		t.Errorf("sub = %q, want alice", parsed.Subject())
	}
	second.mustStop(t)

	if got := readFile(t, filepath.Join(dir, gatewayFileName)); !bytes.Equal(got, gatewayFile) {
		t.Errorf("gateway-keys file changed across the restart")
	}
	if got := readFile(t, filepath.Join(dir, kekFileName)); !bytes.Equal(got, kekFile) {
		t.Errorf("kek file changed across the restart")
	}
	if keys2 := listKeys(t, e); !equalRows(keys2, keys1) {
		t.Errorf("keys after the restart = %+v, want %+v", keys2, keys1)
	}

	// Another KEK on the same data dir: refused, naming JWTUP_KEK, and the
	// key store is left as it was.
	otherKEK := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
	wrong := e.with("JWTUP_KEK", otherKEK)
	if _, err := startServer(t, wrong); err == nil || !strings.Contains(err.Error(), "JWTUP_KEK") {
		t.Errorf("serve with another KEK: err = %v, want one naming JWTUP_KEK", err)
	}
	for _, args := range [][]string{{"keys", "list"}, {"keys", "rotate"}, {"keys", "rotate", "--immediate"}} {
		if _, _, err := run(t, wrong, args...); err == nil || !strings.Contains(err.Error(), "JWTUP_KEK") {
			t.Errorf("%s with another KEK: err = %v, want one naming JWTUP_KEK", strings.Join(args, " "), err)
		}
	}
	if keys3 := listKeys(t, e); !equalRows(keys3, keys1) {
		t.Errorf("keys after starts with another KEK = %+v, want %+v", keys3, keys1)
	}
	if got := readFile(t, filepath.Join(dir, kekFileName)); !bytes.Equal(got, kekFile) {
		t.Errorf("kek file changed by a start with another KEK")
	}
}

func TestServeLogsSettingsMasked(t *testing.T) {
	const (
		gatewayKey = "gateway-secret-0123456789"
		adminKey   = "admin-secret-0123456789"
	)
	kek := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
	e := testEnv(t).with("JWTUP_GATEWAY_KEYS", gatewayKey, "JWTUP_ADMIN_KEYS", adminKey, "JWTUP_KEK", kek)
	s := mustStart(t, e)

	// One request with an id of our own, for the access line.
	req, err := http.NewRequest(http.MethodGet, s.url+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-ID", "restart-test-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.mustStop(t)

	log := s.log.String()
	for _, secret := range []string{gatewayKey, adminKey, kek} {
		if strings.Contains(log, secret) {
			t.Errorf("log holds secret %q:\n%s", secret, log)
		}
	}

	var starting, access map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		switch {
		case m["msg"] == "starting":
			starting = m
		case m["msg"] == "request" && m["path"] == "/healthz" && m["request_id"] == "restart-test-1":
			access = m
		}
	}
	if starting == nil {
		t.Fatalf("no start-up line in the log:\n%s", log)
	}
	for k, want := range map[string]string{"gateway_keys": "<1 set>", "admin_keys": "<1 set>", "kek": "<1 set>"} {
		if starting[k] != want {
			t.Errorf("start-up line %s = %v, want %s", k, starting[k], want)
		}
	}
	if access == nil {
		t.Errorf("no access line with request_id restart-test-1 in the log:\n%s", log)
	}
}

// With the key store elsewhere and the KEK given, nothing creates the data
// dir before the gateway key is written into it.
func TestServeGeneratesGatewayKeyWithStoreElsewhere(t *testing.T) {
	root := t.TempDir()
	e := testEnv(t).with(
		"JWTUP_DATA_DIR", filepath.Join(root, "data"),
		"JWTUP_DATABASE_URL", "sqlite://"+filepath.Join(root, "keys.db"),
		"JWTUP_KEK", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)),
	)
	s, err := startServer(t, e)
	if err != nil {
		t.Fatalf("serve with the store outside the data dir and no gateway key: %v", err)
	}
	s.mustStop(t)
	if _, err := os.Stat(filepath.Join(root, "data", gatewayFileName)); err != nil {
		t.Errorf("no gateway key in the data dir: %v", err)
	}
}

func TestServeListenInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, _, err = run(t, testEnv(t), "serve", "--listen", ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "JWTUP_LISTEN") {
		t.Errorf("err = %v, want one naming JWTUP_LISTEN", err)
	}
}
