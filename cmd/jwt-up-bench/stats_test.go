package main

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "one", in: []float64{0.7}, want: 0.7},
		{name: "odd, unsorted", in: []float64{0.9, 0.5, 0.7}, want: 0.7},
		{name: "even: mean of the middles", in: []float64{1, 0.2, 0.6, 0.8}, want: 0.7},
		{name: "outlier does not pull", in: []float64{0.9, 0.91, 12}, want: 0.91},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := median(tt.in); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatalf("median reordered its input: %v, was %v", tt.in, in)
				}
			}
		})
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

func TestRatiosPerPair(t *testing.T) {
	res := scenarioResult{sides: []side{
		sideOf("jwt-up", 900, 1000, 500),
		sideOf("ceiling", 1000, 1000, 1000),
	}}
	got := res.ratios(1)
	want := []float64{0.9, 1, 0.5}
	if len(got) != len(want) {
		t.Fatalf("ratios = %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("ratios = %v, want %v", got, want)
		}
	}
	if m := median(got); math.Abs(m-0.9) > 1e-9 {
		t.Errorf("median of ratios = %v, want 0.9", m)
	}
	if extra := res.ratios(2); extra != nil {
		t.Errorf("ratios to a side that does not exist = %v, want nil", extra)
	}
}

// sideOf is a side whose rounds each served rps requests in one second,
// all at 1 ms, with 10 allocations and 50 µs of CPU per request.
func sideOf(name string, rps ...float64) side {
	s := side{name: name, latency: new(histogram)}
	for _, r := range rps {
		h := new(histogram)
		for range int(r) {
			h.record(time.Millisecond)
		}
		s.add(round{
			load:    loadResult{ok: uint64(r), elapsed: time.Second, latency: h},
			mallocs: 10 * r,
			cpu:     50e-6 * r,
			misses:  math.NaN(),
		})
	}
	return s
}
