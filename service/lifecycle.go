package service

import (
	"time"

	"github.com/jwt-up/jwt-up/store"
)

// plan applies every life-cycle step that is due at now:
//   - retired keys whose tokens have all expired leave the JWKS;
//   - the next key takes over when its time has come, or at once when no
//     key signs;
//   - an empty store gets a first key that signs at once;
//   - there is always one next key, published a rotation ahead;
//   - a change of the configured algorithm is honoured one JWKS max-age
//     after it was seen.
//
// It returns the new key set and what changed; no events means no change.
func (m *KeyManager) plan(keys []store.Key, now time.Time, newKey func() (store.Key, error)) ([]store.Key, []KeyEvent, error) {
	var events []KeyEvent
	for i, k := range keys {
		if k.State == store.KeyRetired && !now.Before(k.RemoveAt) {
			keys[i] = erase(k, store.KeyRemoved, now)
			events = append(events, KeyEvent{KID: k.KID, Alg: k.Alg, Event: "removed"})
		}
	}

	active, next := indexState(keys, store.KeyActive), indexState(keys, store.KeyNext)
	if next >= 0 && (active < 0 || !now.Before(keys[next].ActivatesAt)) {
		if active >= 0 {
			keys[active] = m.retire(keys[active], now)
			events = append(events, KeyEvent{KID: keys[active].KID, Alg: keys[active].Alg,
				Event: "retired", NextAt: keys[active].RemoveAt})
		}
		keys[next] = activate(keys[next], now)
		events = append(events, KeyEvent{KID: keys[next].KID, Alg: keys[next].Alg, Event: "activated"})
		active, next = next, -1
	}

	if active < 0 {
		k, err := newKey()
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, activate(k, now))
		active = len(keys) - 1
		events = append(events, KeyEvent{KID: k.KID, Alg: k.Alg, Event: "created"},
			KeyEvent{KID: k.KID, Alg: k.Alg, Event: "activated"})
	}

	// A next key of an algorithm no longer configured is replaced.
	if next >= 0 && keys[next].Alg != m.cfg.Alg {
		keys[next] = erase(keys[next], store.KeyRemoved, now)
		events = append(events, KeyEvent{KID: keys[next].KID, Alg: keys[next].Alg, Event: "removed"})
		next = -1
	}

	if next < 0 {
		k, err := newKey()
		if err != nil {
			return nil, nil, err
		}
		k.ActivatesAt = later(now.Add(m.cfg.JWKSMaxAge), keys[active].ActivatedAt.Add(m.cfg.Rotation))
		keys = append(keys, k)
		next = len(keys) - 1
		events = append(events, KeyEvent{KID: k.KID, Alg: k.Alg, Event: "created", NextAt: k.ActivatesAt})
	}

	// The signing key is of an algorithm no longer configured: let the next
	// key take over as soon as verifiers can know it.
	if keys[active].Alg != m.cfg.Alg {
		soonest := keys[next].CreatedAt.Add(m.cfg.JWKSMaxAge)
		if keys[next].ActivatesAt.After(soonest) {
			keys[next].ActivatesAt = soonest
			events = append(events, KeyEvent{KID: keys[next].KID, Alg: keys[next].Alg,
				Event: "rescheduled", NextAt: soonest})
		}
	}
	return keys, events, nil
}

// stage puts k into keys, as the next key (it signs after one JWKS max-age,
// replacing a pending next key) or, if immediate, as the active key.
func (m *KeyManager) stage(keys []store.Key, k store.Key, now time.Time, immediate bool) ([]store.Key, []KeyEvent) {
	events := []KeyEvent{{KID: k.KID, Alg: k.Alg, Event: "created"}}
	if !immediate {
		if n := indexState(keys, store.KeyNext); n >= 0 {
			keys[n] = erase(keys[n], store.KeyRemoved, now)
			events = append(events, KeyEvent{KID: keys[n].KID, Alg: keys[n].Alg, Event: "removed"})
		}
		k.ActivatesAt = now.Add(m.cfg.JWKSMaxAge)
		events[0].NextAt = k.ActivatesAt
		return append(keys, k), events
	}

	if a := indexState(keys, store.KeyActive); a >= 0 {
		keys[a] = m.retire(keys[a], now)
		events = append(events, KeyEvent{KID: keys[a].KID, Alg: keys[a].Alg,
			Event: "retired", NextAt: keys[a].RemoveAt})
	}
	if n := indexState(keys, store.KeyNext); n >= 0 {
		keys[n].ActivatesAt = now.Add(m.cfg.Rotation)
	}
	k = activate(k, now)
	events = append(events, KeyEvent{KID: k.KID, Alg: k.Alg, Event: "activated"})
	return append(keys, k), events
}

// retire stops k signing; it stays published until every token it signed
// has expired, and one JWKS max-age more for verifiers' caches.
func (m *KeyManager) retire(k store.Key, now time.Time) store.Key {
	k.State = store.KeyRetired
	k.RetiredAt = now
	k.RemoveAt = now.Add(time.Duration(m.tokenTTL.Load()) + m.cfg.JWKSMaxAge)
	return k
}

func activate(k store.Key, now time.Time) store.Key {
	k.State = store.KeyActive
	k.ActivatedAt = now
	k.ActivatesAt = now
	return k
}

// erase takes k out of use for good and drops its private part.
func erase(k store.Key, state store.KeyState, now time.Time) store.Key {
	k.State = state
	k.Sealed = nil
	k.RemovedAt = now
	return k
}

func indexState(keys []store.Key, s store.KeyState) int {
	for i, k := range keys {
		if k.State == s {
			return i
		}
	}
	return -1
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// dryRunKey stands in for a new key when a plan is only computed to learn
// whether anything is due.
func dryRunKey() (store.Key, error) {
	return store.Key{KID: "dry-run", State: store.KeyNext}, nil
}
