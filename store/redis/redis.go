// Package redis keeps minted tokens in Redis (standalone, Sentinel or
// Cluster), shared by every replica, and carries purge and key-change
// notices between replicas over pub/sub.
//
// Layout: all tokens of one consumer live in one hash,
// "jwtup:v2:{<digest of the subject>}", one field per set of mint inputs.
// The braces make the subject digest a Cluster hash tag, so one consumer's
// tokens sit in one slot; a purge is one UNLINK whatever the number of
// tokens; no command ever scans the keyspace.
package redis

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/jwt-up/jwt-up/store"
)

// keyPrefix starts every key; the version changes when the layout of an
// entry does, so that entries of the old layout are never read.
const keyPrefix = "jwtup:v2:"

// eventsChannel carries purges ("purge <subject>") and key changes
// ("keys"). Its name stays when entries change, so that replicas of two
// versions still hear each other during an upgrade.
const eventsChannel = "jwtup:v1:events"

// Cache is a store.TokenCache in Redis.
type Cache struct {
	client goredis.UniversalClient
	// reads sends the HGET of every hit. With many hits at once, each one
	// a round trip of its own costs a write and a read on both ends; reads
	// gathers the HGETs that wait at the same moment into one pipeline, and
	// a lone one still goes out at once. It is the client itself when the
	// client cannot batch.
	reads goredis.UniversalClient
	now   func() time.Time
}

var _ store.TokenCache = (*Cache)(nil)

