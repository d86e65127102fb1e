package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/storetest"
)

// clusterURL returns the Redis Cluster URL in JWTUP_TEST_REDIS_CLUSTER_URL,
// skipping the test when it is unset, or failing it when the services are
// required.
func clusterURL(t *testing.T) string {
	t.Helper()
	const env = "JWTUP_TEST_REDIS_CLUSTER_URL"
	if u := os.Getenv(env); u != "" {
		return u
	}
	if os.Getenv(storetest.RequireServicesEnv) == "1" {
		t.Fatalf("%s is not set, but %s=1 requires the Redis Cluster tests to run",
			env, storetest.RequireServicesEnv)
	}
	t.Skipf("%s is not set; skipping Redis Cluster tests", env)
	return ""
}

// sentinelURL returns the redis+sentinel URL in
// JWTUP_TEST_REDIS_SENTINEL_URL, skipping the test when it is unset, or
// failing it when the services are required.
func sentinelURL(t *testing.T) string {
	t.Helper()
	const env = "JWTUP_TEST_REDIS_SENTINEL_URL"
	if u := os.Getenv(env); u != "" {
		return u
	}
	if os.Getenv(storetest.RequireServicesEnv) == "1" {
		t.Fatalf("%s is not set, but %s=1 requires the Redis Sentinel tests to run",
			env, storetest.RequireServicesEnv)
	}
	t.Skipf("%s is not set; skipping Redis Sentinel tests", env)
	return ""
}

// forEachServer runs fn against a standalone Redis, against a Cluster and
// through a Sentinel, each as a subtest that skips when its test variable
// is unset.
func forEachServer(t *testing.T, fn func(t *testing.T, rawURL string)) {
	t.Helper()
	t.Run("standalone", func(t *testing.T) { fn(t, storetest.RedisURL(t)) })
	t.Run("cluster", func(t *testing.T) { fn(t, clusterURL(t)) })
	t.Run("sentinel", func(t *testing.T) { fn(t, sentinelURL(t)) })
}

// open connects to rawURL, fails the test if the server does not answer,
// and closes the client when the test ends.
func open(t testing.TB, rawURL string) *Cache {
	t.Helper()
	c, err := Open(rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return c
}

// subject returns a subject ending in name that no other test uses, so
// that tests and packages sharing one server never meet, whatever runs in
// parallel. Its tokens in c are dropped when the test ends; they would
// expire anyway.
func subject(t testing.TB, c *Cache, name string) string {
	t.Helper()
	s := "test:" + rand.Text() + ":" + name
	t.Cleanup(func() { _ = c.client.Unlink(context.Background(), hashKey(s)).Err() })
	return s
}

// prefixed puts a prefix of its own before every subject, so that the
// conformance suite's fixed subjects ("svc", "purged") stay apart from those
// of any other test on the same server.
type prefixed struct {
	c      *Cache
	prefix string

	mu   sync.Mutex
	seen map[string]bool
}

func newPrefixed(t *testing.T, c *Cache) *prefixed {
	t.Helper()
	p := &prefixed{c: c, prefix: "test:" + rand.Text() + ":", seen: map[string]bool{}}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for s := range p.seen {
			_ = p.c.client.Unlink(context.Background(), hashKey(s)).Err()
		}
	})
	return p
}

func (p *prefixed) key(k store.TokenKey) store.TokenKey {
	k.Subject = p.prefix + k.Subject
	p.mu.Lock()
	p.seen[k.Subject] = true
	p.mu.Unlock()
	return k
}

func (p *prefixed) strip(t store.Token, err error) (store.Token, error) {
	t.Subject = strings.TrimPrefix(t.Subject, p.prefix)
	return t, err
}

func (p *prefixed) Get(ctx context.Context, k store.TokenKey) (store.Token, error) {
	return p.strip(p.c.Get(ctx, p.key(k)))
}

