// Package storetest holds the conformance suites of the store contracts.
// Every backend runs them from its own tests, so that all of them behave
// alike wherever the contract leaves no choice:
//
//	func TestKeyStore(t *testing.T) {
//		storetest.RunKeyStore(t, func(t *testing.T) store.KeyStore {
//			return newBackend(t)
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jwt-up/jwt-up/store"
)

// base is a fixed instant with nanoseconds, which backends cut to
// microseconds.
var base = time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.UTC)

// RunKeyStore runs the store.KeyStore conformance suite. newStore returns an
// empty store for each subtest; the suite closes it.
func RunKeyStore(t *testing.T, newStore func(t *testing.T) store.KeyStore) {
	t.Helper()

	tests := []struct {
		name string
		run  func(t *testing.T, s store.KeyStore)
	}{
		{"Empty", testEmpty},
		{"CreateAndRead", testCreateAndRead},
		{"Update", testUpdate},
		{"DeleteByOmission", testDeleteByOmission},
		{"FuncErrorWritesNothing", testFuncError},
		{"InvalidKeysWriteNothing", testInvalidKeys},
		{"OldestFirst", testOldestFirst},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ListReturnsCopies", testListReturnsCopies},
		{"FuncGetsCopies", testFuncGetsCopies},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.run(t, s)
		})
	}
}

// newKey returns a next key created at base+offset, with every field set
// but the times a next key cannot have yet.
func newKey(kid string, offset time.Duration) store.Key {
	created := base.Add(offset)
	return store.Key{
		KID:         kid,
		Alg:         "ES256",
		State:       store.KeyNext,
		PublicJWK:   []byte(`{"kty":"EC","kid":"` + kid + `"}`),
		Sealed:      []byte("sealed-" + kid),
		CreatedAt:   created,
		ActivatesAt: created.Add(time.Hour),
	}
}

// wantKeys returns keys as a backend gives them back: times cut to
// microseconds.
func wantKeys(keys ...store.Key) []store.Key {
	out := make([]store.Key, len(keys))
	for i, k := range keys {
		for _, t := range []*time.Time{
			&k.CreatedAt, &k.ActivatesAt, &k.ActivatedAt,
			&k.RetiredAt, &k.RemoveAt, &k.RemovedAt,
		} {
			*t = t.Truncate(time.Microsecond)
		}
		out[i] = k
	}
	return out
}

// put replaces every stored key by keys.
func put(t *testing.T, s store.KeyStore, keys ...store.Key) {
	t.Helper()
	err := s.UpdateKeys(context.Background(), func([]store.Key) ([]store.Key, error) {
		return keys, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
}

// checkKeys fails the test unless s lists want.
func checkKeys(t *testing.T, s store.KeyStore, want []store.Key) {
	t.Helper()
	got, err := s.ListKeys(context.Background())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ListKeys mismatch (-want +got):\n%s", diff)
	}
}

func testEmpty(t *testing.T, s store.KeyStore) {
	got, err := s.ListKeys(context.Background())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListKeys on an empty store = %d keys, want 0", len(got))
	}
}

func testCreateAndRead(t *testing.T, s store.KeyStore) {
	// One key with every time set and a sealed part, one with every
	// optional time zero and no sealed part.
	full := newKey("full", 0)
	full.State = store.KeyRetired
	full.ActivatedAt = base.Add(2 * time.Hour)
	full.RetiredAt = base.Add(3 * time.Hour)
	full.RemoveAt = base.Add(4 * time.Hour)
	full.RemovedAt = base.Add(5*time.Hour + 7)

	bare := store.Key{
		KID:       "bare",
		Alg:       "RS256",
		State:     store.KeyRevoked,
		PublicJWK: []byte(`{"kty":"RSA"}`),
		CreatedAt: base.Add(time.Second),
	}

	put(t, s, full, bare)
	checkKeys(t, s, wantKeys(full, bare))
}

func testUpdate(t *testing.T, s store.KeyStore) {
	a, b := newKey("a", 0), newKey("b", time.Second)
	put(t, s, a, b)

	// Activate b, the way rotation does: change state and times, erase
	// nothing. a stays as it was.
	err := s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
		keys[1].State = store.KeyActive
		keys[1].ActivatedAt = base.Add(time.Minute)
		keys[1].PublicJWK = []byte(`{"kty":"EC","kid":"b","use":"sig"}`)
		return keys, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	b.State = store.KeyActive
	b.ActivatedAt = base.Add(time.Minute)
	b.PublicJWK = []byte(`{"kty":"EC","kid":"b","use":"sig"}`)
	checkKeys(t, s, wantKeys(a, b))

	// Remove a: its sealed part goes, its removal time comes.
	err = s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
		keys[0].State = store.KeyRemoved
		keys[0].Sealed = nil
		keys[0].RemovedAt = base.Add(2 * time.Minute)
		return keys, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	a.State = store.KeyRemoved
	a.Sealed = nil
	a.RemovedAt = base.Add(2 * time.Minute)
	checkKeys(t, s, wantKeys(a, b))
}

