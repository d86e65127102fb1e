package tiered

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/memory"
	"github.com/jwt-up/jwt-up/store/redis"
	"github.com/jwt-up/jwt-up/store/storetest"
)

// errDown is what a switched-off shared cache returns.
var errDown = errors.New("shared cache down")

// flaky is a shared cache that fails while fail is set, and, like a cache
// across the network, when the caller's context has ended.
type flaky struct {
	store.TokenCache
	fail  atomic.Bool
	calls atomic.Int64 // every call, failed or not
}

func newFlaky(t *testing.T) *flaky {
	t.Helper()
	return &flaky{TokenCache: newMemory(t)}
}

func (f *flaky) check(ctx context.Context) error {
	f.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.fail.Load() {
		return errDown
	}
	return nil
}

func (f *flaky) Get(ctx context.Context, k store.TokenKey) (store.Token, error) {
	if err := f.check(ctx); err != nil {
		return store.Token{}, err
	}
	return f.TokenCache.Get(ctx, k)
}

func (f *flaky) Add(ctx context.Context, k store.TokenKey, t store.Token) (store.Token, error) {
	if err := f.check(ctx); err != nil {
		return store.Token{}, err
	}
	return f.TokenCache.Add(ctx, k, t)
}

func (f *flaky) Delete(ctx context.Context, k store.TokenKey) error {
	if err := f.check(ctx); err != nil {
		return err
	}
	return f.TokenCache.Delete(ctx, k)
}

func (f *flaky) DeleteSubject(ctx context.Context, subject string) error {
	if err := f.check(ctx); err != nil {
		return err
	}
	return f.TokenCache.DeleteSubject(ctx, subject)
}

func newMemory(t *testing.T) *memory.TokenCache {
	t.Helper()
	c, err := memory.NewTokenCache(1000)
	if err != nil {
		t.Fatalf("NewTokenCache: %v", err)
	}
	return c
}

// clock is a test clock that moves only when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects log output; slog handlers may write from several
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count returns how many log lines contain s.
func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for line := range strings.Lines(b.buf.String()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// rig is a tiered cache over a switchable shared cache, on a test clock.
type rig struct {
	*Cache
	local  *memory.TokenCache
	shared *flaky
	clock  *clock
	logs   *logBuffer
}

func newRig(t *testing.T, shared *flaky) *rig {
	t.Helper()
	r := &rig{
		local:  newMemory(t),
		shared: shared,
		clock:  &clock{now: time.Now()},
		logs:   &logBuffer{},
	}
	r.Cache = New(r.local, shared, slog.New(slog.NewTextHandler(r.logs, nil)))
	r.Cache.now = r.clock.Now
	return r
}

// token returns a token fresh for an hour by the wall clock, which the
// memory caches go by.
func token(subject, value string) store.Token {
	return store.Token{Subject: subject, Value: value, StaleAt: time.Now().Add(time.Hour)}
}

// mustAdd adds t under k and returns the winner, failing the test on an
// error.
func mustAdd(t *testing.T, c store.TokenCache, k store.TokenKey, tok store.Token) store.Token {
	t.Helper()
	got, err := c.Add(context.Background(), k, tok)
	if err != nil {
		t.Fatalf("Add(%v): %v", k, err)
	}
	return got
}

// checkGet fails the test unless c returns a token of value want under k.
func checkGet(t *testing.T, c store.TokenCache, k store.TokenKey, want string) {
	t.Helper()
	got, err := c.Get(context.Background(), k)
	if err != nil || got.Value != want {
		t.Errorf("Get(%v) = %q, %v; want %q", k, got.Value, err, want)
	}
}

// checkState fails the test unless c is in state want.
func checkState(t *testing.T, c *Cache, want string) {
	t.Helper()
	if got := c.State(context.Background()); got != want {
		t.Errorf("State = %q, want %q", got, want)
	}
}

func TestTokenCache(t *testing.T) {
	storetest.RunTokenCache(t, func(t *testing.T) store.TokenCache {
		return New(newMemory(t), newMemory(t), slog.New(slog.DiscardHandler))
	})
}

func TestGetFillsLocal(t *testing.T) {
	r := newRig(t, newFlaky(t))
	k := store.TokenKey{Subject: "svc", Digest: "d1"}
	mustAdd(t, r.shared.TokenCache, k, token("svc", "from-shared"))

	checkGet(t, r, k, "from-shared")
	checkGet(t, r.local, k, "from-shared")

	// Kept locally, it outlives the shared cache.
	r.shared.fail.Store(true)
	checkGet(t, r, k, "from-shared")
}

func TestOutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newFlaky(t))
	r.shared.fail.Store(true)

	// Minting goes on from process memory, without an error.
	for i := range 50 {
		k := store.TokenKey{Subject: "svc", Digest: string(rune('a' + i%26))}
		want := mustAdd(t, r, k, token("svc", k.Digest)).Value
		checkGet(t, r, k, want)
	}
	checkState(t, r.Cache, "degraded")
	if r.Failures() == 0 {
		t.Error("Failures = 0 during an outage, want at least 1")
	}
	// Within the backoff the shared cache is not called at all.
	if got := r.shared.calls.Load(); got != 1 {
		t.Errorf("shared cache called %d times within the first backoff, want 1", got)
	}

	// Retries while it is still down fail quietly.
	miss := store.TokenKey{Subject: "svc", Digest: "missing"}
	r.clock.Advance(maxBackoff)
	if _, err := r.Get(ctx, miss); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a missing key = %v, want store.ErrNotFound", err)
	}
	if got := r.shared.calls.Load(); got != 2 {
		t.Errorf("shared cache called %d times after one backoff, want 2", got)
	}
	if got := r.Failures(); got != 2 {
		t.Errorf("Failures = %d, want 2", got)
	}
	checkState(t, r.Cache, "degraded")

	// Once it answers again, the first call after the backoff takes it back.
	r.shared.fail.Store(false)
	r.clock.Advance(maxBackoff)
	for range 10 {
		if _, err := r.Get(ctx, miss); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get of a missing key = %v, want store.ErrNotFound", err)
		}
	}
	checkState(t, r.Cache, "ok")

	if n := r.logs.count("unreachable"); n != 1 {
		t.Errorf("%d log lines say unreachable, want 1:\n%s", n, r.logs.buf.String())
	}
	if n := r.logs.count("back"); n != 1 {
		t.Errorf("%d log lines say back, want 1:\n%s", n, r.logs.buf.String())
	}
}

