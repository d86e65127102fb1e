package service

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/memory"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// Start near the real time: the in-process cache's own expiry runs on
	// the real clock.
	return &clock{t: time.Now().UTC().Truncate(time.Second)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testKeyConfig = KeyConfig{
	Alg:        "ES256",
	Rotation:   24 * time.Hour,
	TokenTTL:   5 * time.Minute,
	JWKSMaxAge: 10 * time.Minute,
	Refresh:    10 * time.Second,
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestSealer(t testing.TB) *Sealer {
	t.Helper()
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestManager returns a started manager over ks (a fresh memory store
// when nil) on clk.
func newTestManager(t testing.TB, ks store.KeyStore, cfg KeyConfig, clk *clock) *KeyManager {
	t.Helper()
	if ks == nil {
		ks = memory.NewKeyStore()
	}
	m := NewKeyManager(ks, newTestSealer(t), cfg, discard())
	m.SetClock(clk.Now)
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return m
}

// byState returns the loaded keys in state s.
func byState(m *KeyManager, s store.KeyState) []store.Key {
	var out []store.Key
	for _, k := range m.Keys() {
		if k.State == s {
			out = append(out, k)
		}
	}
	return out
}

// only returns the single loaded key in state s, failing otherwise.
func only(t *testing.T, m *KeyManager, s store.KeyState) store.Key {
	t.Helper()
	keys := byState(m, s)
	if len(keys) != 1 {
		t.Fatalf("%d keys in state %s, want 1: %+v", len(keys), s, keys)
	}
	return keys[0]
}
