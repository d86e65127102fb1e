package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/jwt-up/jwt-up/store"
)

// MintConfig is what the minter needs to know.
type MintConfig struct {
	Issuer          string
	DefaultAudience string
	Profile         Profile
	TTL             time.Duration // lifetime of a token
	RefreshMargin   time.Duration // least lifetime left on a handed-out token
	ClockSkew       time.Duration // how far nbf lies before iat
}

// ErrCacheUnavailable means the token cache failed where it was needed: a
// purge that must reach every replica.
var ErrCacheUnavailable = errors.New("token cache unavailable")

// Minted is a token handed out, fresh or from the cache.
type Minted struct {
	Token     string
	KID       string
	ExpiresAt time.Time
	ExpiresIn int64 // whole seconds left
}

// Minter mints tokens, handing out a cached one while it has more than the
// refresh margin left.
type Minter struct {
	cfg     MintConfig
	keys    *KeyManager
	cache   store.TokenCache
	metrics *Metrics
	now     func() time.Time
	flight  singleflight.Group

	// profiles and verifier are swapped whole when the settings reload.
	profiles atomic.Pointer[profileSet]
	verifier atomic.Pointer[verifierRef]
}

// SubjectVerifier verifies the subject tokens of re-signing requests. It is
// an interface so that the minter's tests need no issuer.
type SubjectVerifier interface {
	Verify(ctx context.Context, compact string) (VerifiedToken, error)
}

// verifierRef holds a SubjectVerifier for an atomic swap.
type verifierRef struct{ v SubjectVerifier }

// NewMinter returns a minter signing with keys and caching in cache, every
// audience with the profile cfg describes, until SetProfiles. metrics may
// be nil.
func NewMinter(cfg MintConfig, keys *KeyManager, cache store.TokenCache, metrics *Metrics) *Minter {
	m := &Minter{cfg: cfg, keys: keys, cache: cache, metrics: metrics, now: time.Now}
	def := AudienceProfile{TTL: cfg.TTL, RefreshMargin: cfg.RefreshMargin, Claims: cfg.Profile, Type: TypeJWT}
	m.profiles.Store(&profileSet{def: compileProfile(def)})
	return m
}

// SetClock replaces the minter's clock; for tests and tools.
func (m *Minter) SetClock(now func() time.Time) { m.now = now }

// SetProfiles checks p and mints with it from now on. Requests already
// being served finish with the profiles they started with.
func (m *Minter) SetProfiles(p Profiles) error {
	set, err := newProfileSet(p)
	if err != nil {
		return err
	}
	m.profiles.Store(set)
	return nil
}

// SetVerifier sets what verifies subject tokens; nil refuses them all.
func (m *Minter) SetVerifier(v SubjectVerifier) {
	if v == nil {
		m.verifier.Store(nil)
		return
	}
	m.verifier.Store(&verifierRef{v})
}

// Mint validates r and returns a token for it: the cached one while it has
// more than the refresh margin left, else a new one. Concurrent misses for
// the same inputs sign once. Tokens bound to a request are never cached.
func (m *Minter) Mint(ctx context.Context, r MintRequest) (Minted, error) {
	if r.Audience == "" {
		r.Audience = m.cfg.DefaultAudience
	}
	p, err := m.profiles.Load().lookup(r.Audience)
	if err != nil {
		return Minted{}, err
	}
	if err := r.validate(p); err != nil {
		return Minted{}, err
	}
	var ex *exchange
	if r.SubjectToken != "" {
		if ex, err = m.exchange(ctx, p, &r); err != nil {
			return Minted{}, err
		}
	}
	if p.Binding {
		return m.mintBound(p, r, ex)
	}

	key := m.cacheKey(p, &r, ex)
	if t, ok := m.lookup(ctx, key); ok {
		return m.minted(t), nil
	}
	return m.mintShared(ctx, key, p, r, ex)
}

// mintBound signs a token bound to r's request, which is never cached. Like
// mintShared, it takes r as a copy of its own.
func (m *Minter) mintBound(p *profile, r MintRequest, ex *exchange) (Minted, error) {
	t, err := m.sign(p, &r, ex)
	if err != nil {
		return Minted{}, err
	}
	return m.minted(t), nil
}

// mintShared signs and stores a token for a cache miss, once for all the
// concurrent misses of key. It takes r as a copy of its own: signing moves
// the request to the heap, which a hit need not pay for.
func (m *Minter) mintShared(ctx context.Context, key store.TokenKey, p *profile, r MintRequest,
	ex *exchange) (Minted, error) {
	v, err, _ := m.flight.Do(key.Subject+"\x00"+key.Digest, func() (any, error) {
		return m.mintAndStore(ctx, key, p, &r, ex)
	})
	if err != nil {
		return Minted{}, err
	}
	return m.minted(v.(store.Token)), nil
}

// Purge drops every cached token of the consumer whose token subject is sub.
func (m *Minter) Purge(ctx context.Context, sub string) error {
	if err := m.cache.DeleteSubject(ctx, sub); err != nil {
		// The cause stays with the cache, which logs its outages; the
		// client learns only that the purge did not reach every replica.
		return fmt.Errorf("%w: the purge could not reach the shared cache; try again", ErrCacheUnavailable)
	}
	return nil
}

