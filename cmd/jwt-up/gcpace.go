package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcMinGrowth is how much the heap may grow between two collections at
// least. jwt-up's heap is small (some 10 MB without a large token cache)
// while it allocates a few kilobytes per request: with Go's default GOGC
// of 100 it would collect some twenty times a second under load, and
// every collection stops the world twice. Letting a small heap grow by
// this much first makes collections several times rarer, for a bounded
// cost in memory. A heap larger than this grows by GOGC's 100 % anyway.
const gcMinGrowth = 32 << 20

// liveHeapMetric is the heap marked live by the last collection.
const liveHeapMetric = "/gc/heap/live:bytes"

// gcPacer raises GOGC while the live heap is small, so that the heap
// grows by at least minGrowth between collections, and lowers it back
// to 100 as the heap grows. It runs only when the operator has not set
// GOGC; GOMEMLIMIT, if set, still bounds the heap as the runtime
// documents.
type gcPacer struct {
	minGrowth uint64
	setGC     func(percent int) int // debug.SetGCPercent in production
	percent   int                   // the GOGC set now
}

func newGCPacer(minGrowth uint64) *gcPacer {
	return &gcPacer{minGrowth: minGrowth, setGC: debug.SetGCPercent, percent: 100}
}

// goMinHeap is Go's least heap goal at GOGC=100; the runtime scales it
// with GOGC, so a high GOGC also delays the first collections of a
// small heap.
const goMinHeap = 4 << 20

// percentFor is the GOGC that lets a heap of live bytes grow by
// minGrowth, never less than Go's default 100, and never so much that
// the least heap goal passes minGrowth.
func (p *gcPacer) percentFor(live uint64) int {
	most := int(p.minGrowth * 100 / goMinHeap)
	if live == 0 {
		return most
	}
	return min(most, max(100, int(p.minGrowth*100/live)))
}

// adjust sets GOGC for a live heap of live bytes. Setting GOGC stops the
// world briefly, so a change smaller than a fifth is skipped: the live
// heap of a busy jwt-up wanders a little from one collection to the
// next.
func (p *gcPacer) adjust(live uint64) {
	want := p.percentFor(live)
	diff := want - p.percent
	if diff == 0 || (want != 100 && diff*5 < p.percent && -diff*5 < p.percent) {
		return
	}
	p.setGC(want)
	p.percent = want
}

// run adjusts GOGC at once, then after every tick of every, until ctx
// ends.
func (p *gcPacer) run(ctx context.Context, every time.Duration) {
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			p.adjust(sample[0].Value.Uint64())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
