package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey).(*idContext); ok {
		return c.id[0]
	}
	return ""
}

// idContext is a request's context with its id. It stands in for
// context.WithValue, which would allocate twice (the context and the id
// as an interface); and its array is also the X-Request-Id header's
// value, which net/http only reads.
type idContext struct {
	context.Context
	id [1]string
}

// Value returns c itself for requestIDKey: a pointer in an interface
// needs no allocation.
func (c *idContext) Value(key any) any {
	if key == requestIDKey {
		return c
	}
	return c.Context.Value(key)
}

// requestID takes a sane X-Request-ID from the caller (a gateway usually
// sets one) or makes one, and puts it in the request's context and answer.
func requestID() gin.HandlerFunc {
	ids := newIDSource()
	return func(c *gin.Context) {
		var id string // read by its canonical key: Get would rewrite the name anew
		if v := c.Request.Header["X-Request-Id"]; len(v) > 0 {
			id = v[0]
		}
		if !saneID(id) {
			id = ids.next()
		}
		ctx := &idContext{Context: c.Request.Context(), id: [1]string{id}}
		c.Writer.Header()["X-Request-Id"] = ctx.id[:] // canonical already
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// idSource makes request ids of 24 lowercase hex digits: a random prefix
// drawn once, then a counter that starts at a random value. Within the
// process the counter keeps ids apart (it would take 2^64 requests to
// wrap); across replicas and restarts the random prefix and start do.
// It costs an atomic add per id where crypto/rand would cost a read.
type idSource struct {
	prefix  [4]byte
	counter atomic.Uint64
}

func newIDSource() *idSource {
	var seed [12]byte
	_, _ = rand.Read(seed[:]) // never fails: crypto/rand panics rather than return an error
	s := &idSource{prefix: [4]byte(seed[:4])}
	s.counter.Store(binary.BigEndian.Uint64(seed[4:]))
	return s
}

// next returns a new id.
func (s *idSource) next() string {
	var raw [12]byte
	copy(raw[:4], s.prefix[:])
	binary.BigEndian.PutUint64(raw[4:], s.counter.Add(1))
	var text [24]byte
	hex.Encode(text[:], raw[:])
	return string(text[:])
}

func saneID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		ok := r == '-' || r == '_' || r == '.' || r == ':' ||
			('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// httpMetrics counts requests by route and status and times them.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// series holds the counter and histogram of each route, method and
	// status seen. Looking a series up in a vector hashes and checks its
	// label values under a read lock, twice a request; a sync.Map is read
	// without a lock. Its size is bounded by the routes, the few methods
	// methodLabel names, and the statuses.
	series sync.Map // seriesKey → *requestSeries
}

type seriesKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtup_http_requests_total",
			Help: "HTTP requests, by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jwtup_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe counts a request and records how long it took.
func (m *httpMetrics) observe(route, method string, status int, took time.Duration) {
	k := seriesKey{route: route, method: methodLabel(method), status: status}
	s, ok := m.series.Load(k)
	if !ok {
		s, _ = m.series.LoadOrStore(k, &requestSeries{
			requests: m.requests.WithLabelValues(k.route, k.method, statusLabel(status)),
			duration: m.duration.WithLabelValues(k.route),
		})
	}
	rs := s.(*requestSeries)
	rs.requests.Inc()
	rs.duration.Observe(took.Seconds())
}

// methodLabel is the method as a metric label: any token is a method to
// net/http, and a label per made-up method would let any client grow the
// metrics without bound.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// accessLog writes one line per request, at a level set by the status, and
// records the request's metrics.
func accessLog(log *slog.Logger, m *httpMetrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		took := time.Since(start)

		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		m.observe(route, c.Request.Method, status, took)

		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		ctx := c.Request.Context()
		if !log.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request.Method),
			slog.String("path", clean(c.Request.URL.Path)),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("took", took),
			slog.String("remote", c.ClientIP()),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
		}
		if sub, ok := c.Get(subjectKey); ok {
			attrs = append(attrs, slog.Any("sub", sub))
		}
		if name := c.GetString(clientCertKey); name != "" {
			attrs = append(attrs, slog.String("client_cert", clean(name)))
		}
		if len(c.Errors) > 0 {
			attrs = append(attrs, slog.String("err", c.Errors.Last().Error()))
		}
		log.LogAttrs(ctx, level, "request", attrs...)
	}
}

