package main

import (
	"math"
	"slices"
	"time"
)

// round is one measured run against one server.
type round struct {
	load    loadResult
	mallocs float64 // heap objects the server allocated during the run; NaN if unknown
	cpu     float64 // CPU seconds the server used during the run; NaN if unknown
	misses  float64 // jwt-up's cache misses during the run; NaN for a ceiling
}

// allocs is the server's allocations per request served.
func (r round) allocs() float64 {
	return perRequest(r.mallocs, r.load.served())
}

// cpuMicros is the server's CPU time per request served, in microseconds.
func (r round) cpuMicros() float64 {
	return perRequest(r.cpu*1e6, r.load.served())
}

// side is every round of one server in a scenario.
type side struct {
	name    string
	rounds  []round
	latency *histogram // of every round
}

// add keeps rd and merges its latencies.
func (s *side) add(rd round) {
	s.rounds = append(s.rounds, rd)
	s.latency.merge(rd.load.latency)
}

// rps is the median of the rounds' requests per second.
func (s side) rps() float64 {
	v := make([]float64, len(s.rounds))
	for i, rd := range s.rounds {
		v[i] = rd.load.rps()
	}
	return median(v)
}

// p99s lists the p99 latency of each round, in the order they ran.
func (s side) p99s() []float64 {
	v := make([]float64, len(s.rounds))
	for i, rd := range s.rounds {
		v[i] = millis(rd.load.latency.quantile(0.99))
	}
	return v
}

// total adds up a count over the rounds.
func (s side) total(count func(round) float64) float64 {
	var sum float64
	for _, rd := range s.rounds {
		sum += count(rd)
	}
	return sum
}

// served is the number of requests the server answered or lost.
func (s side) served() uint64 {
	return uint64(s.total(func(rd round) float64 { return float64(rd.load.served()) }))
}

// failed is the number of requests that did not end in 2xx or 304.
func (s side) failed() uint64 {
	return uint64(s.total(func(rd round) float64 { return float64(rd.load.failed) }))
}

// allocs is the server's allocations per request over every round.
func (s side) allocs() float64 {
	return perRequest(s.total(func(rd round) float64 { return rd.mallocs }), s.served())
}

// cpuMicros is the server's CPU time per request over every round, in
// microseconds; NaN when the server does not report it.
func (s side) cpuMicros() float64 {
	return perRequest(s.total(func(rd round) float64 { return rd.cpu })*1e6, s.served())
}

// misses is jwt-up's cache misses per request over every round; NaN when
// the server does not count them.
func (s side) misses() float64 {
	return perRequest(s.total(func(rd round) float64 { return rd.misses }), s.served())
}

// sample is one failure of any round, to show what went wrong.
func (s side) sample() string {
	for _, rd := range s.rounds {
		if rd.load.sample != "" {
			return rd.load.sample
		}
	}
	return ""
}

func perRequest(count float64, requests uint64) float64 {
	if requests == 0 {
		return math.NaN()
	}
	return count / float64(requests)
}

// pacedResult is jwt-up and its ceiling at a fixed request rate.
type pacedResult struct {
	rate  float64 // requests per second, over all connections
	sides []side  // jwt-up, then the ceiling
}

// fillResult is the filling of the cache before the rounds.
type fillResult struct {
	consumers   int
	took        time.Duration
	redisBefore redisUsage
	redisAfter  redisUsage // zero without Redis
}

// redisBytesPerToken is the growth of Redis used_memory per consumer
// filled; NaN without Redis.
func (f fillResult) redisBytesPerToken() float64 {
	if f.consumers == 0 || f.redisAfter.usedMemory == 0 {
		return math.NaN()
	}
	return float64(f.redisAfter.usedMemory-f.redisBefore.usedMemory) / float64(f.consumers)
}

// scenarioResult is everything measured for one scenario.
type scenarioResult struct {
	scenario
	note  string // why it was skipped or failed; empty when it ran
	sides []side // jwt-up, then its ceiling, then the constant ceiling if signing
	fill  fillResult
	paced *pacedResult
}

// ran reports whether the scenario has rounds to show.
func (r scenarioResult) ran() bool {
	return r.note == "" && len(r.sides) >= 2
}

// ratios returns jwt-up's requests per second over those of side i, per
// pair of rounds.
func (r scenarioResult) ratios(i int) []float64 {
	if i >= len(r.sides) {
		return nil
	}
	up, other := r.sides[0].rounds, r.sides[i].rounds
	n := min(len(up), len(other))
	out := make([]float64, n)
	for k := range n {
		out[k] = ratio(up[k].load.rps(), other[k].load.rps())
	}
	return out
}

// ratio is a/b, NaN when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// median returns the middle of v, or the mean of its two middles; NaN for
// an empty v. v is not changed.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}
