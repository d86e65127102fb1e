package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/jwt-up/jwt-up/store"
)

var _ store.TokenCache = (*TokenCache)(nil)

// TokenCache is a store.TokenCache in process memory, bounded in entries.
// Each token leaves it when it goes stale; when the cache is full, the
// tokens least likely to be asked for again leave first.
type TokenCache struct {
	cache *otter.Cache[store.TokenKey, store.Token]

	// now is the clock that decides staleness; tests move it.
	now func() time.Time
}

// NewTokenCache returns an empty TokenCache that holds at most maxEntries
// tokens.
func NewTokenCache(maxEntries int) (*TokenCache, error) {
	if maxEntries <= 0 {
		return nil, fmt.Errorf("new token cache: max entries %d, want > 0", maxEntries)
	}

	c := &TokenCache{now: time.Now}
	expiry := otter.ExpiryWritingFunc(
		func(e otter.Entry[store.TokenKey, store.Token]) time.Duration {
			return c.ttl(e.Value)
		})
	cache, err := otter.New(&otter.Options[store.TokenKey, store.Token]{
		MaximumSize:      maxEntries,
		ExpiryCalculator: expiry,
		// Maintenance (draining read buffers, expiring) runs on the
		// goroutine that triggered it: a goroutine started per drain costs
		// more than the drain on the hit path.
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, fmt.Errorf("new token cache: %w", err)
	}
	c.cache = cache
	return c, nil
}

// ttl returns how long t has until it goes stale. otter runs it under a
// bucket lock, so it must not call the cache. Add stores no stale token, but
// time passes between its check and this call: the floor of a nanosecond
// keeps the duration positive, and Get checks staleness again anyway.
func (c *TokenCache) ttl(t store.Token) time.Duration {
	return max(t.StaleAt.Sub(c.now()), time.Nanosecond)
}

// fresh reports whether t may still be handed out.
func (c *TokenCache) fresh(t store.Token) bool {
	return c.now().Before(t.StaleAt)
}

// Get returns the token stored under k, or store.ErrNotFound if there is
// none or it has gone stale.
func (c *TokenCache) Get(ctx context.Context, k store.TokenKey) (store.Token, error) {
	t, ok := c.cache.GetIfPresent(k)
	if !ok || !c.fresh(t) {
		return store.Token{}, store.ErrNotFound
	}
	return t, nil
}

// Add stores t under k unless a fresh token is there already, and returns
// the token stored afterwards. A stale token under k counts as none and is
// replaced. A t that is itself stale is not stored: Add then returns the
// fresh token under k if there is one, else t.
func (c *TokenCache) Add(
	ctx context.Context,
	k store.TokenKey,
	t store.Token,
) (store.Token, error) {
	if !c.fresh(t) {
		got, err := c.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return t, nil
		}
		return got, err
	}

	// Compute decides under the key's lock, so concurrent Adds agree on one
	// winner, and the stale-replacement below cannot undo a fresh write
	// that landed after it looked, as SetIfAbsent then Set could.
	winner, _ := c.cache.Compute(k,
		func(old store.Token, found bool) (store.Token, otter.ComputeOp) {
			if found && c.fresh(old) {
				return old, otter.CancelOp
			}
			return t, otter.WriteOp
		})
	return winner, nil
}

// Delete drops the token stored under k, if any.
func (c *TokenCache) Delete(ctx context.Context, k store.TokenKey) error {
	c.cache.Invalidate(k)
	return nil
}

// DeleteSubject drops every token of subject.
//
// It walks every key in the cache, so it costs O(entries) rather than
// O(tokens of subject). That is acceptable here: a purge is a rare admin
// action, the cache is bounded, and a walk of a few hundred thousand keys
// in memory takes milliseconds. An index by subject would have to be kept
// in step with otter's evictions and expiries, a cost paid on every write.
// A token that another goroutine adds for subject during the walk may
// survive it.
func (c *TokenCache) DeleteSubject(ctx context.Context, subject string) error {
	for k := range c.cache.Keys() {
		if k.Subject == subject {
			c.cache.Invalidate(k)
		}
	}
	return nil
}

// Len returns about how many tokens the cache holds, for metrics and tests.
// It may count tokens that went stale but have not been cleaned up yet.
func (c *TokenCache) Len() int {
	return c.cache.EstimatedSize()
}