// statusLabels holds the metric label of every status code, made once:
// formatting one costs an allocation on every request.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func statusLabel(status int) string {
	if status >= 0 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}

// subjectKey holds the subject minted for, for the access line.
const subjectKey = "jwtup.sub"

// clean strips line breaks and caps the length of a client-supplied value
// before it reaches a log line.
func clean(s string) string {
	if len(s) > 256 {
		s = s[:256] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// recovery answers a panic with a 500 problem, keeping the process alive.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(c.Request.Context(), "handler panicked", "panic", p)
				abortProblem(c, probInternal, "the request could not be completed; the server log has the cause")
			}
		}()
		c.Next()
	}
}

// keyRing holds bearer keys as digests, compared in constant time.
type keyRing [][sha256.Size]byte

func newKeyRing(keys []string) keyRing {
	r := make(keyRing, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			r = append(r, sha256.Sum256([]byte(k)))
		}
	}
	return r
}

// match reports whether presented is one of the keys. Comparing digests
// keeps the time independent of the key's length and content, and every key
// is compared so the time does not tell which one matched.
func (r keyRing) match(presented string) bool {
	// A key of usual length is copied to the stack to be hashed, not the
	// heap; a longer one costs an allocation.
	var buf [128]byte
	d := sha256.Sum256(append(buf[:0], presented...))
	ok := 0
	for i := range r {
		ok |= subtle.ConstantTimeCompare(d[:], r[i][:])
	}
	return ok == 1
}

// gate is what an authenticated route group checks first: a bearer key
// in the Authorization header (never a query parameter or another header)
// or, for the gateway, an allowed client certificate. Failures are counted
// by the guard, which turns away a source that failed too often.
type gate struct {
	realm string       // "gateway" or "admin": the metric label and the challenge's realm
	keys  keyRing      // bearer keys accepted
	certs certSubjects // client certificates accepted; empty for the admin API
	guard *authGuard
}

// handler returns the gate as middleware.
func (g gate) handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		if wait, ok := g.guard.blocked(c.Request); ok {
			abortTooMany(c, wait)
			return
		}
		if !g.admit(c) {
			g.guard.fail(g.realm, sourceOf(c.Request))
			return
		}
		c.Next()
	}
}

// admit reports whether the request authenticates. When it does not, it
// has answered 401 with a Bearer challenge.
func (g gate) admit(c *gin.Context) bool {
	if name, ok := g.certs.match(c.Request); ok {
		c.Set(clientCertKey, name)
		return true
	}
	token, ok := bearer(c.GetHeader("Authorization"))
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="`+g.realm+`"`)
		abortProblem(c, probUnauthorized, g.wanted()+" is required")
		return false
	}
	if !g.keys.match(token) {
		c.Header("WWW-Authenticate", `Bearer realm="`+g.realm+`", error="invalid_token"`)
		abortProblem(c, probUnauthorized, "the bearer key is not a valid "+g.realm+" key")
		return false
	}
	return true
}

// wanted names what the gate accepts, for a client that sent nothing.
func (g gate) wanted() string {
	s := "an Authorization: Bearer header with a " + g.realm + " key"
	if len(g.certs) > 0 {
		s += ", or an allowed client certificate,"
	}
	return s
}

// clientCertKey holds the allowed client certificate name a request
// authenticated with, for the access line.
const clientCertKey = "jwtup.client_cert"

// bearer extracts the token of an "Authorization: Bearer" value.
func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(h[len(prefix):])
	return token, token != ""
}

// disabled answers every request of a switched-off route group with 404.
func disabled(detail string) gin.HandlerFunc {
	return func(c *gin.Context) { abortProblem(c, probNotFound, detail) }
}

// Values of the no-store headers, shared: net/http only reads them.
var (
	noStoreValue = []string{"no-store"}
	noCacheValue = []string{"no-cache"}
)

// noStore marks an answer as never to be cached: it carries a token.
func noStore(c *gin.Context) {
	h := c.Writer.Header() // keys written in canonical form: no rewriting per request
	h["Cache-Control"] = noStoreValue
	h["Pragma"] = noCacheValue
}
