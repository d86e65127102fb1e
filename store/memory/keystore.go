// Package memory keeps keys and tokens in process memory: a key store for
// tests and throwaway instances, whose keys die with the process, and a
// bounded token cache for a single instance.
package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jwt-up/jwt-up/store"
)

var _ store.KeyStore = (*KeyStore)(nil)

// KeyStore is a store.KeyStore held in memory. Keys go in and come out as
// deep copies, with times cut to microseconds in UTC as the SQL backends
// keep them, so that code tested against it sees what it would see there.
type KeyStore struct {
	// update serialises UpdateKeys. It is apart from mu so that fn may call
	// ListKeys, which then sees the keys as they were before the update.
	update sync.Mutex

	mu   sync.RWMutex
	keys []entry // oldest first
	next int64   // seq of the next new key
}

// entry is a stored key with its insertion number, which orders keys
// created at the same instant.
type entry struct {
	key store.Key
	seq int64
}

// NewKeyStore returns an empty KeyStore.
func NewKeyStore() *KeyStore {
	return &KeyStore{}
}

// ListKeys returns a copy of every key, oldest first.
func (s *KeyStore) ListKeys(ctx context.Context) ([]store.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}

	s.mu.RLock()
	defer s.mu.RUnlock()

	keys := make([]store.Key, len(s.keys))
	for i, e := range s.keys {
		keys[i] = clone(e.key)
	}
	return keys, nil
}

// UpdateKeys passes a copy of every key to fn and stores a copy of what fn
// returns. Calls are serialised; fn MUST NOT call UpdateKeys.
func (s *KeyStore) UpdateKeys(
	ctx context.Context,
	fn func([]store.Key) ([]store.Key, error),
) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update keys: %w", err)
	}

	s.update.Lock()
	defer s.update.Unlock()

	keys, err := s.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("update keys: %w", err)
	}
	keys, err = fn(keys)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	entries, err := s.merge(keys)
	if err != nil {
		return fmt.Errorf("update keys: %w", err)
	}
	s.keys = entries
	return nil
}

// merge builds the entries that replace s.keys: stored kids keep their
// seq, new ones get the next numbers in the order fn returned them. It
// changes nothing in s but next, and that only on success. The caller holds
// s.mu.
func (s *KeyStore) merge(keys []store.Key) ([]entry, error) {
	seqs := make(map[string]int64, len(s.keys))
	for _, e := range s.keys {
		seqs[e.key.KID] = e.seq
	}

	next := s.next
	seen := make(map[string]bool, len(keys))
	entries := make([]entry, len(keys))
	for i, k := range keys {
		if err := store.ValidateKey(k, seen); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		seen[k.KID] = true

		seq, ok := seqs[k.KID]
		if !ok {
			seq = next
			next++
		}
		entries[i] = entry{key: clone(k), seq: seq}
	}

	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(a.key.CreatedAt.Compare(b.key.CreatedAt), cmp.Compare(a.seq, b.seq))
	})
	s.next = next
	return entries, nil
}

// Close does nothing: the keys live as long as the KeyStore.
func (s *KeyStore) Close() error {
	return nil
}

// clone returns a deep copy of k as a SQL backend would give it back: byte
// slices of its own, empty ones as nil, times cut to microseconds in UTC.
func clone(k store.Key) store.Key {
	k.PublicJWK = cloneBytes(k.PublicJWK)
	k.Sealed = cloneBytes(k.Sealed)

	for _, t := range []*time.Time{
		&k.CreatedAt, &k.ActivatesAt, &k.ActivatedAt,
		&k.RetiredAt, &k.RemoveAt, &k.RemovedAt,
	} {
		if !t.IsZero() {
			*t = t.Truncate(time.Microsecond).UTC()
		}
	}
	return k
}

// cloneBytes copies b, returning nil for an empty slice.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
