// Package store declares the persistence contracts of jwt-up: the key store
// that holds signing keys and the token cache that holds minted tokens, with
// the record types and sentinel errors every backend shares. Backends live in
// subpackages; storetest holds the conformance suites they all run.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound means the record asked for does not exist. Callers test for
// it with errors.Is.
var ErrNotFound = errors.New("store: not found")

// KeyState is where a signing key stands in its life cycle.
type KeyState string

// The life cycle of a key: next → active → retired → removed. A revoked key
// left the cycle early, by an operator's decision.
const (
	// KeyNext is published in the JWKS but does not sign yet.
	KeyNext KeyState = "next"
	// KeyActive signs new tokens; at most one key is active at a time.
	KeyActive KeyState = "active"
	// KeyRetired no longer signs but stays published until its tokens expire.
	KeyRetired KeyState = "retired"
	// KeyRemoved is no longer published; its private part is erased.
	KeyRemoved KeyState = "removed"
	// KeyRevoked was withdrawn by an operator; its private part is erased.
	KeyRevoked KeyState = "revoked"
)

// Published reports whether keys in this state belong in the JWKS.
func (s KeyState) Published() bool {
	return s == KeyNext || s == KeyActive || s == KeyRetired
}

// Key is one signing key as stored. The private part is sealed (encrypted
// under the key-encryption key) before it reaches a backend; backends never
// see it in the clear. Backends keep times to the microsecond, in UTC, and
// give empty byte slices back as nil.
type Key struct {
	KID       string
	Alg       string
	State     KeyState
	PublicJWK []byte // JSON of the public JWK, kid and alg set
	Sealed    []byte // encrypted private key; nil once removed or revoked

	CreatedAt   time.Time
	ActivatesAt time.Time // when a next key is due to sign
	ActivatedAt time.Time // zero until it signed
	RetiredAt   time.Time // zero until it stopped signing
	RemoveAt    time.Time // when a retired key leaves the JWKS
	RemovedAt   time.Time // zero until removed or revoked
}

// ValidateKey rejects a key no backend stores: one without a kid, a kid
// seen before in the same update (seen holds the kids before it), or no
// creation time to order it by.
func ValidateKey(k Key, seen map[string]bool) error {
	switch {
	case k.KID == "":
		return errors.New("store: empty kid")
	case seen[k.KID]:
		return fmt.Errorf("store: kid %s appears twice", k.KID)
	case k.CreatedAt.IsZero():
		return fmt.Errorf("store: kid %s has no creation time", k.KID)
	}
	return nil
}

// KeyStore keeps signing keys. It exists so that the service can run on one
// SQLite file or on a PostgreSQL database shared by many replicas without
// knowing which.
//
// Implementations MUST be safe for concurrent use, and UpdateKeys MUST be
// serialised across every process that shares the store: two callers never
// run their functions on the same snapshot.
type KeyStore interface {
	// ListKeys returns every stored key, oldest first.
	ListKeys(ctx context.Context) ([]Key, error)
	// UpdateKeys reads every key under an exclusive lock, passes them to fn
	// and stores what fn returns: new kids are created, changed ones
	// updated, missing ones deleted. If fn returns an error nothing is
	// written and that error is returned. fn MUST NOT keep the slice and
	// MUST NOT call UpdateKeys: it would wait for itself. A backend may run
	// fn more than once.
	UpdateKeys(ctx context.Context, fn func([]Key) ([]Key, error)) error
	// Close releases the backend's resources.
	Close() error
}

// Token is one cached, signed token.
type Token struct {
	Subject   string    // the consumer it was minted for
	Value     string    // the compact JWS
	KID       string    // the key that signed it
	ExpiresAt time.Time // its exp claim
	StaleAt   time.Time // from then on it must not be handed out
}

// TokenKey names one cached token: the consumer and a digest of every other
// input of the mint. Shared backends keep all keys of one subject together,
// so that a purge of a consumer costs the same whatever the number of its
// tokens.
type TokenKey struct {
	Subject string
	Digest  string
}

// TokenCache keeps minted tokens until they go stale. It exists so that a
// gateway calling on every request gets the same token back instead of a
// signature per call, from process memory or a cache shared by replicas.
//
// Implementations MUST be safe for concurrent use and MUST NOT return a token
// after its StaleAt has passed by their own clock; the service checks again
// with its own.
type TokenCache interface {
	// Get returns the token stored under k, or ErrNotFound.
	Get(ctx context.Context, k TokenKey) (Token, error)
	// Add stores t under k unless a token is already there, and returns the
	// token that is stored afterwards: t, or the one that won.
	Add(ctx context.Context, k TokenKey, t Token) (Token, error)
	// Delete drops the token stored under k, if any.
	Delete(ctx context.Context, k TokenKey) error
	// DeleteSubject drops every token of one consumer.
	DeleteSubject(ctx context.Context, subject string) error
}
