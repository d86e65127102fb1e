package main

import (
	"math"
	"math/bits"
	"time"
)

// The histogram keeps latencies in buckets whose width grows with the
// value: below 128 ns one bucket per nanosecond, above that 64 buckets per
// doubling. A quantile read from it, the middle of its bucket, is off by
// less than 1/128 (0.8 %), and its size is fixed however many requests it
// counts.
const (
	subBits  = 6
	subCount = 1 << subBits
	maxShift = 35 // the last doubling starts near 2^41 ns, about 36 minutes
	nBuckets = (maxShift + 2) << subBits
)

// histogram counts latencies. The zero value is empty and ready to use; it
// is not safe for concurrent use, so each connection keeps its own and they
// are merged at the end of a round.
type histogram struct {
	counts [nBuckets]uint64
	total  uint64
}

// record counts one latency; a negative one counts as zero.
func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))]++
	h.total++
}

// merge adds every count of o to h.
func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// quantile returns the latency below which a fraction q of the recorded
// ones lie, as the middle of the bucket that holds it; zero when the
// histogram is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)

	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			return time.Duration(bucketMiddle(i))
		}
	}
	return time.Duration(bucketMiddle(nBuckets - 1))
}

// bucketOf returns the bucket of v nanoseconds. Below 2×subCount the
// bucket is v itself; above, v keeps its top subBits+1 bits.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	if shift > maxShift {
		return nBuckets - 1
	}
	return shift<<subBits + int(v>>shift)
}

// bucketBounds returns the lowest and the highest value that fall in
// bucket i.
func bucketBounds(i int) (low, high uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := i>>subBits - 1
	mantissa := uint64(i - shift<<subBits)
	return mantissa << shift, (mantissa+1)<<shift - 1
}

// bucketMiddle returns the value in the middle of bucket i.
func bucketMiddle(i int) uint64 {
	low, high := bucketBounds(i)
	return low + (high-low)/2
}