func (p *prefixed) Add(ctx context.Context, k store.TokenKey, t store.Token) (store.Token, error) {
	t.Subject = p.prefix + t.Subject
	return p.strip(p.c.Add(ctx, p.key(k), t))
}

func (p *prefixed) Delete(ctx context.Context, k store.TokenKey) error {
	return p.c.Delete(ctx, p.key(k))
}

func (p *prefixed) DeleteSubject(ctx context.Context, subject string) error {
	return p.c.DeleteSubject(ctx, p.key(store.TokenKey{Subject: subject}).Subject)
}

func TestTokenCache(t *testing.T) {
	forEachServer(t, func(t *testing.T, rawURL string) {
		storetest.RunTokenCache(t, func(t *testing.T) store.TokenCache {
			return newPrefixed(t, open(t, rawURL))
		})
	})
}

// optionsView is the part of the options that Options decides.
type optionsView struct {
	Addrs            []string
	Username         string
	Password         string
	DB               int
	MasterName       string
	SentinelUsername string
	SentinelPassword string
	IsClusterMode    bool
	TLS              bool
}

func viewOptions(o *goredis.UniversalOptions) optionsView {
	return optionsView{
		Addrs:            o.Addrs,
		Username:         o.Username,
		Password:         o.Password,
		DB:               o.DB,
		MasterName:       o.MasterName,
		SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword,
		IsClusterMode:    o.IsClusterMode,
		TLS:              o.TLSConfig != nil,
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		want    optionsView
		wantErr string // a part of the error; "" for none
	}{
		{
			name: "one server",
			url:  "redis://127.0.0.1:6379/0",
			want: optionsView{Addrs: []string{"127.0.0.1:6379"}},
		},
		{
			name: "no database",
			url:  "redis://cache:6379",
			want: optionsView{Addrs: []string{"cache:6379"}},
		},
		{
			name: "credentials and database",
			url:  "redis://app:s3cret@cache:6379/5",
			want: optionsView{
				Addrs: []string{"cache:6379"}, Username: "app", Password: "s3cret", DB: 5,
			},
		},
		{
			name: "password only",
			url:  "redis://:s3cret@cache:6379/",
			want: optionsView{Addrs: []string{"cache:6379"}, Password: "s3cret"},
		},
		{
			name: "rediss",
			url:  "rediss://cache:6380/1",
			want: optionsView{Addrs: []string{"cache:6380"}, DB: 1, TLS: true},
		},
		{
			name: "sentinel with master and database",
			url:  "redis+sentinel://app:s3cret@s1:26379,s2:26379,s3:26379/mymaster/2",
			want: optionsView{
				Addrs:      []string{"s1:26379", "s2:26379", "s3:26379"},
				Username:   "app",
				Password:   "s3cret",
				DB:         2,
				MasterName: "mymaster",

				SentinelUsername: "app",
				SentinelPassword: "s3cret",
			},
		},
		{
			name: "sentinel without database",
			url:  "redis+sentinel://s1:26379/mymaster",
			want: optionsView{Addrs: []string{"s1:26379"}, MasterName: "mymaster"},
		},
		{
			name: "sentinel over TLS",
			url:  "rediss+sentinel://s1:26379/mymaster/3",
			want: optionsView{
				Addrs: []string{"s1:26379"}, MasterName: "mymaster", DB: 3, TLS: true,
			},
		},
		{
			name: "cluster with several seeds",
			url:  "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
			want: optionsView{
				Addrs:         []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"},
				IsClusterMode: true,
			},
		},
		{
			name: "cluster over TLS with credentials",
			url:  "rediss+cluster://app:s3cret@n1:7000,n2:7000/",
			want: optionsView{
				Addrs:         []string{"n1:7000", "n2:7000"},
				Username:      "app",
				Password:      "s3cret",
				IsClusterMode: true,
				TLS:           true,
			},
		},
		{name: "not a URL", url: "redis://app:s3cret@cache:6379/%zz", wantErr: "not a URL"},
		{name: "http scheme", url: "http://cache:6379", wantErr: "scheme"},
		{name: "no scheme", url: "cache:6379", wantErr: "scheme"},
		{name: "unknown mode", url: "redis+unix://cache:6379", wantErr: "scheme"},
		{name: "missing host", url: "redis:///0", wantErr: "no host"},
		{name: "empty", url: "redis://", wantErr: "no host"},
		{name: "database not a number", url: "redis://app:s3cret@cache:6379/zero", wantErr: "database"},
		{name: "negative database", url: "redis://cache:6379/-1", wantErr: "database"},
		{name: "two path segments", url: "redis://cache:6379/0/1", wantErr: "database"},
		{name: "sentinel without master", url: "redis+sentinel://s1:26379", wantErr: "master"},
		{name: "sentinel with empty master", url: "redis+sentinel://s1:26379//2", wantErr: "master"},
		{name: "sentinel with bad database", url: "redis+sentinel://s1:26379/m/x", wantErr: "database"},
		{name: "cluster with database", url: "redis+cluster://n1:7000/1", wantErr: "database"},
		{
			// go-redis would quietly make a Cluster client of this and drop
			// the database; the URL must say +cluster or +sentinel.
			name:    "several hosts without a mode",
			url:     "redis://a:6379,b:6379/0",
			wantErr: "host",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Options(tt.url)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Options(%q) = %+v, want an error containing %q",
						tt.url, viewOptions(got), tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Options(%q) error = %q, want it to contain %q",
						tt.url, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("Options(%q) error %q shows the password", tt.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Options(%q): %v", tt.url, err)
			}
			if diff := cmp.Diff(tt.want, viewOptions(got)); diff != "" {
				t.Errorf("Options(%q) mismatch (-want +got):\n%s", tt.url, diff)
			}
			if got.TLSConfig != nil && got.TLSConfig.MinVersion < tls.VersionTLS12 {
				t.Errorf("Options(%q) TLS MinVersion = %#x, want at least TLS 1.2",
					tt.url, got.TLSConfig.MinVersion)
			}
		})
	}
}

