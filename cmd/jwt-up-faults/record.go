package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kind is how one request ended.
type kind int

const (
	kindOK      kind = iota // 200 with a token
	kindRefused             // connection refused: nothing listened on the port
	kindReset               // connection reset by the replica
	kindClosed              // connection closed before any answer (EOF)
	kindTimeout             // no answer within the request timeout
	kindOther               // any other transport error
	kindStatus              // an HTTP answer other than 200
)

var kindNames = [...]string{"ok", "refused", "reset", "closed", "timeout", "other", "status"}

// String names the kind as the notes show it.
func (k kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// transport reports whether k is a failure below HTTP: the kind of failure
// after which the load driver takes the replica out of rotation.
func (k kind) transport() bool {
	return k != kindOK && k != kindStatus
}

// classify names how a request ended from the client's error and, when
// there was an answer, its status.
func classify(err error, status int) kind {
	var netErr net.Error
	switch {
	case err == nil && status == http.StatusOK:
		return kindOK
	case err == nil:
		return kindStatus
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return kindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		// net/http returns this, unwrapped, when the server closed a
		// kept-alive connection just as a request was sent on it.
		strings.Contains(err.Error(), "server closed idle connection"):
		return kindClosed
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return kindTimeout
	}
	return kindOther
}

// record is one request the load driver sent, and how it ended.
type record struct {
	replica    int
	start, end time.Time
	kind       kind
	status     int

	// retried says a client retrying once on another replica was
	// simulated after a failure; retry is how that second request ended.
	// The retry is not counted as sent.
	retried bool
	retry   kind
}

// tally is what a scenario's records add up to.
type tally struct {
	sent, failed int
	byKind       map[kind]int

	// afterRetry counts failures that a retry on another replica did not
	// mend: what a client retrying once would have seen.
	afterRetry int

	// lastFailure is when the last failed request ended; zero if none.
	lastFailure time.Time
}

// count adds up records.
func count(recs []record) tally {
	t := tally{byKind: map[kind]int{}}
	for _, r := range recs {
		t.sent++
		if r.kind == kindOK {
			continue
		}
		t.failed++
		t.byKind[r.kind]++
		if !r.retried || r.retry != kindOK {
			t.afterRetry++
		}
		if r.end.After(t.lastFailure) {
			t.lastFailure = r.end
		}
	}
	return t
}

// breakdown lists the failures by kind in a fixed order, e.g.
// "3 refused, 1 reset".
func (t tally) breakdown() string {
	var parts []string
	for k := kindRefused; k <= kindStatus; k++ {
		if n := t.byKind[k]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+k.String())
		}
	}
	return strings.Join(parts, ", ")
}

// failingFor is how long after since requests went on failing: from since
// to the end of the last failure, zero if none failed after since.
func (t tally) failingFor(since time.Time) time.Duration {
	if t.lastFailure.After(since) {
		return t.lastFailure.Sub(since)
	}
	return 0
}

// inFlight counts the requests to replica that had started before at and
// not yet ended, and how many of those ended with a token.
func inFlight(recs []record, replica int, at time.Time) (open, ok int) {
	for _, r := range recs {
		if r.replica != replica || !r.start.Before(at) || !r.end.After(at) {
			continue
		}
		open++
		if r.kind == kindOK {
			ok++
		}
	}
	return open, ok
}
