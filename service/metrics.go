package service

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the service's Prometheus collectors. A nil *Metrics records
// nothing.
type Metrics struct {
	minted  *prometheus.CounterVec
	cache   *prometheus.CounterVec
	signing *prometheus.HistogramVec
	subject *prometheus.CounterVec

	// cacheBy holds cache's counter of each cacheOutcome, looked up once:
	// finding one by its label costs more than the rest of a cache hit's
	// bookkeeping.
	cacheBy [cacheOutcomes]prometheus.Counter
}

// cacheOutcome is the result of a token cache look-up.
type cacheOutcome int

const (
	cacheHit cacheOutcome = iota
	cacheMiss
	cacheError
	cacheOutcomes // how many there are
)

// cacheLabels are the outcomes' label values, in order.
var cacheLabels = [cacheOutcomes]string{"hit", "miss", "error"}

// NewMetrics registers the service's collectors on reg, with a gauge of the
// age of the signing key read from keys.
func NewMetrics(reg prometheus.Registerer, keys *KeyManager) *Metrics {
	m := &Metrics{
		minted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtup_tokens_minted_total",
			Help: "Tokens signed, by algorithm.",
		}, []string{"alg"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtup_token_cache_requests_total",
			Help: "Token cache look-ups, by result: hit, miss or error.",
		}, []string{"result"}),
		signing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jwtup_signing_seconds",
			Help:    "Time to sign one token, by algorithm.",
			Buckets: prometheus.ExponentialBuckets(0.00002, 2.5, 10),
		}, []string{"alg"}),
		subject: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtup_subject_tokens_total",
			Help: "Subject tokens checked for re-signing, by result: verified, refused or issuer_unavailable.",
		}, []string{"result"}),
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jwtup_active_key_age_seconds",
		Help: "How long the current signing key has signed.",
	}, func() float64 { return keys.ActiveAge().Seconds() })
	reg.MustRegister(m.minted, m.cache, m.signing, m.subject, age)
	for o, label := range cacheLabels {
		m.cacheBy[o] = m.cache.WithLabelValues(label)
	}
	for _, r := range []string{"verified", "refused", "issuer_unavailable"} {
		m.subject.WithLabelValues(r)
	}
	return m
}

func (m *Metrics) cacheResult(o cacheOutcome) {
	if m != nil {
		m.cacheBy[o].Inc()
	}
}

func (m *Metrics) signed(alg string, d time.Duration) {
	if m != nil {
		m.minted.WithLabelValues(alg).Inc()
		m.signing.WithLabelValues(alg).Observe(d.Seconds())
	}
}

// subjectChecked counts a subject token check by its outcome.
func (m *Metrics) subjectChecked(err error) {
	if m == nil {
		return
	}
	result := "verified"
	switch {
	case errors.Is(err, ErrIssuerUnavailable):
		result = "issuer_unavailable"
	case err != nil:
		result = "refused"
	}
	m.subject.WithLabelValues(result).Inc()
}
