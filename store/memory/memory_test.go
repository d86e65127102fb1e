package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/storetest"
)

func TestKeyStore(t *testing.T) {
	storetest.RunKeyStore(t, func(t *testing.T) store.KeyStore {
		return NewKeyStore()
	})
}

func TestTokenCache(t *testing.T) {
	storetest.RunTokenCache(t, func(t *testing.T) store.TokenCache {
		return newTokenCache(t, 1000)
	})
}

func newTokenCache(t *testing.T, max int) *TokenCache {
	t.Helper()
	c, err := NewTokenCache(max)
	if err != nil {
		t.Fatalf("NewTokenCache(%d): %v", max, err)
	}
	t.Cleanup(func() { c.cache.StopAllGoroutines() })
	return c
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestTokenCacheGoesStale(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	c := newTokenCache(t, 100)
	c.now = clock.Now

	k := store.TokenKey{Subject: "svc", Digest: "d1"}
	old := store.Token{Subject: "svc", Value: "old", StaleAt: clock.Now().Add(time.Minute)}
	if _, err := c.Add(ctx, k, old); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	if _, err := c.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get at StaleAt = %v, want store.ErrNotFound", err)
	}

	// The stale token no longer wins: a new one replaces it.
	fresh := store.Token{Subject: "svc", Value: "fresh", StaleAt: clock.Now().Add(time.Minute)}
	got, err := c.Add(ctx, k, fresh)
	if err != nil || got.Value != fresh.Value {
		t.Fatalf("Add over a stale token = %q, %v; want %q, nil", got.Value, err, fresh.Value)
	}
	if got, err := c.Get(ctx, k); err != nil || got.Value != fresh.Value {
		t.Errorf("Get = %q, %v; want %q, nil", got.Value, err, fresh.Value)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	ctx := context.Background()
	c := newTokenCache(t, 10)
	for i := range 1000 {
		k := store.TokenKey{Subject: "svc", Digest: fmt.Sprint(i)}
		tok := store.Token{Value: k.Digest, StaleAt: time.Now().Add(time.Hour)}
		if _, err := c.Add(ctx, k, tok); err != nil {
			t.Fatal(err)
		}
	}
	c.cache.CleanUp()
	if n := c.Len(); n > 10 {
		t.Errorf("Len after 1000 adds into a cache of 10 = %d, want <= 10", n)
	}
}

func TestNewTokenCacheRejectsNoRoom(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewTokenCache(n); err == nil {
			t.Errorf("NewTokenCache(%d) succeeded, want an error", n)
		}
	}
}

func TestNoCacheKeepsNothing(t *testing.T) {
	ctx := context.Background()
	var c NoCache
	k := store.TokenKey{Subject: "alice", Digest: "d"}
	tok := store.Token{Subject: "alice", Value: "v", StaleAt: time.Now().Add(time.Minute)}
	if got, err := c.Add(ctx, k, tok); err != nil || got != tok {
		t.Fatalf("Add = %+v, %v; want the token back", got, err)
	}
	if _, err := c.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Add: err = %v, want ErrNotFound", err)
	}
}
