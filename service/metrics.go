package service

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the service's Prometheus collectors. A nil *Metrics records
// nothing.
type Metrics struct {
	minted  *prometheus.CounterVec
	cache   *prometheus.CounterVec
	signing *prometheus.HistogramVec
}

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
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jwtup_active_key_age_seconds",
		Help: "How long the current signing key has signed.",
	}, func() float64 { return keys.ActiveAge().Seconds() })
	reg.MustRegister(m.minted, m.cache, m.signing, age)
	for _, r := range []string{"hit", "miss", "error"} {
		m.cache.WithLabelValues(r)
	}
	return m
}

func (m *Metrics) cacheResult(result string) {
	if m != nil {
		m.cache.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) signed(alg string, d time.Duration) {
	if m != nil {
		m.minted.WithLabelValues(alg).Inc()
		m.signing.WithLabelValues(alg).Observe(d.Seconds())
	}
}
