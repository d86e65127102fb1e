package memory

import (
	"context"

	"github.com/jwt-up/jwt-up/store"
)

var _ store.TokenCache = NoCache{}

// NoCache is a store.TokenCache that keeps nothing: it stands in for the
// in-process cache when only the shared one is wanted, to see what the
// shared one costs alone.
type NoCache struct{}

// Get finds nothing.
func (NoCache) Get(context.Context, store.TokenKey) (store.Token, error) {
	return store.Token{}, store.ErrNotFound
}

// Add keeps nothing and returns t.
func (NoCache) Add(_ context.Context, _ store.TokenKey, t store.Token) (store.Token, error) {
	return t, nil
}

// Delete has nothing to drop.
func (NoCache) Delete(context.Context, store.TokenKey) error { return nil }

// DeleteSubject has nothing to drop.
func (NoCache) DeleteSubject(context.Context, string) error { return nil }
