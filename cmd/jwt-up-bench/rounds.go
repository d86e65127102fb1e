package main

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// scenarioRun is a scenario in progress: its servers and what their loads
// share.
type scenarioRun struct {
	sc      scenario
	servers []*proc // jwt-up first, then its ceiling(s)
	etag    string  // of jwt-up's JWKS, which the ceilings serve too
	fresh   atomic.Uint64
}

// load returns the load of one run against p. seed is the same for every
// server of a pair.
func (r *scenarioRun) load(b *bench, p *proc, d time.Duration, seed uint64) load {
	return load{
		addr:        p.addr,
		request:     r.sc.buildRequest(p.addr, b.key, r.etag),
		ids:         r.sc.ids(seed, &r.fresh),
		connections: b.opts.connections,
		duration:    d,
	}
}

// measure fills the cache if the scenario asks, warms every server up,
// runs the rounds, and for a paced scenario the paced runs after them.
func (b *bench) measure(ctx context.Context, run *scenarioRun, res *scenarioResult) error {
	if run.sc.fill > 0 {
		if err := b.fill(ctx, run, res); err != nil {
			return err
		}
	}
	if err := b.warmUp(ctx, run); err != nil {
		return err
	}
	if err := b.measureRounds(ctx, run, res); err != nil {
		return err
	}
	if run.sc.paced {
		return b.measurePaced(ctx, run, res)
	}
	return nil
}

// warmUp sends each server the scenario's load for the warm-up time, so
// that the first round finds it with its connections, caches and heap
// grown.
func (b *bench) warmUp(ctx context.Context, run *scenarioRun) error {
	if b.opts.warmup == 0 {
		return nil
	}
	for _, p := range run.servers {
		if _, err := run.load(b, p, b.opts.warmup, 0).run(ctx); err != nil {
			return fmt.Errorf("warm up %s: %w", p.name, err)
		}
	}
	return nil
}

// measureRounds runs the rounds in turns: jwt-up, then each ceiling, as
// many times as asked.
func (b *bench) measureRounds(ctx context.Context, run *scenarioRun, res *scenarioResult) error {
	res.sides = make([]side, len(run.servers))
	for i, p := range run.servers {
		res.sides[i] = side{name: p.name, latency: new(histogram)}
	}
	for pair := range b.rounds(run.sc) {
		for i, p := range run.servers {
			rd, err := b.measureRound(ctx, p, run.load(b, p, b.opts.duration, uint64(pair+1)))
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", pair+1, p.name, err)
			}
			res.sides[i].add(rd)
			b.progress.Printf("  round %d %-16s %8.0f req/s  p99 %s ms  allocs/req %.1f  CPU/req %s µs",
				pair+1, p.name, rd.load.rps(), fmtMillis(rd.load.latency.quantile(0.99)), rd.allocs(),
				fmtCount(rd.cpuMicros()))
		}
	}
	return nil
}

// rounds is the number of rounds per server of sc.
func (b *bench) rounds(sc scenario) int {
	if sc.sign {
		return b.opts.missRounds
	}
	return b.opts.rounds
}

// measureRound runs l and reads p's allocation, CPU and cache-miss
// counters before and after.
func (b *bench) measureRound(ctx context.Context, p *proc, l load) (round, error) {
	before, err := readMetrics(ctx, p.addr)
	if err != nil {
		return round{}, err
	}
	res, err := l.run(ctx)
	if err != nil {
		return round{}, err
	}
	after, err := readMetrics(ctx, p.addr)
	if err != nil {
		return round{}, err
	}

	rd := round{
		load:    res,
		mallocs: growth(before, after, mallocsSeries),
		cpu:     growth(before, after, cpuSeries),
		misses:  growth(before, after, missesSeries),
	}
	return rd, ctx.Err()
}

// fill mints one token for each of the scenario's first consumers, so that
// the rounds measure hits. With Redis, it also reads how much memory the
// tokens took there.
func (b *bench) fill(ctx context.Context, run *scenarioRun, res *scenarioResult) error {
	b.progress.Printf("  filling the cache with %d consumers", run.sc.fill)
	var next atomic.Uint64
	l := run.load(b, run.servers[0], b.opts.fillTimeout, 0)
	l.ids = func(int) idSource { return countingConsumers{n: &next, limit: uint64(run.sc.fill)} }

	var err error
	if run.sc.redis {
		if res.fill.redisBefore, err = b.redis.usage(ctx); err != nil {
			return err
		}
	}
	lr, err := l.run(ctx)
	if err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	res.fill.consumers, res.fill.took = run.sc.fill, lr.elapsed
	if lr.ok != uint64(run.sc.fill) {
		return fmt.Errorf("fill: %d of %d consumers got a token in %s (%s)",
			lr.ok, run.sc.fill, lr.elapsed.Round(time.Second), lr.sample)
	}
	if run.sc.redis {
		res.fill.redisAfter, err = b.redis.usage(ctx)
	}
	return err
}

// measurePaced sends to jwt-up and to its ceiling at half the rate the
// ceiling reached, to see jwt-up's latency when the machine is not
// saturated. Like the full-load rounds, the paced ones alternate, as many
// as the scenario has: a stall of the machine in one of them then shows
// as that round's figure and not as the whole result.
func (b *bench) measurePaced(ctx context.Context, run *scenarioRun, res *scenarioResult) error {
	paced := &pacedResult{rate: res.sides[1].rps() / 2}
	for _, p := range run.servers[:2] {
		paced.sides = append(paced.sides, side{name: p.name, latency: new(histogram)})
	}
	for pair := range b.rounds(run.sc) {
		for i, p := range run.servers[:2] {
			l := run.load(b, p, b.opts.duration, uint64(pair+1))
			l.rate = paced.rate
			rd, err := b.measureRound(ctx, p, l)
			if err != nil {
				return fmt.Errorf("paced round %d, %s: %w", pair+1, p.name, err)
			}
			paced.sides[i].add(rd)
			b.progress.Printf("  paced round %d %.0f req/s %-16s p99 %s ms  CPU/req %s µs", pair+1, paced.rate,
				p.name, fmtMillis(rd.load.latency.quantile(0.99)), fmtCount(rd.cpuMicros()))
		}
	}
	res.paced = paced
	return nil
}

// growth is how much a series grew from before to after; NaN when the
// server does not serve it.
func growth(before, after map[string]float64, series string) float64 {
	v, ok := after[series]
	if !ok {
		return math.NaN()
	}
	return v - before[series]
}
