package service

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwt-up/jwt-up/store"
)

// Errors of key management, mapped to statuses by the API.
var (
	// ErrNoSigningKey means no key can sign right now.
	ErrNoSigningKey = errors.New("no usable signing key")
	// ErrKeyNotFound means no published key has the kid asked for.
	ErrKeyNotFound = errors.New("key not found")
	// ErrKeyStoreUnavailable means the key store failed a change; signing
	// goes on with the keys held, and the change can be tried again.
	ErrKeyStoreUnavailable = errors.New("key store unavailable")
)

// errNeedKey tells the planner's caller to generate one more key outside the
// store's lock and try again.
var errNeedKey = errors.New("need a new key")

// KeyConfig is what the key manager needs to know.
type KeyConfig struct {
	Alg        string        // algorithm of new keys
	Rotation   time.Duration // how long a key signs before the next takes over
	TokenTTL   time.Duration // lifetime of tokens, for the retirement window
	JWKSMaxAge time.Duration // how long verifiers may cache the JWKS
	Refresh    time.Duration // how often the key set is read again
}

// KeyEvent is one change of the key set, for the log.
type KeyEvent struct {
	KID    string
	Alg    string
	Event  string // created, activated, retired, removed, revoked
	NextAt time.Time
}

// KeyManager owns the signing keys: it reads them from the store, opens the
// active one, publishes the JWKS and drives the life cycle
// next → active → retired → removed on its clock.
type KeyManager struct {
	store store.KeyStore
	cfg   KeyConfig
	log   *slog.Logger
	now   func() time.Time

	// sealer changes only in Rekey; addKey reads it outside mu.
	sealer atomic.Pointer[Sealer]

	ring   atomic.Pointer[keyring]
	loaded atomic.Int64 // unix nanos of the last successful read of the store

	// tokenTTL is the longest token lifetime, which a reload of the
	// profiles may lengthen; it starts as cfg.TokenTTL.
	tokenTTL atomic.Int64

	mu       sync.Mutex               // serialises loads and changes in this process
	opened   map[string]crypto.Signer // opened private keys by kid
	onChange func()                   // called after this manager changed the key set
}

// NewKeyManager returns a manager over ks. It holds no keys until Load.
func NewKeyManager(ks store.KeyStore, sealer *Sealer, cfg KeyConfig, log *slog.Logger) *KeyManager {
	m := &KeyManager{
		store:  ks,
		cfg:    cfg,
		log:    log,
		now:    time.Now,
		opened: map[string]crypto.Signer{},
	}
	m.sealer.Store(sealer)
	m.tokenTTL.Store(int64(cfg.TokenTTL))
	return m
}

