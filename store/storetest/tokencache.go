package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/store"
)

// RunTokenCache runs the store.TokenCache conformance suite. newCache
// returns an empty cache for each subtest, which the test cleans up. The
// suite uses the wall clock, as backends judge staleness by their own.
func RunTokenCache(t *testing.T, newCache func(t *testing.T) store.TokenCache) {
	t.Helper()

	tests := []struct {
		name string
		run  func(t *testing.T, c store.TokenCache)
	}{
		{"Miss", testMiss},
		{"AddThenGet", testAddThenGet},
		{"AddKeepsWinner", testAddKeepsWinner},
		{"StaleNotReturned", testStaleNotReturned},
		{"Delete", testDelete},
		{"DeleteSubject", testDeleteSubject},
		{"ConcurrentAdd", testConcurrentAdd},
		{"ConcurrentGet", testConcurrentGet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newCache(t))
		})
	}
}

// newToken returns a token for subject, fresh for an hour from now.
func newToken(subject, value string) store.Token {
	now := time.Now().Truncate(time.Second)
	return store.Token{
		Subject:   subject,
		Value:     value,
		KID:       "kid-1",
		ExpiresAt: now.Add(2 * time.Hour),
		StaleAt:   now.Add(time.Hour),
	}
}

// add stores t under k, failing the test on an error.
func add(t *testing.T, c store.TokenCache, k store.TokenKey, tok store.Token) store.Token {
	t.Helper()
	got, err := c.Add(context.Background(), k, tok)
	if err != nil {
		t.Fatalf("Add(%v): %v", k, err)
	}
	return got
}

// checkGet fails the test unless c holds want under k.
func checkGet(t *testing.T, c store.TokenCache, k store.TokenKey, want store.Token) {
	t.Helper()
	got, err := c.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get(%v): %v", k, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get(%v) mismatch (-want +got):\n%s", k, diff)
	}
}

// checkMiss fails the test unless c holds nothing under k.
func checkMiss(t *testing.T, c store.TokenCache, k store.TokenKey) {
	t.Helper()
	got, err := c.Get(context.Background(), k)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%v) = %v, %v; want store.ErrNotFound", k, got.Value, err)
	}
}

func testMiss(t *testing.T, c store.TokenCache) {
	checkMiss(t, c, store.TokenKey{Subject: "svc", Digest: "d1"})
}

func testAddThenGet(t *testing.T, c store.TokenCache) {
	k := store.TokenKey{Subject: "svc", Digest: "d1"}
	tok := newToken("svc", "token-1")

	if diff := cmp.Diff(tok, add(t, c, k, tok)); diff != "" {
		t.Errorf("Add into an empty slot mismatch (-want +got):\n%s", diff)
	}
	checkGet(t, c, k, tok)
	checkMiss(t, c, store.TokenKey{Subject: "svc", Digest: "d2"})
}

func testAddKeepsWinner(t *testing.T, c store.TokenCache) {
	k := store.TokenKey{Subject: "svc", Digest: "d1"}
	first := newToken("svc", "token-1")
	add(t, c, k, first)

	got := add(t, c, k, newToken("svc", "token-2"))
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("second Add mismatch (-want +got):\n%s", diff)
	}
	checkGet(t, c, k, first)
}

func testStaleNotReturned(t *testing.T, c store.TokenCache) {
	k := store.TokenKey{Subject: "svc", Digest: "d1"}
	stale := newToken("svc", "stale")
	stale.StaleAt = time.Now().Add(-time.Minute)

	// A token stale on arrival is not kept…
	got := add(t, c, k, stale)
	if got.Value != stale.Value {
		t.Errorf("Add of a stale token into an empty slot = %q, want %q",
			got.Value, stale.Value)
	}
	checkMiss(t, c, k)

	// …and does not displace a fresh one.
	fresh := newToken("svc", "fresh")
	add(t, c, k, fresh)
	if got := add(t, c, k, stale); got.Value != fresh.Value {
		t.Errorf("Add of a stale token over a fresh one = %q, want %q",
			got.Value, fresh.Value)
	}
	checkGet(t, c, k, fresh)
}

