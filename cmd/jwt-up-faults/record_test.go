package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

// timeoutErr is a net.Error that says it timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// clientErr wraps err the way net/http's client does.
func clientErr(op string, err error) error {
	return &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1/tokens",
		Err: &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		want   kind
	}{
		{"token", nil, 200, kindOK},
		{"unavailable", nil, 503, kindStatus},
		{"unauthorized", nil, 401, kindStatus},
		{"refused", clientErr("dial", syscall.ECONNREFUSED), 0, kindRefused},
		{"reset on read", clientErr("read", syscall.ECONNRESET), 0, kindReset},
		{"broken pipe", clientErr("write", syscall.EPIPE), 0, kindReset},
		{"eof", &url.Error{Op: "Post", Err: io.EOF}, 0, kindClosed},
		{"idle closed", &url.Error{Op: "Post", Err: errors.New("http: server closed idle connection")}, 0, kindClosed},
		{"body cut", fmt.Errorf("read token: %w", io.ErrUnexpectedEOF), 200, kindClosed},
		{"deadline", &url.Error{Op: "Post", Err: context.DeadlineExceeded}, 0, kindTimeout},
		{"net timeout", &url.Error{Op: "Post", Err: timeoutErr{}}, 0, kindTimeout},
		{"bad json after 200", errors.New("read token: invalid character"), 200, kindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err, tt.status); got != tt.want {
				t.Errorf("classify(%v, %d) = %s, want %s", tt.err, tt.status, got, tt.want)
			}
		})
	}
}

func TestKindTransport(t *testing.T) {
	for k := kindOK; k <= kindStatus; k++ {
		want := k != kindOK && k != kindStatus
		if got := k.transport(); got != want {
			t.Errorf("%s.transport() = %v, want %v", k, got, want)
		}
	}
	if got := kind(99).String(); got != "unknown" {
		t.Errorf("kind(99) = %q, want unknown", got)
	}
}

// at returns a time ms milliseconds after a fixed start.
func at(ms int) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
}

func TestCount(t *testing.T) {
	recs := []record{
		{replica: 0, start: at(0), end: at(5), kind: kindOK},
		{replica: 1, start: at(1), end: at(9), kind: kindReset, retried: true, retry: kindOK},
		{replica: 1, start: at(2), end: at(3), kind: kindRefused, retried: true, retry: kindRefused},
		{replica: 2, start: at(4), end: at(7), kind: kindStatus, status: 503},
		{replica: 0, start: at(6), end: at(8), kind: kindOK},
	}
	got := count(recs)

	if got.sent != 5 || got.failed != 3 {
		t.Errorf("sent, failed = %d, %d; want 5, 3", got.sent, got.failed)
	}
	// The reset was mended by its retry; the refused one was not, and the
	// 503 was never retried.
	if got.afterRetry != 2 {
		t.Errorf("afterRetry = %d, want 2", got.afterRetry)
	}
	if !got.lastFailure.Equal(at(9)) {
		t.Errorf("lastFailure = %v, want %v", got.lastFailure, at(9))
	}
	if want := "1 refused, 1 reset, 1 status"; got.breakdown() != want {
		t.Errorf("breakdown = %q, want %q", got.breakdown(), want)
	}
}

func TestCountNothingFailed(t *testing.T) {
	got := count([]record{{kind: kindOK}, {kind: kindOK}})
	if got.sent != 2 || got.failed != 0 || got.afterRetry != 0 || !got.lastFailure.IsZero() {
		t.Errorf("count = %+v, want 2 sent and nothing failed", got)
	}
	if got.breakdown() != "" {
		t.Errorf("breakdown = %q, want empty", got.breakdown())
	}
	if d := got.failingFor(at(0)); d != 0 {
		t.Errorf("failingFor = %s, want 0", d)
	}
}

func TestFailingFor(t *testing.T) {
	tl := tally{lastFailure: at(250)}
	tests := []struct {
		since time.Time
		want  time.Duration
	}{
		{at(100), 150 * time.Millisecond},
		{at(250), 0},
		{at(300), 0}, // the last failure came before the fault
	}
	for _, tt := range tests {
		if got := tl.failingFor(tt.since); got != tt.want {
			t.Errorf("failingFor(%v) = %s, want %s", tt.since, got, tt.want)
		}
	}
}

func TestInFlight(t *testing.T) {
	recs := []record{
		{replica: 1, start: at(0), end: at(5), kind: kindOK},     // ended before
		{replica: 1, start: at(8), end: at(12), kind: kindOK},    // open, completed
		{replica: 1, start: at(9), end: at(11), kind: kindReset}, // open, failed
		{replica: 2, start: at(8), end: at(12), kind: kindOK},    // other replica
		{replica: 1, start: at(10), end: at(13), kind: kindOK},   // started at the fault
		{replica: 1, start: at(11), end: at(14), kind: kindOK},   // started after
	}
	open, ok := inFlight(recs, 1, at(10))
	if open != 2 || ok != 1 {
		t.Errorf("inFlight = %d open, %d ok; want 2, 1", open, ok)
	}
}