// AllowTokenTTL makes room for tokens that live d: a key retired from now
// on stays published that long (plus the JWKS max-age) if that is longer
// than before. The window never shrinks, since tokens of the longer
// lifetime may still be out. Keys retired before keep their window: they
// signed nothing after they retired.
func (m *KeyManager) AllowTokenTTL(d time.Duration) {
	for {
		old := m.tokenTTL.Load()
		if int64(d) <= old || m.tokenTTL.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// SetClock replaces the manager's clock; for tests and tools.
func (m *KeyManager) SetClock(now func() time.Time) { m.now = now }

// OnChange sets a function to call after this manager changed the key set,
// so other replicas can be told to read it again at once. Set it before
// Run.
func (m *KeyManager) OnChange(fn func()) { m.onChange = fn }

// Start brings the key set up to date (creating the first keys on an empty
// store) and loads it. It fails when the stored keys cannot be opened.
func (m *KeyManager) Start(ctx context.Context) error {
	return m.Tick(ctx)
}

// Load reads and opens the key set as it is, applying no life-cycle step:
// for tools that only look.
func (m *KeyManager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	m.loaded.Store(m.now().UnixNano())
	return m.loadLocked(keys)
}

// Run repeats Tick every Refresh until ctx ends. While the store fails the
// manager goes on signing with the keys it holds and rotation waits; the
// log says so when it starts and when it ends, not on every tick.
func (m *KeyManager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Refresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := m.Tick(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing && errors.Is(err, ErrKEKMismatch):
			m.log.ErrorContext(ctx, "the stored keys do not open with this key-encryption key "+
				"(were they rekeyed?); signing goes on with the key held, rotation waits: "+
				"restart with the new JWTUP_KEK", "err", err)
		case err != nil && !failing:
			m.log.ErrorContext(ctx, "key store unreachable; signing goes on with the keys held, rotation waits", "err", err)
		case err == nil && failing:
			m.log.InfoContext(ctx, "key store is back")
		}
		failing = err != nil
	}
}

// Tick reads the key set, applies any life-cycle step that is due, and loads
// the result.
func (m *KeyManager) Tick(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	keys, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	m.loaded.Store(m.now().UnixNano())

	// Load before any change: a key-encryption key that does not open the
	// active key must stop us before we write anything sealed under it.
	if err := m.loadLocked(keys); err != nil {
		return err
	}

	// Most ticks change nothing: plan on the snapshot first, and take the
	// store's lock only when a step is due.
	if _, events, err := m.plan(slices.Clone(keys), m.now(), dryRunKey); err != nil || len(events) > 0 {
		return m.changeLocked(ctx, m.plan)
	}
	return nil
}

// Snapshot returns the current keyring; nil before the first load.
func (m *KeyManager) snapshot() *keyring { return m.ring.Load() }

// ActiveKID returns the kid of the signing key, or "" when none.
func (m *KeyManager) ActiveKID() string {
	if r := m.snapshot(); r != nil && r.active != nil {
		return r.active.kid
	}
	return ""
}

// ActiveAge returns how long the signing key has signed; zero when none.
func (m *KeyManager) ActiveAge() time.Duration {
	if r := m.snapshot(); r != nil && r.active != nil {
		return m.now().Sub(r.active.activated)
	}
	return 0
}

// JWKS returns the published key set as JSON and its ETag.
func (m *KeyManager) JWKS() (body []byte, etag string) {
	r := m.snapshot()
	if r == nil {
		return []byte(`{"keys":[]}`), `""`
	}
	return r.jwks, r.etag
}

// LastLoad returns when the store last answered a read, and how long ago
// that was by the manager's clock; the zero time if it never did.
func (m *KeyManager) LastLoad() (at time.Time, age time.Duration) {
	n := m.loaded.Load()
	if n == 0 {
		return time.Time{}, 0
	}
	at = time.Unix(0, n)
	return at, m.now().Sub(at)
}

// Keys returns every key as last loaded, private parts stripped.
func (m *KeyManager) Keys() []store.Key {
	if r := m.snapshot(); r != nil {
		return slices.Clone(r.keys)
	}
	return nil
}

// Rotate stages a new key. It signs after one JWKS max-age, so verifiers
// have it before they see it; with immediate it signs at once and the
// current key retires.
func (m *KeyManager) Rotate(ctx context.Context, immediate bool) (store.Key, error) {
	return m.addKey(ctx, nil, m.cfg.Alg, immediate)
}

// Import stages an existing private key, like Rotate does a new one. The
// key must fit the configured algorithm: a next key of another algorithm
// would be replaced by the next life-cycle step.
func (m *KeyManager) Import(ctx context.Context, priv crypto.Signer, immediate bool) (store.Key, error) {
	if err := CheckImport(priv, m.cfg.Alg); err != nil {
		return store.Key{}, err
	}
	return m.addKey(ctx, priv, m.cfg.Alg, immediate)
}

// addKey seals priv (or a key it generates when priv is nil) and puts it in
// place of the pending next key, or in place of the active key if immediate.
func (m *KeyManager) addKey(ctx context.Context, priv crypto.Signer, alg string, immediate bool) (store.Key, error) {
	if priv == nil {
		var err error
		if priv, err = GenerateKey(alg); err != nil {
			return store.Key{}, err
		}
	}
	staged, err := sealKey(m.sealer.Load(), alg, priv, m.now())
	if err != nil {
		return store.Key{}, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	err = m.changeLocked(ctx, func(keys []store.Key, now time.Time, newKey func() (store.Key, error)) ([]store.Key, []KeyEvent, error) {
		if slices.ContainsFunc(keys, func(k store.Key) bool { return k.KID == staged.KID }) {
			return nil, nil, fmt.Errorf("%w: kid %s is stored already", ErrInvalidKey, staged.KID)
		}
		keys, events := m.stage(keys, staged, now, immediate)
		keys, more, err := m.plan(keys, now, newKey)
		return keys, append(events, more...), err
	})
	if err != nil {
		return store.Key{}, err
	}
	return m.find(staged.KID)
}

// Revoke withdraws a key at once: it leaves the JWKS, its private part is
// erased and its cached tokens are no longer handed out. If it was signing,
// the next key takes over at once.
func (m *KeyManager) Revoke(ctx context.Context, kid string) (store.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.changeLocked(ctx, func(keys []store.Key, now time.Time, newKey func() (store.Key, error)) ([]store.Key, []KeyEvent, error) {
		i := slices.IndexFunc(keys, func(k store.Key) bool { return k.KID == kid && k.State.Published() })
		if i < 0 {
			return nil, nil, ErrKeyNotFound
		}
		wasActive := keys[i].State == store.KeyActive
		keys[i] = erase(keys[i], store.KeyRevoked, now)
		events := []KeyEvent{{KID: kid, Alg: keys[i].Alg, Event: "revoked"}}

		if wasActive {
			if j := indexState(keys, store.KeyNext); j >= 0 {
				keys[j] = activate(keys[j], now)
				events = append(events, KeyEvent{KID: keys[j].KID, Alg: keys[j].Alg, Event: "activated"})
			}
		}
		keys, more, err := m.plan(keys, now, newKey)
		return keys, append(events, more...), err
	})
	if err != nil {
		return store.Key{}, err
	}
	return m.find(kid)
}

// find returns the loaded key with kid.
func (m *KeyManager) find(kid string) (store.Key, error) {
	r := m.snapshot()
	for _, k := range r.keys {
		if k.KID == kid {
			return k, nil
		}
	}
	return store.Key{}, ErrKeyNotFound
}

// planFunc computes the next key set from the current one. newKey hands out
// a sealed key in state next, or errNeedKey when none is at hand.
type planFunc func(keys []store.Key, now time.Time, newKey func() (store.Key, error)) ([]store.Key, []KeyEvent, error)

// changeLocked applies fn under the store's lock, generating keys outside
// that lock when fn needs them, then loads the result and logs its events.
// m.mu must be held.
func (m *KeyManager) changeLocked(ctx context.Context, fn planFunc) error {
	// RSA key generation takes a good part of a second: never hold the
	// store's lock (and so every other replica) while doing it. fn asks for
	// keys from spares; when it runs short, generate one and try again.
	var spares []store.Key
	for {
		var events []KeyEvent
		used := 0
		newKey := func() (store.Key, error) {
			if used == len(spares) {
				return store.Key{}, errNeedKey
			}
			used++
			return spares[used-1], nil
		}

		now := m.now()
		var planErr error
		err := m.store.UpdateKeys(ctx, func(keys []store.Key) ([]store.Key, error) {
			used, events = 0, nil
			out, ev, err := fn(slices.Clone(keys), now, newKey)
			events = ev
			if err == nil {
				err = m.checkSealed(out)
			}
			planErr = err
			return out, err
		})
		if err != nil && planErr == nil {
			// The store failed, not the plan: the caller may try again.
			// The cause is logged here, as it may name hosts the client
			// has no business knowing.
			m.log.WarnContext(ctx, "change keys", "err", err)
			return fmt.Errorf("%w: the change was not made; try again", ErrKeyStoreUnavailable)
		}
		if errors.Is(err, errNeedKey) {
			k, err := m.newSealedKey(now)
			if err != nil {
				return err
			}
			spares = append(spares, k)
			continue
		}
		if err != nil {
			return err
		}

		m.loaded.Store(now.UnixNano())
		keys, err := m.store.ListKeys(ctx)
		if err != nil {
			return fmt.Errorf("list keys: %w", err)
		}
		if err := m.loadLocked(keys); err != nil {
			return err
		}
		m.logEvents(ctx, events)
		if m.onChange != nil && len(events) > 0 {
			m.onChange()
		}
		return nil
	}
}

// checkSealed makes sure every sealed key about to be stored opens with the
// manager's key-encryption key. After a rekey, a replica still on the old
// key would otherwise add keys that the others cannot open; this way it
// writes nothing until it restarts with the new one. It costs one AES-GCM
// open per key, on changes only.
func (m *KeyManager) checkSealed(keys []store.Key) error {
	s := m.sealer.Load()
	for _, k := range keys {
		if k.Sealed == nil {
			continue
		}
		plain, err := s.Open(k.KID, k.Sealed)
		clear(plain)
		if err != nil {
			return fmt.Errorf("key %s: %w", k.KID, err)
		}
	}
	return nil
}

// Rekey seals every stored private key again under to, the new
// key-encryption key, in one store update, and returns how many it sealed.
// If any key does not open with the current key-encryption key, nothing is
// written. Afterwards this manager seals and opens with to; other processes
// still holding the old key can no longer open the keys, and write none.
func (m *KeyManager) Rekey(ctx context.Context, to *Sealer) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	from := m.sealer.Load()
	n := 0
	err := m.store.UpdateKeys(ctx, func(keys []store.Key) ([]store.Key, error) {
		var err error
		n, err = resealAll(keys, from, to)
		return keys, err
	})
	if err != nil {
		return 0, fmt.Errorf("rekey: %w", err)
	}
	m.sealer.Store(to)
	m.log.InfoContext(ctx, "keys sealed under a new key-encryption key", "keys", n)
	return n, nil
}

// resealAll replaces, in place, the sealed part of every key that has one
// with the same private key sealed under to, and counts them.
func resealAll(keys []store.Key, from, to *Sealer) (int, error) {
	n := 0
	for i, k := range keys {
		if k.Sealed == nil {
			continue
		}
		sealed, err := from.reseal(to, k.KID, k.Sealed)
		if err != nil {
			return 0, fmt.Errorf("key %s: %w", k.KID, err)
		}
		keys[i].Sealed = sealed
		n++
	}
	return n, nil
}

// newSealedKey generates and seals a key of the configured algorithm.
func (m *KeyManager) newSealedKey(now time.Time) (store.Key, error) {
	priv, err := GenerateKey(m.cfg.Alg)
	if err != nil {
		return store.Key{}, err
	}
	return sealKey(m.sealer.Load(), m.cfg.Alg, priv, now)
}

// loadLocked opens the active key of keys and swaps in a new keyring.
// m.mu must be held.
func (m *KeyManager) loadLocked(keys []store.Key) error {
	var active *signingKey
	if i := indexState(keys, store.KeyActive); i >= 0 {
		k := keys[i]
		priv, ok := m.opened[k.KID]
		if !ok {
			var err error
			if priv, err = openKey(m.sealer.Load(), k); err != nil {
				return err
			}
			m.opened[k.KID] = priv
		}
		var err error
		if active, err = newSigningKey(k, priv); err != nil {
			return err
		}
	}

	// Forget opened keys that no longer sign.
	for kid := range m.opened {
		if active == nil || kid != active.kid {
			delete(m.opened, kid)
		}
	}

	ring, err := newKeyring(keys, active)
	if err != nil {
		return err
	}
	m.ring.Store(ring)
	return nil
}

func (m *KeyManager) logEvents(ctx context.Context, events []KeyEvent) {
	for _, e := range events {
		attrs := []any{"kid", e.KID, "alg", e.Alg}
		if !e.NextAt.IsZero() {
			attrs = append(attrs, "next_at", e.NextAt.UTC().Format(time.RFC3339))
		}
		m.log.InfoContext(ctx, "key "+e.Event, attrs...)
	}
}