func testDelete(t *testing.T, c store.TokenCache) {
	k1 := store.TokenKey{Subject: "svc", Digest: "d1"}
	k2 := store.TokenKey{Subject: "svc", Digest: "d2"}
	t1, t2 := newToken("svc", "token-1"), newToken("svc", "token-2")
	add(t, c, k1, t1)
	add(t, c, k2, t2)

	if err := c.Delete(context.Background(), k1); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkMiss(t, c, k1)
	checkGet(t, c, k2, t2)

	// Deleting what is not there is no error.
	if err := c.Delete(context.Background(), k1); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}

	// The slot is free again.
	t3 := newToken("svc", "token-3")
	if got := add(t, c, k1, t3); got.Value != t3.Value {
		t.Errorf("Add after Delete = %q, want %q", got.Value, t3.Value)
	}
}

func testDeleteSubject(t *testing.T, c store.TokenCache) {
	var gone, kept []store.TokenKey
	for i := range 5 {
		d := fmt.Sprintf("d%d", i)
		gone = append(gone, store.TokenKey{Subject: "purged", Digest: d})
		kept = append(kept, store.TokenKey{Subject: "other", Digest: d})
	}
	// A subject that merely starts like the purged one must survive too.
	kept = append(kept, store.TokenKey{Subject: "purged2", Digest: "d0"})
	added := make(map[store.TokenKey]store.Token)
	for _, k := range append(gone, kept...) {
		added[k] = add(t, c, k, newToken(k.Subject, k.Subject+"/"+k.Digest))
	}

	if err := c.DeleteSubject(context.Background(), "purged"); err != nil {
		t.Fatalf("DeleteSubject: %v", err)
	}
	for _, k := range gone {
		checkMiss(t, c, k)
	}
	for _, k := range kept {
		checkGet(t, c, k, added[k])
	}

	if err := c.DeleteSubject(context.Background(), "nobody"); err != nil {
		t.Errorf("DeleteSubject of an unknown subject: %v", err)
	}
}

func testConcurrentAdd(t *testing.T, c store.TokenCache) {
	const adders = 16
	k := store.TokenKey{Subject: "svc", Digest: "d1"}

	var wg sync.WaitGroup
	got := make([]store.Token, adders)
	errs := make([]error, adders)
	for i := range adders {
		wg.Go(func() {
			got[i], errs[i] = c.Add(context.Background(), k,
				newToken("svc", fmt.Sprintf("token-%d", i)))
		})
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("adder %d: Add: %v", i, err)
		}
	}
	winner := got[0]
	for i, tok := range got {
		if tok.Value != winner.Value {
			t.Errorf("adder %d got %q, adder 0 got %q; want one winner",
				i, tok.Value, winner.Value)
		}
	}
	checkGet(t, c, k, winner)
}

// testConcurrentGet reads many keys from many goroutines at once, as hits
// do under load: each read must get its own key's token, however the
// backend shares connections or batches reads.
func testConcurrentGet(t *testing.T, c store.TokenCache) {
	const keys, readers, reads = 50, 32, 40
	for i := range keys {
		s := fmt.Sprintf("svc-%d", i)
		add(t, c, store.TokenKey{Subject: s, Digest: "d1"}, newToken(s, fmt.Sprintf("token-%d", i)))
	}

	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := range readers {
		wg.Go(func() {
			for n := range reads {
				i := (r*7 + n*13) % keys
				k := store.TokenKey{Subject: fmt.Sprintf("svc-%d", i), Digest: "d1"}
				got, err := c.Get(context.Background(), k)
				if want := fmt.Sprintf("token-%d", i); err != nil || got.Value != want || got.Subject != k.Subject {
					errs <- fmt.Errorf("reader %d: Get(%v) = %q of %q, %v; want %q", r, k, got.Value, got.Subject, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