func TestBackoffGrows(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newFlaky(t))
	r.shared.fail.Store(true)
	miss := store.TokenKey{Subject: "svc", Digest: "missing"}

	// Each failed retry doubles the wait, up to maxBackoff.
	wait := minBackoff
	for range 8 {
		before := r.shared.calls.Load()
		r.Get(ctx, miss)
		if got := r.shared.calls.Load() - before; got != 1 {
			t.Fatalf("after waiting %v: %d calls to the shared cache, want 1", wait, got)
		}

		r.clock.Advance(wait - time.Millisecond)
		r.Get(ctx, miss)
		if got := r.shared.calls.Load() - before; got != 1 {
			t.Fatalf("just before %v passed: %d calls to the shared cache, want 1", wait, got)
		}
		r.clock.Advance(time.Millisecond)
		wait = min(2*wait, maxBackoff)
	}
}

func TestOneRetryAtATime(t *testing.T) {
	r := newRig(t, newFlaky(t))
	r.shared.fail.Store(true)
	miss := store.TokenKey{Subject: "svc", Digest: "missing"}
	r.Get(context.Background(), miss)

	r.clock.Advance(maxBackoff)
	before := r.shared.calls.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { r.Get(context.Background(), miss) })
	}
	wg.Wait()
	if got := r.shared.calls.Load() - before; got != 1 {
		t.Errorf("50 calls after the backoff made %d calls to the shared cache, want 1", got)
	}
}

func TestDeleteSubjectFailsWithShared(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newFlaky(t))
	k := store.TokenKey{Subject: "svc", Digest: "d1"}
	mustAdd(t, r, k, token("svc", "token"))

	r.shared.fail.Store(true)
	if err := r.DeleteSubject(ctx, "svc"); !errors.Is(err, errDown) {
		t.Errorf("DeleteSubject with the shared cache down = %v, want %v", err, errDown)
	}
	// The local tokens are gone all the same.
	if _, err := r.local.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("local Get after the purge = %v, want store.ErrNotFound", err)
	}
	checkState(t, r.Cache, "degraded")

	r.shared.fail.Store(false)
	if err := r.DeleteSubject(ctx, "svc"); err != nil {
		t.Errorf("DeleteSubject with the shared cache back: %v", err)
	}
	checkState(t, r.Cache, "ok")
}

// TestDeleteRecovers: a Delete that gets the retry and succeeds must end
// the outage like any other call, not push the next retry back.
func TestDeleteRecovers(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newFlaky(t))
	k := store.TokenKey{Subject: "svc", Digest: "d1"}

	r.shared.fail.Store(true)
	mustAdd(t, r, k, token("svc", "token"))
	checkState(t, r.Cache, "degraded")

	r.shared.fail.Store(false)
	r.clock.Advance(maxBackoff)
	if err := r.Delete(ctx, k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkState(t, r.Cache, "ok")
}