// lookup returns a cached token that may be handed out: not stale by the
// minter's clock and signed by a key that was not revoked. A cache failure
// is a miss: minting goes on without the cache.
func (m *Minter) lookup(ctx context.Context, key store.TokenKey) (store.Token, bool) {
	t, err := m.cache.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		m.metrics.cacheResult(cacheMiss)
		return store.Token{}, false
	case err != nil:
		m.metrics.cacheResult(cacheError)
		return store.Token{}, false
	}
	if !m.now().Before(t.StaleAt) || !m.keys.usable(t.KID) {
		m.metrics.cacheResult(cacheMiss)
		_ = m.cache.Delete(ctx, key) // best effort: the Add below needs the slot
		return store.Token{}, false
	}
	m.metrics.cacheResult(cacheHit)
	return t, true
}

// mintAndStore signs a new token and offers it to the cache; when another
// replica stored one first, that one is handed out instead.
func (m *Minter) mintAndStore(ctx context.Context, key store.TokenKey, p *profile, r *MintRequest,
	ex *exchange) (store.Token, error) {
	t, err := m.sign(p, r, ex)
	if err != nil {
		return store.Token{}, err
	}
	won, err := m.cache.Add(ctx, key, t)
	if err != nil {
		m.metrics.cacheResult(cacheError)
		return t, nil
	}
	if won.Value != t.Value && (!m.now().Before(won.StaleAt) || !m.keys.usable(won.KID)) {
		return t, nil
	}
	return won, nil
}

// sign mints a new token for r with the active key, shaped by p; ex is the
// verified subject token of a re-signing, or nil.
func (m *Minter) sign(p *profile, r *MintRequest, ex *exchange) (store.Token, error) {
	k := m.keys.activeKey()
	if k == nil {
		return store.Token{}, ErrNoSigningKey
	}
	jti, err := newJTI()
	if err != nil {
		return store.Token{}, err
	}

	now := m.now()
	times := claimTimes{iat: now, nbf: now.Add(-m.cfg.ClockSkew), exp: now.Add(p.TTL)}
	spec := tokenSpec{p: p, r: r, iss: m.cfg.Issuer, jti: jti, times: times}
	if ex != nil {
		// A re-signed token never outlives the one it was made from.
		if ex.expiresAt.Before(times.exp) {
			spec.times.exp = ex.expiresAt
		}
		if !spec.times.exp.After(now) {
			return store.Token{}, fmt.Errorf("%w: expired", ErrSubjectToken)
		}
		spec.act, spec.carried = ex.act, ex.carried
	}
	payload, err := spec.claims()
	if err != nil {
		return store.Token{}, err
	}

	start := time.Now()
	signed, err := k.sign(payload, p.Type)
	if err != nil {
		return store.Token{}, fmt.Errorf("sign token: %w", err)
	}
	m.metrics.signed(string(k.alg), time.Since(start))

	// exp is whole seconds in the token; the cache must agree with it.
	exp := time.Unix(spec.times.exp.Unix(), 0)
	return store.Token{
		Subject:   r.Consumer.Subject(),
		Value:     string(signed),
		KID:       k.kid,
		ExpiresAt: exp,
		StaleAt:   exp.Add(-p.RefreshMargin),
	}, nil
}

func (m *Minter) minted(t store.Token) Minted {
	left := t.ExpiresAt.Sub(m.now())
	return Minted{
		Token:     t.Value,
		KID:       t.KID,
		ExpiresAt: t.ExpiresAt.UTC(),
		ExpiresIn: int64(left / time.Second),
	}
}

// cacheKey names r's slot in the cache: its subject, and a digest of every
// input that shapes the token: the profile, the request and the identity of
// a subject token.
func (m *Minter) cacheKey(p *profile, r *MintRequest, ex *exchange) store.TokenKey {
	buf := digestBufs.Get().(*[]byte)
	b := append((*buf)[:0], p.fingerprint[:]...)
	if ex != nil {
		b = ex.appendInputs(append(b, 1))
	} else {
		b = append(b, 0)
	}
	b = appendInputs(b, r)
	sum := sha256.Sum256(b)
	*buf = b
	digestBufs.Put(buf)
	var digest [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(digest[:], sum[:])
	return store.TokenKey{Subject: r.Consumer.Subject(), Digest: string(digest[:])}
}

// digestBufs recycles the buffers inputs are encoded into: the digest runs
// on every request, hit or miss.
var digestBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendInputs encodes every input of a request without ambiguity: each
// string and list is prefixed with its length, so no two requests encode
// alike. Audience is the one after the default applied; claims come in
// name order, compacted by Validate. The claim layout is in the profile's
// fingerprint.
func appendInputs(b []byte, r *MintRequest) []byte {
	b = appendField(b, r.Consumer.ID)
	b = appendField(b, r.Consumer.Username)
	b = appendField(b, r.Consumer.CustomID)
	b = appendList(b, r.Groups)
	b = appendList(b, r.Scopes)
	if r.Credential != nil {
		b = append(b, 1)
		b = appendField(b, r.Credential.ID)
		b = appendField(b, r.Credential.Identifier)
	} else {
		b = append(b, 0)
	}
	b = appendField(b, r.AuthenticatedUserID)
	b = appendField(b, r.Audience)
	var buf [fewClaims]string
	names := r.sortedClaimNames(buf[:])
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = appendField(b, n)
		b = appendField(b, r.Claims[n])
	}
	return b
}

// appendList appends a list's length and then each of its entries.
func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendField(b, s)
	}
	return b
}

// appendField appends s after its length, so that fields written one after
// the other never read two ways ("ab" + "c" is not "a" + "bc").
func appendField[T ~string | ~[]byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// activeKey returns the key that signs now, or nil.
func (m *KeyManager) activeKey() *signingKey {
	if r := m.snapshot(); r != nil {
		return r.active
	}
	return nil
}

// usable reports whether tokens signed by kid may still be handed out.
func (m *KeyManager) usable(kid string) bool {
	r := m.snapshot()
	return r != nil && r.usable[kid]
}
