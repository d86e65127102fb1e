package api_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/api"
)

// serveTest serves srv on a loopback port until the test ends.
func serveTest(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestServerTimeouts checks the limits api.Server sets.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	srv := api.Server(":0", http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 ||
		srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("api.Server leaves a limit unset: %+v", srv)
	}
}

// TestSlowHeadersCut: a client that sends its headers a byte at a time is
// cut once the read-header timeout has passed.
func TestSlowHeadersCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	srv := api.Server("", e.router)
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	addr := serveTest(t, srv)

	// The server's deadline starts when it accepts the connection: start
	// the clock before dialling, so the cut cannot seem early.
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(conn) // returns when the server hangs up
		closed <- err
	}()

	request := "GET /healthz HTTP/1.1\r\nHost: jwt-up\r\nX-Slow: " + strings.Repeat("a", 1000)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < len(request); i++ {
		select {
		case <-closed:
			if took := time.Since(start); took < srv.ReadHeaderTimeout || took > 10*srv.ReadHeaderTimeout {
				t.Errorf("cut after %s, want soon after %s", took, srv.ReadHeaderTimeout)
			}
			return
		case <-tick.C:
		}
		if _, err := conn.Write([]byte{request[i]}); err != nil {
			return // cut, as it should be
		}
	}
	t.Fatalf("the server still reads headers after %s", time.Since(start))
}

// TestHeaderSizeLimit: headers beyond the limit are refused with 431.
func TestHeaderSizeLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	srv := api.Server("", e.router)
	addr := serveTest(t, srv)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	big := strings.Repeat("a", srv.MaxHeaderBytes+8<<10)
	if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: jwt-up\r\nX-Big: %s\r\n\r\n", big); err != nil &&
		!errors.Is(err, net.ErrClosed) {
		t.Logf("write: %v (the server may hang up early)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("got status %d, want 431", resp.StatusCode)
	}
}
