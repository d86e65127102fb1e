// Package tiered puts an in-process token cache in front of a shared one,
// and keeps minting going when the shared one fails: it is then skipped,
// retried now and then, and taken back by itself once it answers.
package tiered

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwt-up/jwt-up/store"
)

// Backoff bounds how long the shared cache is skipped after a failure
// before one request tries it again.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Cache is a two-level store.TokenCache: local first, then shared.
type Cache struct {
	local  store.TokenCache
	shared store.TokenCache
	log    *slog.Logger
	now    func() time.Time

	failures atomic.Uint64
	retryAt  atomic.Int64 // unix nanos; 0 while the shared cache is up

	mu      sync.Mutex // guards backoff and the up/down transitions
	backoff time.Duration
}

var _ store.TokenCache = (*Cache)(nil)

// New returns a cache reading local, then shared.
func New(local, shared store.TokenCache, log *slog.Logger) *Cache {
	return &Cache{local: local, shared: shared, log: log, now: time.Now}
}

// State is "ok" while the shared cache answers and "degraded" while it is
// skipped. When the shared cache can be pinged, State asks it, so that an
// outage shows even while every request is served from process memory.
func (c *Cache) State(ctx context.Context) string {
	if p, ok := c.shared.(pinger); ok && c.sharedUsable() {
		if err := p.Ping(ctx); err != nil {
			c.down(ctx, err)
		} else {
			c.up()
		}
	}
	if c.retryAt.Load() != 0 {
		return "degraded"
	}
	return "ok"
}

// pinger is a shared cache that can say whether it answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// Failures counts the calls to the shared cache that failed.
func (c *Cache) Failures() uint64 { return c.failures.Load() }

// Get returns the local token, else the shared one, which is then kept
// locally too. A failing shared cache reads as a miss.
func (c *Cache) Get(ctx context.Context, k store.TokenKey) (store.Token, error) {
	if t, err := c.local.Get(ctx, k); err == nil {
		return t, nil
	}
	if !c.sharedUsable() {
		return store.Token{}, store.ErrNotFound
	}
	t, err := c.shared.Get(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		c.up()
		return store.Token{}, store.ErrNotFound
	}
	if err != nil {
		c.down(ctx, err)
		return store.Token{}, store.ErrNotFound
	}
	c.up()
	return c.local.Add(ctx, k, t)
}

// Add offers t to the shared cache, whose winner is kept locally; without
// the shared cache, t is kept locally only.
func (c *Cache) Add(ctx context.Context, k store.TokenKey, t store.Token) (store.Token, error) {
	if c.sharedUsable() {
		won, err := c.shared.Add(ctx, k, t)
		if err == nil {
			c.up()
			_ = c.local.Delete(ctx, k) // a local token minted meanwhile gives way to the winner
			return c.local.Add(ctx, k, won)
		}
		c.down(ctx, err)
	}
	return c.local.Add(ctx, k, t)
}

// Delete drops k from both levels.
func (c *Cache) Delete(ctx context.Context, k store.TokenKey) error {
	if err := c.local.Delete(ctx, k); err != nil {
		return err
	}
	if !c.sharedUsable() {
		return nil
	}
	if err := c.shared.Delete(ctx, k); err != nil {
		c.down(ctx, err)
		return nil
	}
	c.up()
	return nil
}

// DeleteSubject drops a consumer's tokens from both levels. Unlike a read,
// a purge fails when the shared cache does: it would not reach the other
// replicas.
func (c *Cache) DeleteSubject(ctx context.Context, subject string) error {
	if err := c.local.DeleteSubject(ctx, subject); err != nil {
		return err
	}
	if err := c.shared.DeleteSubject(ctx, subject); err != nil {
		c.down(ctx, err)
		return err
	}
	c.up()
	return nil
}

// sharedUsable reports whether to call the shared cache: while it is up,
// and once per backoff while it is down.
func (c *Cache) sharedUsable() bool {
	at := c.retryAt.Load()
	if at == 0 {
		return true
	}
	now := c.now().UnixNano()
	// One caller wins the retry; the others skip until the next backoff.
	return now >= at && c.retryAt.CompareAndSwap(at, now+int64(maxBackoff))
}

// down records a failure, logging only the first of an outage.
func (c *Cache) down(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // the caller gave up; that says nothing of the shared cache
	}
	c.failures.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.retryAt.Load() == 0
	if first {
		c.backoff = minBackoff
		c.log.WarnContext(ctx, "shared token cache unreachable; minting goes on without it", "err", err)
	} else {
		c.backoff = min(2*c.backoff, maxBackoff)
	}
	c.retryAt.Store(c.now().Add(c.backoff).UnixNano())
}

// up records a success, logging the end of an outage.
func (c *Cache) up() {
	if c.retryAt.Load() == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retryAt.Swap(0) != 0 {
		c.log.Info("shared token cache is back")
	}
}
