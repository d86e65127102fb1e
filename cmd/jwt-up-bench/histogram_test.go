package main

import (
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
		slack  float64 // relative error allowed either way
	}{
		{name: "empty", q: 0.99, want: 0},
		{name: "one value", values: []time.Duration{42}, q: 0.5, want: 42},
		{name: "small values are exact: median", values: upTo(60, 1), q: 0.5, want: 30},
		{name: "small values are exact: p99", values: upTo(60, 1), q: 0.99, want: 60},
		{name: "large values: median", values: upTo(1000, time.Microsecond), q: 0.5,
			want: 500 * time.Microsecond, slack: 1.0 / 128},
		{name: "large values: p99", values: upTo(1000, time.Microsecond), q: 0.99,
			want: 990 * time.Microsecond, slack: 1.0 / 128},
		{name: "large values: p99.9", values: upTo(1000, time.Microsecond), q: 0.999,
			want: 999 * time.Microsecond, slack: 1.0 / 128},
		{name: "beyond the last bucket", values: []time.Duration{100 * time.Hour}, q: 1,
			want: time.Duration(bucketMiddle(nBuckets - 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			got := h.quantile(tt.q)
			if diff := float64(got-tt.want) / float64(max(tt.want, 1)); diff < -tt.slack || diff > tt.slack {
				t.Errorf("quantile(%v) = %v, want %v (within %.1f%%)", tt.q, got, tt.want, tt.slack*100)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b histogram
	for _, v := range upTo(50, 1) {
		a.record(v)
	}
	for _, v := range upTo(50, 1) {
		b.record(v + 50)
	}
	a.merge(&b)
	if a.total != 100 {
		t.Errorf("total = %d, want 100", a.total)
	}
	if got := a.quantile(0.5); got != 50 {
		t.Errorf("median = %v, want 50ns", got)
	}
}

// TestBuckets checks that every value falls in a bucket whose range holds
// it, and that buckets follow the order of values.
func TestBuckets(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v += 1 + v/97 {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d, below the bucket of a smaller value (%d)", v, i, prev)
		}
		if low, high := bucketBounds(i); v < low || v > high {
			t.Fatalf("value %d is in bucket %d, which holds %d … %d", v, i, low, high)
		}
		if i > 0 {
			if _, high := bucketBounds(i - 1); high >= v {
				t.Fatalf("value %d also fits bucket %d below its own (%d)", v, i-1, i)
			}
		}
		prev = i
	}
}

// upTo returns unit, 2×unit, … n×unit.
func upTo(n int, unit time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * unit
	}
	return out
}