func testDeleteByOmission(t *testing.T, s store.KeyStore) {
	a, b, c := newKey("a", 0), newKey("b", time.Second), newKey("c", 2*time.Second)
	put(t, s, a, b, c)

	err := s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
		return []store.Key{keys[0], keys[2]}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	checkKeys(t, s, wantKeys(a, c))

	put(t, s)
	checkKeys(t, s, nil)
}

func testFuncError(t *testing.T, s store.KeyStore) {
	a := newKey("a", 0)
	put(t, s, a)

	errFn := errors.New("fn failed")
	err := s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
		keys[0].State = store.KeyRevoked
		return append(keys, newKey("b", time.Second)), fmt.Errorf("rotate: %w", errFn)
	})
	if !errors.Is(err, errFn) {
		t.Errorf("UpdateKeys = %v, want an error that is %v", err, errFn)
	}
	checkKeys(t, s, wantKeys(a))
}

func testInvalidKeys(t *testing.T, s store.KeyStore) {
	a := newKey("a", 0)
	put(t, s, a)

	noCreated := newKey("b", 0)
	noCreated.CreatedAt = time.Time{}
	tests := []struct {
		name string
		keys []store.Key
	}{
		{"EmptyKID", []store.Key{a, newKey("", time.Second)}},
		{"DuplicateKID", []store.Key{a, newKey("b", time.Second), newKey("b", 2*time.Second)}},
		{"NoCreationTime", []store.Key{a, noCreated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.UpdateKeys(context.Background(), func([]store.Key) ([]store.Key, error) {
				return tt.keys, nil
			})
			if err == nil {
				t.Error("UpdateKeys succeeded, want an error")
			}
			checkKeys(t, s, wantKeys(a))
		})
	}
}

func testOldestFirst(t *testing.T, s store.KeyStore) {
	// Created out of order, and two in the same microsecond: those keep
	// the order they were added in.
	late := newKey("late", time.Hour)
	early := newKey("early", 0)
	twin1 := newKey("twin1", time.Minute)
	twin2 := newKey("twin2", time.Minute)
	put(t, s, late, early, twin1)

	err := s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
		return append(keys, twin2), nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	checkKeys(t, s, wantKeys(early, twin1, twin2, late))
}

func testConcurrentUpdates(t *testing.T, s store.KeyStore) {
	const writers = 8

	// Each writer appends one key named after the number of keys it read.
	// Were two functions ever run on the same snapshot, both would add the
	// same kid: one update would fail or overwrite the other, and a name
	// would be missing. Appending distinct kids would not show it, as the
	// diff of each update leaves the other's new key alone.
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = s.UpdateKeys(context.Background(), appendCounted)
		})
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: UpdateKeys: %v", i, err)
		}
	}
	want := make([]store.Key, writers)
	for i := range want {
		want[i] = countedKey(i)
	}
	checkKeys(t, s, wantKeys(want...))
}

// appendCounted appends countedKey(len(keys)) to keys.
func appendCounted(keys []store.Key) ([]store.Key, error) {
	return append(keys, countedKey(len(keys))), nil
}

// countedKey returns the key that appendCounted adds to n keys.
func countedKey(n int) store.Key {
	return newKey(fmt.Sprintf("k%d", n), time.Duration(n)*time.Second)
}

func testListReturnsCopies(t *testing.T, s store.KeyStore) {
	a := newKey("a", 0)
	put(t, s, a)

	got, err := s.ListKeys(context.Background())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	got[0].State = store.KeyRevoked
	got[0].PublicJWK[0] = 'X'
	got[0].Sealed[0] = 'X'

	checkKeys(t, s, wantKeys(a))
}

func testFuncGetsCopies(t *testing.T, s store.KeyStore) {
	a := newKey("a", 0)
	put(t, s, a)

	// fn scribbles over the sealed bytes in place, then fails: the stored
	// key must not have changed.
	errFn := errors.New("fn failed")
	err := s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
		clear(keys[0].Sealed)
		return nil, errFn
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("UpdateKeys = %v, want %v", err, errFn)
	}
	checkKeys(t, s, wantKeys(a))

	// Same in place, then success: the change must be stored.
	err = s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
		clear(keys[0].Sealed)
		return keys, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	a.Sealed = make([]byte, len(a.Sealed))
	checkKeys(t, s, wantKeys(a))
}