// TestCallerCancelIsNoOutage: a caller that hangs up says nothing about
// the shared cache, and must not make every other request skip it.
func TestCallerCancelIsNoOutage(t *testing.T) {
	r := newRig(t, newFlaky(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	r.Get(ctx, store.TokenKey{Subject: "svc", Digest: "missing"})
	checkState(t, r.Cache, "ok")
	if n := r.logs.count("unreachable"); n != 0 {
		t.Errorf("a cancelled call logged unreachable:\n%s", r.logs.buf.String())
	}
}

func TestAddKeepsSharedWinner(t *testing.T) {
	shared := newFlaky(t)
	a, b := newRig(t, shared), newRig(t, shared)
	k := store.TokenKey{Subject: "svc", Digest: "d1"}

	if got := mustAdd(t, a, k, token("svc", "from-a")); got.Value != "from-a" {
		t.Fatalf("first Add = %q, want from-a", got.Value)
	}
	if got := mustAdd(t, b, k, token("svc", "from-b")); got.Value != "from-a" {
		t.Errorf("Add on the second replica = %q, want the first one's, from-a", got.Value)
	}
	checkGet(t, b.local, k, "from-a")
}

func TestLocalTokenGivesWayToSharedWinner(t *testing.T) {
	shared := newFlaky(t)
	a, b := newRig(t, shared), newRig(t, shared)
	k := store.TokenKey{Subject: "svc", Digest: "d1"}

	// b mints on its own while it cannot reach the shared cache…
	shared.fail.Store(true)
	mustAdd(t, b, k, token("svc", "from-b"))
	shared.fail.Store(false)
	mustAdd(t, a, k, token("svc", "from-a"))

	// …and takes a's token once it can again.
	b.clock.Advance(maxBackoff)
	if got := mustAdd(t, b, k, token("svc", "from-b2")); got.Value != "from-a" {
		t.Errorf("Add after the outage = %q, want the shared winner, from-a", got.Value)
	}
	checkGet(t, b, k, "from-a")
}

// TestUnreachableRedis runs the tiered cache over a real Redis client
// pointed at a port where nothing listens: no server is needed to refuse a
// connection.
func TestUnreachableRedis(t *testing.T) {
	ctx := context.Background()
	shared, err := redis.Open("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatalf("redis.Open: %v", err)
	}
	t.Cleanup(func() { shared.Close() })
	logs := &logBuffer{}
	c := New(newMemory(t), shared, slog.New(slog.NewTextHandler(logs, nil)))

	k := store.TokenKey{Subject: "svc", Digest: "d1"}
	start := time.Now()
	mustAdd(t, c, k, token("svc", "token"))
	t.Logf("the first Add with Redis unreachable took %v", time.Since(start))
	for range 10 {
		if got := mustAdd(t, c, k, token("svc", "token")); got.Value != "token" {
			t.Errorf("Add = %q, want token", got.Value)
		}
		checkGet(t, c, k, "token")
	}
	checkState(t, c, "degraded")
	if c.Failures() == 0 {
		t.Error("Failures = 0, want at least 1")
	}
	if n := logs.count("unreachable"); n != 1 {
		t.Errorf("%d log lines say unreachable, want 1:\n%s", n, logs.buf.String())
	}
	if err := c.DeleteSubject(ctx, "svc"); err == nil {
		t.Error("DeleteSubject with Redis unreachable succeeded, want an error")
	}
}

// BenchmarkGetFromRedis measures a hit served by the Redis in
// JWTUP_TEST_REDIS_URL with no in-process cache in front, as with
// JWTUP_CACHE_SIZE=0: what the tiered cache adds to a Redis hit.
func BenchmarkGetFromRedis(b *testing.B) {
	ctx := context.Background()
	shared, err := redis.Open(storetest.RedisURL(b))
	if err != nil {
		b.Fatalf("redis.Open: %v", err)
	}
	b.Cleanup(func() { shared.Close() })
	c := New(memory.NoCache{}, shared, slog.New(slog.DiscardHandler))

	k := store.TokenKey{Subject: "test:" + rand.Text() + ":bench", Digest: "d1"}
	b.Cleanup(func() { _ = shared.DeleteSubject(context.Background(), k.Subject) })
	if _, err := c.Add(ctx, k, token(k.Subject, "a.b.c")); err != nil {
		b.Fatalf("Add: %v", err)
	}

	b.ReportAllocs()
	for b.Loop() {
		if got, err := c.Get(ctx, k); err != nil || got.Value != "a.b.c" {
			b.Fatalf("Get = %q, %v; want a.b.c", got.Value, err)
		}
	}
}
