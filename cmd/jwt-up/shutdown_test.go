package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// slowMint is a mint request whose body the test sends later. It asks for
// 100-continue, so that the server says when a handler waits for the body.
type slowMint struct {
	conn net.Conn
	r    *bufio.Reader
	body string
}

// startSlowMint sends the headers of a mint request and returns once the
// handler is running: it read the headers and waits for the body.
func startSlowMint(t *testing.T, s *server, gatewayKey string) *slowMint {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	m := &slowMint{conn: conn, r: bufio.NewReader(conn), body: `{"consumer":{"id":"slow"}}`}
	fmt.Fprintf(conn, "POST /v1/tokens HTTP/1.1\r\nHost: jwt-up\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		gatewayKey, len(m.body))
	resp, err := http.ReadResponse(m.r, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v, %v", resp, err)
	}
	return m
}

// finish sends the body and reads the answer.
func (m *slowMint) finish(t *testing.T) *http.Response {
	t.Helper()
	if _, err := io.WriteString(m.conn, m.body); err != nil {
		t.Fatalf("send the body: %v", err)
	}
	resp, err := http.ReadResponse(m.r, nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return resp
}

// stopAsync stops s in the background; the channel gets serve's error.
func stopAsync(s *server) <-chan error {
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	return stopped
}

// waitClosed returns once s no longer accepts connections: its shutdown
// has begun.
func waitClosed(t *testing.T, s *server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			return
		}
		conn.Close()
	}
	t.Fatal("the listener still accepts 10s after the stop")
}

// TestServeDrainsInFlightRequest stops the server, as SIGTERM does, while a
// request waits for its body: the request completes and serve returns nil.
func TestServeDrainsInFlightRequest(t *testing.T) {
	e := testEnv(t)
	s := mustStart(t, e)
	m := startSlowMint(t, s, readGatewayKey(t, e))

	stopped := stopAsync(s)
	waitClosed(t, s)
	resp := m.finish(t)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"token"`) {
		t.Errorf("in-flight mint: got %s %s, want 200 with a token", resp.Status, body)
	}
	if !resp.Close {
		t.Errorf("in-flight mint answered without Connection: close during shutdown")
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve returned %v, want nil; log:\n%s", err, s.log)
	}
	if !strings.Contains(s.log.String(), "every request finished") {
		t.Errorf("the log does not say the drain finished:\n%s", s.log)
	}
}

// TestServeNotReadyWhileDraining: from the stop on, /readyz answers 503,
// and during JWTUP_SHUTDOWN_DELAY new connections are still served.
func TestServeNotReadyWhileDraining(t *testing.T) {
	e := testEnv(t).with("JWTUP_SHUTDOWN_DELAY", "2s")
	s := mustStart(t, e)
	if resp, err := http.Get(s.url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("before the stop: /readyz %v %v, want 200", resp, err)
	}

	stopped := stopAsync(s)
	status := 0
	for deadline := time.Now().Add(2 * time.Second); status != http.StatusServiceUnavailable &&
		time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			t.Fatalf("/readyz during the shutdown delay: %v", err)
		}
		resp.Body.Close()
		status = resp.StatusCode
	}
	if status != http.StatusServiceUnavailable {
		t.Errorf("/readyz after the stop: got %d, want 503", status)
	}
	if s.mint(t, readGatewayKey(t, e), "late").Token == "" {
		t.Errorf("no token minted during the shutdown delay")
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
}

// TestServeGraceExceeded: a request still running when the grace ends is
// cut, and serve says so.
func TestServeGraceExceeded(t *testing.T) {
	e := testEnv(t).with("JWTUP_SHUTDOWN_GRACE", "200ms")
	s := mustStart(t, e)
	m := startSlowMint(t, s, readGatewayKey(t, e))

	err := s.stop()
	if err == nil || !strings.Contains(err.Error(), "JWTUP_SHUTDOWN_GRACE") {
		t.Errorf("serve returned %v, want an error naming JWTUP_SHUTDOWN_GRACE", err)
	}
	_ = m.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := m.r.ReadByte(); err == nil {
		t.Errorf("the cut request's connection is still open")
	}
}