// TestOptionsFailFast: a Redis that is down must cost a request one short
// attempt, not a round of retries; the tiered cache decides when to try
// again. go-redis retries failed commands (MaxRetries) and, apart from
// that, failed dials (DialerRetries, 5 by default, 100ms apart).
func TestOptionsFailFast(t *testing.T) {
	for _, rawURL := range []string{
		"redis://cache:6379/0",
		"redis+sentinel://s1:26379/mymaster",
		"redis+cluster://n1:7000,n2:7000",
	} {
		o, err := Options(rawURL)
		if err != nil {
			t.Fatalf("Options(%q): %v", rawURL, err)
		}
		if o.MaxRetries != -1 || o.DialerRetries != 1 {
			t.Errorf("Options(%q): MaxRetries = %d, DialerRetries = %d; want -1 and 1",
				rawURL, o.MaxRetries, o.DialerRetries)
		}
		if o.DialTimeout > time.Second || o.ReadTimeout > time.Second || o.WriteTimeout > time.Second {
			t.Errorf("Options(%q): timeouts dial %v, read %v, write %v; want at most 1s each",
				rawURL, o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
		}
	}
}

// keySlot is the Redis Cluster slot of key: CRC16 (XMODEM) of its hash
// tag, or of the whole key when it has none, modulo 16384.
func keySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	var crc uint16
	for i := range len(key) {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestKeySlot(t *testing.T) {
	// Values from CLUSTER KEYSLOT on Redis 7.
	tests := []struct {
		key  string
		want int
	}{
		{"123456789", 12739},
		{"foo", 12182},
		{"somekey", 11058},
		{"{somekey}.other", 11058},
		{"foo{}{bar}", 8363},    // an empty tag hashes the whole key
		{"foo{{bar}}zap", 4015}, // the tag is "{bar"
		{"foo{bar}{zap}", 5061}, // only the first tag counts
		{"bar", 5061},
	}
	for _, tt := range tests {
		if got := keySlot(tt.key); got != tt.want {
			t.Errorf("keySlot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestHashKeyTag(t *testing.T) {
	subjects := []string{
		"svc", "", "{", "}", "{}", "}{", "svc{a}", "svc{b}", "a{b}c{d}",
		"{jwtup:v2:}", "client/éè", strings.Repeat("x{", 500),
	}
	seen := map[string]string{}
	for _, s := range subjects {
		key := hashKey(s)
		if key != hashKey(s) {
			t.Errorf("hashKey(%q) differs between calls", s)
		}
		tag, ok := strings.CutPrefix(key, keyPrefix+"{")
		tag, closed := strings.CutSuffix(tag, "}")
		if !ok || !closed || tag == "" || strings.ContainsAny(tag, "{}") {
			t.Errorf("hashKey(%q) = %q, want %q{tag} with a non-empty tag free of braces",
				s, key, keyPrefix)
		}
		if other, dup := seen[key]; dup {
			t.Errorf("hashKey(%q) = hashKey(%q) = %q", s, other, key)
		}
		seen[key] = s
		if got, want := keySlot(key), keySlot("{"+tag+"}"); got != want {
			t.Errorf("slot of hashKey(%q) = %d, want the slot of its tag, %d", s, got, want)
		}
	}
}

// TestHashKeyNames pins the names of existing hashes: replicas of every
// version must find each other's tokens.
func TestHashKeyNames(t *testing.T) {
	cases := []struct{ subject, want string }{
		{"svc", "jwtup:v2:{NIxlhoKuhwHT6dIf}"},
		{"", "jwtup:v2:{47DEQpj8HBSa-_TI}"},
		{strings.Repeat("é", 128), "jwtup:v2:{5C3SZP1c8byUdQW5}"}, // 256 bytes
		{strings.Repeat("x", 257), "jwtup:v2:{FeuVpGLuIL2RpBWu}"},
	}
	for _, tc := range cases {
		if got := hashKey(tc.subject); got != tc.want {
			t.Errorf("hashKey(%.20q…) = %q, want %q", tc.subject, got, tc.want)
		}
	}
}

// TestSubjectInOneSlot checks against a live Cluster that the server puts a
// subject's key where keySlot says, and that every token of the subject
// lands in it: a purge is one command on one node.
func TestSubjectInOneSlot(t *testing.T) {
	ctx := context.Background()
	c := open(t, clusterURL(t))
	for _, name := range []string{"svc", "svc{x}", "}svc{"} {
		s := subject(t, c, name)
		key := hashKey(s)
		slot, err := c.client.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT: %v", err)
		}
		if int(slot) != keySlot(key) {
			t.Errorf("CLUSTER KEYSLOT %q = %d, keySlot = %d", key, slot, keySlot(key))
		}

		for i := range 3 {
			k := store.TokenKey{Subject: s, Digest: fmt.Sprintf("d%d", i)}
			if _, err := c.Add(ctx, k, newToken(s, "token")); err != nil {
				t.Fatalf("Add: %v", err)
			}
		}
		if n, err := c.client.HLen(ctx, key).Result(); err != nil || n != 3 {
			t.Errorf("HLEN %q = %d, %v; want 3 tokens in the subject's hash", key, n, err)
		}
		if err := c.DeleteSubject(ctx, s); err != nil {
			t.Fatalf("DeleteSubject: %v", err)
		}
	}
}

// movedReplies counts the MOVED errors the masters of a Cluster answered.
func movedReplies(t *testing.T, c *Cache) int {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	total := 0
	err := c.client.(*goredis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
		info, err := node.Info(ctx, "errorstats").Result()
		if err != nil {
			return err
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "errorstat_MOVED:count="); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("errorstat_MOVED %q: %w", v, err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("INFO errorstats: %v", err)
	}
	return total
}

// TestGetAsksTheKeysNode checks against a live Cluster that Get sends each
// subject's command to the node that holds its slot, not to another node
// that would redirect it.
func TestGetAsksTheKeysNode(t *testing.T) {
	ctx := context.Background()
	c := open(t, clusterURL(t))
	var keys []store.TokenKey
	for range 20 {
		s := subject(t, c, "svc")
		k := store.TokenKey{Subject: s, Digest: "d1"}
		if _, err := c.Add(ctx, k, newToken(s, "token")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		keys = append(keys, k)
	}

	before := movedReplies(t, c)
	for _, k := range keys {
		if got, err := c.Get(ctx, k); err != nil || got.Value != "token" {
			t.Fatalf("Get = %q, %v; want token", got.Value, err)
		}
	}
	if moved := movedReplies(t, c) - before; moved != 0 {
		t.Errorf("%d of %d Gets were redirected, want none", moved, len(keys))
	}
}

// TestSentinelFindsMaster checks against a live Sentinel that a
// redis+sentinel URL reaches the master the Sentinel names, not some
// server the URL itself names.
func TestSentinelFindsMaster(t *testing.T) {
	ctx := context.Background()
	rawURL := sentinelURL(t)
	opts, err := Options(rawURL)
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	sentinel := goredis.NewSentinelClient(&goredis.Options{
		Addr:        opts.Addrs[0],
		Username:    opts.SentinelUsername,
		Password:    opts.SentinelPassword,
		TLSConfig:   opts.TLSConfig,
		DialTimeout: time.Second,
	})
	defer sentinel.Close()
	addr, err := sentinel.GetMasterAddrByName(ctx, opts.MasterName).Result()
	if err != nil {
		t.Fatalf("SENTINEL GET-MASTER-ADDR-BY-NAME %s: %v", opts.MasterName, err)
	}
	master := addr[0] + ":" + addr[1]

	c := open(t, rawURL)
	info, err := c.client.ClientInfo(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT INFO: %v", err)
	}
	if info.LAddr != master {
		t.Errorf("the cache talks to %s, want the master %s named by the Sentinel", info.LAddr, master)
	}
	role, err := c.client.Do(ctx, "ROLE").Slice()
	if err != nil {
		t.Fatalf("ROLE: %v", err)
	}
	if len(role) == 0 || role[0] != "master" {
		t.Errorf("ROLE = %v, want master", role)
	}
}

// newToken returns a token fresh for an hour.
func newToken(subject, value string) store.Token {
	now := time.Now().Truncate(time.Millisecond)
	return store.Token{
		Subject:   subject,
		Value:     value,
		KID:       "kid-1",
		ExpiresAt: now.Add(2 * time.Hour),
		StaleAt:   now.Add(time.Hour),
	}
}

func TestAddFromTwoClients(t *testing.T) {
	forEachServer(t, func(t *testing.T, rawURL string) {
		ctx := context.Background()
		clients := []*Cache{open(t, rawURL), open(t, rawURL)}
		s := subject(t, clients[0], "svc")
		k := store.TokenKey{Subject: s, Digest: "d1"}

		const adders = 16
		got := make([]store.Token, adders)
		errs := make([]error, adders)
		var wg sync.WaitGroup
		for i := range adders {
			wg.Go(func() {
				got[i], errs[i] = clients[i%2].Add(ctx, k, newToken(s, fmt.Sprintf("token-%d", i)))
			})
		}
		wg.Wait()

		for i, err := range errs {
			if err != nil {
				t.Fatalf("adder %d: Add: %v", i, err)
			}
		}
		for i, tok := range got {
			if diff := cmp.Diff(got[0], tok); diff != "" {
				t.Errorf("adder %d and adder 0 disagree (-0 +%d):\n%s", i, i, diff)
			}
		}
		for i, c := range clients {
			if tok, err := c.Get(ctx, k); err != nil || tok.Value != got[0].Value {
				t.Errorf("client %d: Get = %q, %v; want %q", i, tok.Value, err, got[0].Value)
			}
		}
	})
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

func TestStaleEntryReplaced(t *testing.T) {
	forEachServer(t, func(t *testing.T, rawURL string) {
		ctx := context.Background()
		clk := &clock{now: time.Now()}
		c := open(t, rawURL)
		c.now = clk.Now
		s := subject(t, c, "svc")
		k := store.TokenKey{Subject: s, Digest: "d1"}

		old := store.Token{Subject: s, Value: "old", StaleAt: clk.Now().Add(time.Minute)}
		if _, err := c.Add(ctx, k, old); err != nil {
			t.Fatalf("Add: %v", err)
		}
		clk.Advance(time.Minute)
		if got, err := c.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get at StaleAt = %q, %v; want store.ErrNotFound", got.Value, err)
		}

		fresh := store.Token{Subject: s, Value: "fresh", StaleAt: clk.Now().Add(time.Minute)}
		if got, err := c.Add(ctx, k, fresh); err != nil || got.Value != fresh.Value {
			t.Fatalf("Add over a stale entry = %q, %v; want %q", got.Value, err, fresh.Value)
		}
		if got, err := c.Get(ctx, k); err != nil || got.Value != fresh.Value {
			t.Errorf("Get = %q, %v; want %q", got.Value, err, fresh.Value)
		}
	})
}

// TestHashLivesAsLongAsItsLongestToken checks the hash's expiry: a short
// token added after a long one must not cut the long one's life short.
func TestHashLivesAsLongAsItsLongestToken(t *testing.T) {
	forEachServer(t, func(t *testing.T, rawURL string) {
		ctx := context.Background()
		c := open(t, rawURL)
		s := subject(t, c, "svc")
		add := func(digest string, life time.Duration) {
			t.Helper()
			tok := store.Token{Subject: s, Value: digest, StaleAt: time.Now().Add(life)}
			if _, err := c.Add(ctx, store.TokenKey{Subject: s, Digest: digest}, tok); err != nil {
				t.Fatalf("Add: %v", err)
			}
		}
		pttl := func() time.Duration {
			t.Helper()
			d, err := c.client.PTTL(ctx, hashKey(s)).Result()
			if err != nil {
				t.Fatalf("PTTL: %v", err)
			}
			return d
		}

		add("short", time.Minute)
		if d := pttl(); d <= 0 || d > time.Minute+time.Second {
			t.Errorf("PTTL after a one-minute token = %v, want about 1m", d)
		}
		add("long", time.Hour)
		add("short2", time.Minute)
		if d := pttl(); d < 59*time.Minute {
			t.Errorf("PTTL after a one-hour token = %v, want about 1h", d)
		}
	})
}

// listen runs c.Listen until the test ends, and checks that it returns
// once its context does.
func listen(t *testing.T, c *Cache, onPurge func(string), onKeys func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Listen(ctx, onPurge, onKeys)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return after its context ended")
		}
	})
}

// awaitNotice calls send until ch receives, or fails the test after a few
// seconds. Listen subscribes in the background and tells no one when it is
// done, so a single notice sent at once could go out before it listens.
func awaitNotice[T any](t *testing.T, ch <-chan T, send func() error) T {
	t.Helper()
	timeout := time.After(5 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := send(); err != nil {
			t.Fatalf("send: %v", err)
		}
		select {
		case v := <-ch:
			return v
		case <-timeout:
			t.Fatal("no notice arrived within 5s")
		case <-tick.C:
		}
	}
}

func TestPurgeReachesListeners(t *testing.T) {
	forEachServer(t, func(t *testing.T, rawURL string) {
		ctx := context.Background()
		listener, purger := open(t, rawURL), open(t, rawURL)
		s := subject(t, purger, "svc with spaces")

		purged := make(chan string, 1)
		listen(t, listener, func(got string) {
			// Other tests purge on the same channel.
			if got == s {
				select {
				case purged <- got:
				default:
				}
			}
		}, func() {})

		k := store.TokenKey{Subject: s, Digest: "d1"}
		if _, err := purger.Add(ctx, k, newToken(s, "token")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		awaitNotice(t, purged, func() error { return purger.DeleteSubject(ctx, s) })
		if _, err := listener.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after the purge: %v, want store.ErrNotFound", err)
		}
	})
}

func TestKeysChangedReachesListeners(t *testing.T) {
	forEachServer(t, func(t *testing.T, rawURL string) {
		ctx := context.Background()
		listener, publisher := open(t, rawURL), open(t, rawURL)

		changed := make(chan struct{}, 1)
		listen(t, listener, func(string) {}, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		awaitNotice(t, changed, func() error { return publisher.PublishKeysChanged(ctx) })
	})
}

// usedMemory returns the server's used_memory from INFO memory.
func usedMemory(t *testing.T, c *Cache) int64 {
	t.Helper()
	info, err := c.client.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatalf("INFO memory: %v", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("used_memory %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}

// randomText returns n characters of base64url.
func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n*3/4+3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMemoryPerToken reports what a token costs in Redis, for sizing. The
// figure is only a sanity bound: other tests may write meanwhile.
func TestMemoryPerToken(t *testing.T) {
	const tokens = 1000
	ctx := context.Background()
	c := open(t, storetest.RedisURL(t))

	for _, layout := range []struct {
		name     string
		subjects int
	}{
		{"one token per consumer", tokens},
		{"all tokens of one consumer", 1},
	} {
		t.Run(layout.name, func(t *testing.T) {
			subjects := make([]string, layout.subjects)
			for i := range subjects {
				subjects[i] = subject(t, c, "svc")
			}
			// An RS256 token as jwt-up mints it: a header with a kid
			// (SHA-256 in base64url, like the digest), 260 bytes of claims
			// and a 256-byte signature, about 800 characters in all.
			kid := randomText(t, 43)
			enc := base64.RawURLEncoding
			header := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"` + kid + `","typ":"JWT"}`))
			value := header + "." + enc.EncodeToString(randomBytes(t, 260)) + "." + enc.EncodeToString(randomBytes(t, 256))

			before := usedMemory(t, c)
			for i := range tokens {
				s := subjects[i%len(subjects)]
				k := store.TokenKey{Subject: s, Digest: randomText(t, 43)}
				tok := newToken(s, value)
				tok.KID = kid
				if _, err := c.Add(ctx, k, tok); err != nil {
					t.Fatalf("Add: %v", err)
				}
			}
			perToken := (usedMemory(t, c) - before) / tokens

			t.Logf("%d tokens of %d bytes: %d bytes per token in Redis",
				tokens, len(value), perToken)
			if perToken > 1229 {
				t.Errorf("%d bytes per token, want at most 1.2 KiB", perToken)
			}
		})
	}
}

func TestEntryRoundTrip(t *testing.T) {
	enc := base64.RawURLEncoding
	jws := func(header string) string {
		return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(`{"sub":"a"}`)) + "." +
			enc.EncodeToString(randomBytes(t, 64))
	}
	now := time.UnixMilli(1_796_000_000_123)
	cases := []struct {
		name, value, kid string
		form             byte
	}{
		{"jwt-up token", jws(`{"alg":"ES256","kid":"k1","typ":"JWT"}`), "k1", 'J'},
		{"parts longer than a chunk", enc.EncodeToString([]byte(`{"kid":"k2"}`)) + "." +
			enc.EncodeToString(randomBytes(t, 2000)) + "." + enc.EncodeToString(randomBytes(t, 1001)), "k2", 'J'},
		{"empty parts", enc.EncodeToString([]byte(`{}`)) + "..", "", 'J'},
		{"kid not in the header", jws(`{"alg":"ES256","kid":"other"}`), "k1", 'T'},
		{"header not JSON", jws(`not json`), "k1", 'T'},
		{"not base64url", "a.b!.c", "k1", 'T'},
		{"two parts", "a.b", "k1", 'T'},
		{"with a bar", "x|y|z", "k|1", 'T'},
		{"empty", "", "", 'T'},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := store.Token{Subject: "s", Value: tc.value, KID: tc.kid,
				ExpiresAt: now.Add(time.Minute), StaleAt: now}
			entry := encode(in)
			if form := entry[strings.LastIndexByte(entry[:28], '|')+1]; form != tc.form {
				t.Errorf("stored in form %q, want %q", form, tc.form)
			}
			out, err := decode("s", entry)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if out.Value != in.Value || out.KID != in.KID || !out.ExpiresAt.Equal(in.ExpiresAt) || !out.StaleAt.Equal(in.StaleAt) {
				t.Errorf("got %+v, want %+v", out, in)
			}
		})
	}

	good := encode(store.Token{Value: jws(`{"kid":"k1"}`), KID: "k1", ExpiresAt: now, StaleAt: now})
	for _, bad := range []string{"", "1|2|", "1|2|X", "x|2|T\x01kv", "1|2", "1|2|T\x09k", good[:len(good)-1], good + "x", "1|2|J\xff"} {
		if _, err := decode("s", bad); err == nil {
			t.Errorf("decode(%q) = nil error, want malformed", bad)
		}
	}
}

// pipelineSizes is a go-redis hook that records the most HGETs one
// pipeline carried.
type pipelineSizes struct {
	mu   sync.Mutex
	most int
}

func (h *pipelineSizes) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *pipelineSizes) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }

func (h *pipelineSizes) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		n := 0
		for _, cmd := range cmds {
			if cmd.Name() == "hget" {
				n++
			}
		}
		h.mu.Lock()
		h.most = max(h.most, n)
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestConcurrentGetsShareRoundTrips checks that hits arriving together
// reach Redis in shared pipelines rather than a round trip each, and still
// get their own tokens.
func TestConcurrentGetsShareRoundTrips(t *testing.T) {
	forEachServer(t, func(t *testing.T, rawURL string) {
		opts, err := Options(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		client := goredis.NewUniversalClient(opts)
		sizes := &pipelineSizes{}
		client.AddHook(sizes)
		c := New(client)
		t.Cleanup(func() { c.Close() })

		ctx := context.Background()
		const readers, reads = 32, 50
		keys := make([]store.TokenKey, readers)
		for i := range keys {
			s := subject(t, c, fmt.Sprintf("svc-%d", i))
			keys[i] = store.TokenKey{Subject: s, Digest: "d1"}
			if _, err := c.Add(ctx, keys[i], newToken(s, fmt.Sprintf("token-%d", i))); err != nil {
				t.Fatalf("Add: %v", err)
			}
		}

		var wg sync.WaitGroup
		var failures sync.Map
		for i, k := range keys {
			wg.Go(func() {
				for range reads {
					got, err := c.Get(ctx, k)
					if want := fmt.Sprintf("token-%d", i); err != nil || got.Value != want {
						failures.Store(i, fmt.Sprintf("Get = %q, %v; want %q", got.Value, err, want))
						return
					}
				}
			})
		}
		wg.Wait()
		failures.Range(func(i, msg any) bool {
			t.Errorf("reader %d: %s", i, msg)
			return true
		})
		if sizes.most < 2 {
			t.Errorf("the most HGETs in one pipeline were %d; want concurrent hits batched", sizes.most)
		}
	})
}