// Options parses a Redis URL:
//
//	redis://[user:password@]host:port[/db]           one server
//	rediss://…                                       the same over TLS
//	redis+sentinel://[user:password@]h1:p1,h2:p2/master[/db]
//	redis+cluster://[user:password@]h1:p1,h2:p2      Cluster seed nodes
//
// The +sentinel and +cluster forms take rediss as well. Timeouts are short
// on purpose: a slow Redis must not slow minting down, which goes on
// without it.
func Options(rawURL string) (*goredis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	scheme, mode, _ := strings.Cut(u.Scheme, "+")
	if scheme != "redis" && scheme != "rediss" {
		return nil, fmt.Errorf("scheme %q is not redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	opts := &goredis.UniversalOptions{
		Addrs:         strings.Split(u.Host, ","),
		DialTimeout:   time.Second,
		ReadTimeout:   500 * time.Millisecond,
		WriteTimeout:  500 * time.Millisecond,
		PoolTimeout:   time.Second,
		MaxRetries:    -1, // fail fast: the tiered cache decides when to retry
		DialerRetries: 1,
	}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	if scheme == "rediss" {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}

	path := strings.TrimPrefix(u.Path, "/")
	switch mode {
	case "":
		if len(opts.Addrs) > 1 {
			return nil, errors.New("several hosts need redis+sentinel or redis+cluster")
		}
	case "cluster":
		opts.IsClusterMode = true
		if path != "" {
			return nil, errors.New("a cluster URL takes no database")
		}
	case "sentinel":
		opts.MasterName, path, _ = strings.Cut(path, "/")
		if opts.MasterName == "" {
			return nil, errors.New("a sentinel URL needs the master name as its path")
		}
		opts.SentinelUsername, opts.SentinelPassword = opts.Username, opts.Password
	default:
		return nil, fmt.Errorf("scheme %q is not redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
	}
	path = strings.TrimSuffix(path, "/")
	if path != "" {
		db, err := strconv.Atoi(path)
		if err != nil || db < 0 {
			return nil, fmt.Errorf("database %q is not a number", path)
		}
		opts.DB = db
	}
	return opts, nil
}

// Open connects to the Redis that rawURL names (see Options). It does not
// fail when Redis is down: the cache reports errors until it is back.
func Open(rawURL string) (*Cache, error) {
	opts, err := Options(rawURL)
	if err != nil {
		return nil, err
	}
	return New(goredis.NewUniversalClient(opts)), nil
}

// New returns a cache over an existing client.
func New(client goredis.UniversalClient) *Cache {
	c := &Cache{client: client, reads: client, now: time.Now}
	if ap, err := client.AutoPipeline(); err == nil {
		c.reads = ap
	}
	return c
}

// Ping checks that Redis answers.
func (c *Cache) Ping(ctx context.Context) error { return c.client.Ping(ctx).Err() }

// Close closes the client, and with it the batching of reads.
func (c *Cache) Close() error { return c.client.Close() }

// hashKey names the hash holding every token of subject. Every Get pays
// for it, so it builds the name on the stack and allocates only the string.
func hashKey(subject string) string {
	var buf [256]byte
	var sum [sha256.Size]byte
	if len(subject) <= len(buf) {
		sum = sha256.Sum256(append(buf[:0], subject...))
	} else {
		sum = sha256.Sum256([]byte(subject))
	}
	var name [len(keyPrefix) + 18]byte // the prefix, then "{" 16 characters "}"
	n := copy(name[:], keyPrefix)
	name[n] = '{'
	base64.RawURLEncoding.Encode(name[n+1:], sum[:12])
	name[len(name)-1] = '}'
	return string(name[:])
}

// An entry is "stale|exp|" (milliseconds, so that the add script can read
// the stale time), then the token in one of two forms:
//
//   - 'J' and the three parts of a compact JWS, base64url-decoded, each
//     after its length as a uvarint; the kid is the one in its header.
//     Kept decoded, an RS256 token takes a quarter less memory than as
//     text, which for a Redis hash value over 64 bytes is the difference
//     between an allocation of 640 bytes and one of 896;
//   - 'T', the kid after its length as a uvarint, and the token as text,
//     for any other value.
func encode(t store.Token) string {
	b := make([]byte, 0, 32+len(t.Value))
	b = strconv.AppendInt(b, t.StaleAt.UnixMilli(), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, t.ExpiresAt.UnixMilli(), 10)
	b = append(b, '|')
	if jws, ok := appendJWS(append(b, 'J'), t); ok {
		return string(jws)
	}
	b = binary.AppendUvarint(append(b, 'T'), uint64(len(t.KID)))
	b = append(b, t.KID...)
	return string(append(b, t.Value...))
}

// appendJWS appends t's token in the decoded form, if it is a compact JWS
// whose header names t's kid.
func appendJWS(b []byte, t store.Token) ([]byte, bool) {
	parts := strings.Split(t.Value, ".")
	if len(parts) != 3 {
		return nil, false
	}
	for i, p := range parts {
		raw, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || (i == 0 && headerKID(raw) != t.KID) {
			return nil, false
		}
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	return b, true
}

// headerKID returns the kid of a JWS header, or "".
func headerKID(header []byte) string {
	var h struct {
		KID string `json:"kid"`
	}
	if json.Unmarshal(header, &h) != nil {
		return ""
	}
	return h.KID
}

// errMalformed means an entry is not one encode wrote.
var errMalformed = errors.New("redis: malformed cache entry")

// decode unpacks an entry of subject's hash. Every Redis hit pays for it,
// so the token's text is its only allocation.
func decode(subject, v string) (store.Token, error) {
	staleText, rest, ok1 := strings.Cut(v, "|")
	expText, rest, ok2 := strings.Cut(rest, "|")
	stale, err1 := strconv.ParseInt(staleText, 10, 64)
	exp, err2 := strconv.ParseInt(expText, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || rest == "" {
		return store.Token{}, errMalformed
	}
	t := store.Token{Subject: subject, ExpiresAt: time.UnixMilli(exp), StaleAt: time.UnixMilli(stale)}

	var ok bool
	switch rest[0] {
	case 'J':
		t.Value, t.KID, ok = decodeJWS(rest[1:])
	case 'T':
		t.KID, t.Value, ok = decodeText(rest[1:])
	}
	if !ok {
		return store.Token{}, errMalformed
	}
	return t, nil
}

// cutLength splits v after the uvarint length that starts it and the
// bytes it counts.
func cutLength(v string) (counted, rest string, ok bool) {
	var buf [binary.MaxVarintLen64]byte
	n, size := binary.Uvarint(buf[:copy(buf[:], v)])
	if size <= 0 || n > uint64(len(v)-size) {
		return "", "", false
	}
	return v[size : size+int(n)], v[size+int(n):], true
}

// decodeText splits the text form into the kid and the token.
func decodeText(v string) (kid, token string, ok bool) {
	return cutLength(v)
}

// decodeJWS turns the decoded parts of a token back into a compact JWS,
// and returns it with the kid of its header.
func decodeJWS(v string) (token, kid string, ok bool) {
	var parts [3]string
	for i := range parts {
		if parts[i], v, ok = cutLength(v); !ok {
			return "", "", false
		}
	}
	if v != "" {
		return "", "", false
	}
	h := headers.get(parts[0])

	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(len(h.text) + 2 + enc.EncodedLen(len(parts[1])) + enc.EncodedLen(len(parts[2])))
	b.WriteString(h.text)
	for _, p := range parts[1:] {
		b.WriteByte('.')
		writeBase64(&b, p)
	}
	return b.String(), h.kid, true
}

// writeBase64 writes raw to b in base64url without padding, through
// buffers on the stack. Chunks of a multiple of three bytes encode to the
// same text as the whole.
func writeBase64(b *strings.Builder, raw string) {
	enc := base64.RawURLEncoding
	var in [768]byte
	var out [1024]byte
	for raw != "" {
		n := copy(in[:], raw)
		raw = raw[n:]
		m := enc.EncodedLen(n)
		enc.Encode(out[:m], in[:n])
		b.Write(out[:m])
	}
}

// jwsHeader is what decoding needs of a JWS header: its kid, and its
// base64url text.
type jwsHeader struct {
	kid  string
	text string
}

// maxHeaders bounds the headers remembered. jwt-up signs with a few keys
// and token types, so a few headers recur in every entry. Past the bound,
// the headers start over from the newest alone: by then most of those
// remembered name keys that no longer sign.
const maxHeaders = 64

// headerCache remembers the JWS headers seen in entries: parsing the JSON
// of the header on every hit would cost more than the rest of decoding.
// Readers take no lock: a writer replaces the whole map.
type headerCache struct {
	seen atomic.Pointer[map[string]jwsHeader]
	mu   sync.Mutex // serialises writers
}

// headers is shared by every Cache: what a header says does not depend
// on where it was read.
var headers headerCache

// get returns what raw, a JWS header as JSON, says.
func (c *headerCache) get(raw string) jwsHeader {
	if seen := c.seen.Load(); seen != nil {
		if h, ok := (*seen)[raw]; ok {
			return h
		}
	}
	b := []byte(raw)
	h := jwsHeader{kid: headerKID(b), text: base64.RawURLEncoding.EncodeToString(b)}

	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[string]jwsHeader{strings.Clone(raw): h}
	if seen := c.seen.Load(); seen != nil && len(*seen) < maxHeaders {
		maps.Copy(next, *seen)
	}
	c.seen.Store(&next)
	return h
}

// Get returns the token of k, or store.ErrNotFound.
func (c *Cache) Get(ctx context.Context, k store.TokenKey) (store.Token, error) {
	v, err := c.hget(ctx, hashKey(k.Subject), k.Digest)
	if errors.Is(err, goredis.Nil) {
		return store.Token{}, store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("redis get: %w", err)
	}
	t, err := decode(k.Subject, v)
	if err != nil {
		return store.Token{}, err
	}
	if !c.now().Before(t.StaleAt) {
		return store.Token{}, store.ErrNotFound
	}
	return t, nil
}

// hgetArgs holds the arguments of one HGET. The client takes arguments as
// interfaces, and each string put in one costs an allocation on every hit;
// a pointer costs none. The client sends the string a *string points to,
// and routes a Cluster command by it (TestGetAsksTheKeysNode checks).
type hgetArgs struct {
	key, field string
	args       [3]any
}

var hgetArgsPool = sync.Pool{New: func() any {
	a := &hgetArgs{}
	a.args = [3]any{"hget", &a.key, &a.field}
	return a
}}

// hget returns the value of field in the hash key, or goredis.Nil.
func (c *Cache) hget(ctx context.Context, key, field string) (string, error) {
	a := hgetArgsPool.Get().(*hgetArgs)
	a.key, a.field = key, field
	cmd := goredis.NewStringCmd(ctx, a.args[:]...)
	err := c.reads.Process(ctx, cmd)

	// Process returns once the command has run and nothing reads its
	// arguments any more; they may go back to the pool.
	a.key, a.field = "", ""
	hgetArgsPool.Put(a)
	if err != nil {
		return "", err
	}
	return cmd.Val(), nil
}

// addScript stores a token unless a fresh one is there already, and
// returns the one stored afterwards. The hash lives as long as its
// longest-lived token. One key per call, so it runs on Cluster too.
//
// KEYS[1] hash; ARGV[1] field, ARGV[2] entry, ARGV[3] now (ms),
// ARGV[4] time to live of the entry (ms).
var addScript = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local stale = tonumber(string.match(cur, '^(%d+)|'))
  if stale and stale > tonumber(ARGV[3]) then
    return cur
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return ARGV[2]
`)

// Add stores t under k unless a fresh token is there, and returns the one
// that is stored afterwards: replicas missing at once converge on one.
func (c *Cache) Add(ctx context.Context, k store.TokenKey, t store.Token) (store.Token, error) {
	now := c.now()
	ttl := t.StaleAt.Sub(now)
	if ttl <= 0 {
		// Not stored, but it must not hide a fresh token either.
		cur, err := c.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return t, nil
		}
		return cur, err
	}
	v, err := addScript.Run(ctx, c.client, []string{hashKey(k.Subject)},
		k.Digest, encode(t), now.UnixMilli(), ttl.Milliseconds()+1).Text()
	if err != nil {
		return store.Token{}, fmt.Errorf("redis add: %w", err)
	}
	return decode(k.Subject, v)
}

// Delete drops the token of k.
func (c *Cache) Delete(ctx context.Context, k store.TokenKey) error {
	if err := c.client.HDel(ctx, hashKey(k.Subject), k.Digest).Err(); err != nil {
		return fmt.Errorf("redis delete: %w", err)
	}
	return nil
}

// DeleteSubject drops every token of subject in one command, and tells the
// other replicas to drop theirs from process memory.
func (c *Cache) DeleteSubject(ctx context.Context, subject string) error {
	if err := c.client.Unlink(ctx, hashKey(subject)).Err(); err != nil {
		return fmt.Errorf("redis purge: %w", err)
	}
	return c.publish(ctx, "purge "+subject)
}

// PublishKeysChanged tells the other replicas that the key set changed, so
// they read it again now rather than at their next refresh.
func (c *Cache) PublishKeysChanged(ctx context.Context) error {
	return c.publish(ctx, "keys")
}

func (c *Cache) publish(ctx context.Context, msg string) error {
	if err := c.client.Publish(ctx, eventsChannel, msg).Err(); err != nil {
		return fmt.Errorf("redis publish: %w", err)
	}
	return nil
}

// Listen calls onPurge for every purge and onKeys for every key change that
// any replica publishes, until ctx ends. The subscription reconnects by
// itself after an outage; notices sent meanwhile are lost, which costs at
// most a token lifetime of stale in-process entries (purges) or one key
// refresh (key changes).
func (c *Cache) Listen(ctx context.Context, onPurge func(subject string), onKeys func()) {
	sub := c.client.Subscribe(ctx, eventsChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			switch {
			case msg.Payload == "keys":
				onKeys()
			case strings.HasPrefix(msg.Payload, "purge "):
				onPurge(strings.TrimPrefix(msg.Payload, "purge "))
			}
		}
	}
}
