package api

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// AuthLimit bounds failed authentications per source address, so that a
// gateway or admin key cannot be guessed at speed.
type AuthLimit struct {
	// Failures is how many failed authentications a source may make within
	// Window; the next request of that source, with a good key or not, is
	// refused with 429 until the window ends. Zero turns the limit off.
	Failures int
	// Window is how long a source's failures are counted, from its first.
	Window time.Duration
	// Sources bounds how many sources are tracked at once; zero means
	// defaultAuthSources. Beyond it the least useful entries are dropped.
	Sources int
}

// defaultAuthSources is how many sources the guard tracks unless told:
// about 10 MB at most.
const defaultAuthSources = 100_000

var probTooMany = problemKind{"too-many-failures", "Too many failed authentications", http.StatusTooManyRequests}

// authGuard counts failed authentications by source and turns a source
// away for the rest of its window once it failed too often. Successful
// requests are never counted, and cost a lookup only while some source is
// turned away.
type authGuard struct {
	limit    AuthLimit
	now      func() time.Time
	windows  *otter.Cache[netip.Prefix, failWindow] // nil: the limit is off
	failures *prometheus.CounterVec

	// blockedUntil is when, in Unix nanoseconds by now, the last window in
	// which a source reached the limit ends; 0 while none has. Until some
	// source reaches the limit, and again once all such windows are over,
	// blocked answers without looking the request's source up.
	blockedUntil atomic.Int64
}

// failWindow is one source's failures since start.
type failWindow struct {
	start time.Time
	count int
}

// newAuthGuard returns a guard with its failure counter registered in reg.
func newAuthGuard(limit AuthLimit, now func() time.Time, reg prometheus.Registerer) *authGuard {
	g := &authGuard{limit: limit, now: now, failures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwtup_auth_failures_total",
		Help: "Requests refused with 401 for no key, a wrong key or a certificate not allowed, by API (gateway or admin).",
	}, []string{"api"})}
	reg.MustRegister(g.failures)
	g.failures.WithLabelValues("gateway")
	g.failures.WithLabelValues("admin")
	if g.now == nil {
		g.now = time.Now
	}
	if limit.Failures <= 0 || limit.Window <= 0 {
		return g
	}
	if g.limit.Sources <= 0 {
		g.limit.Sources = defaultAuthSources
	}
	// The size bound is what keeps an attacker from growing the map: otter
	// evicts past it. Must panics only on invalid options; these are fixed.
	g.windows = otter.Must(&otter.Options[netip.Prefix, failWindow]{MaximumSize: g.limit.Sources})
	return g
}

// blocked reports whether the source of r is turned away now, and for how
// long still.
func (g *authGuard) blocked(r *http.Request) (time.Duration, bool) {
	if g.windows == nil {
		return 0, false
	}
	if until := g.blockedUntil.Load(); until == 0 || g.now().UnixNano() >= until {
		return 0, false
	}
	w, ok := g.windows.GetIfPresent(sourceOf(r))
	if !ok || w.count < g.limit.Failures {
		return 0, false
	}
	left := w.start.Add(g.limit.Window).Sub(g.now())
	return left, left > 0
}

// fail counts a failed authentication of source on api.
func (g *authGuard) fail(api string, source netip.Prefix) {
	g.failures.WithLabelValues(api).Inc()
	if g.windows == nil {
		return
	}
	now := g.now()
	w, _ := g.windows.Compute(source, func(w failWindow, found bool) (failWindow, otter.ComputeOp) {
		if !found || !now.Before(w.start.Add(g.limit.Window)) {
			return failWindow{start: now, count: 1}, otter.WriteOp
		}
		w.count++
		return w, otter.WriteOp
	})
	if w.count < g.limit.Failures {
		return
	}
	end := w.start.Add(g.limit.Window).UnixNano()
	for {
		until := g.blockedUntil.Load()
		if end <= until || g.blockedUntil.CompareAndSwap(until, end) {
			return
		}
	}
}

// sourceOf returns the source a request is counted under: the TCP peer's
// IPv4 address, or the /64 of its IPv6 address, since one IPv6 host often
// holds a whole /64. X-Forwarded-For is not believed: a client sets it.
func sourceOf(r *http.Request) netip.Prefix {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{} // not TCP: every such request shares one count
	}
	a := ap.Addr().Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// abortTooMany answers a turned-away source with 429 and when to retry.
func abortTooMany(c *gin.Context, wait time.Duration) {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	c.Header("Retry-After", strconv.Itoa(secs))
	abortProblem(c, probTooMany, "too many failed authentications from this address; retry after "+
		strconv.Itoa(secs)+" seconds")
}

// certSubjects is the allow-list of client certificate subjects that
// authenticate a gateway.
type certSubjects map[string]bool

func newCertSubjects(names []string) certSubjects {
	s := certSubjects{}
	for _, n := range names {
		if n != "" {
			s[n] = true
		}
	}
	return s
}

// match returns the allowed name of the request's client certificate. Only
// a certificate the TLS layer verified against the client CA counts; its
// common name and each DNS name are compared exactly.
func (s certSubjects) match(r *http.Request) (string, bool) {
	if len(s) == 0 || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	for _, name := range append([]string{leaf.Subject.CommonName}, leaf.DNSNames...) {
		if name != "" && s[name] {
			return name, true
		}
	}
	return "", false
}
