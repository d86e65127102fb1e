package main

import (
	"sync/atomic"
	"testing"
)

func TestZipfConsumersRange(t *testing.T) {
	for _, n := range []uint64{1, 2, 1_000, 100_000, 1_000_000} {
		picker := newZipfConsumers(n, 7)
		counts := map[uint64]int{}
		for range 50_000 {
			id, ok := picker.next()
			if !ok {
				t.Fatalf("n=%d: picker ran out", n)
			}
			if id >= n {
				t.Fatalf("n=%d: picked %d, out of [0, %d)", n, id, n)
			}
			counts[id]++
		}
		if n >= 1_000 && counts[0] <= counts[n/2] {
			t.Errorf("n=%d: consumer 0 picked %d times, consumer %d %d times; want the first far ahead",
				n, counts[0], n/2, counts[n/2])
		}
		if n >= 1_000 && len(counts) < 100 {
			t.Errorf("n=%d: only %d distinct consumers in 50 000 picks, want a spread", n, len(counts))
		}
	}
}

func TestZipfConsumersSeed(t *testing.T) {
	a, b, c := newZipfConsumers(1000, 1), newZipfConsumers(1000, 1), newZipfConsumers(1000, 2)
	same, differ := true, false
	for range 100 {
		x, _ := a.next()
		y, _ := b.next()
		z, _ := c.next()
		same = same && x == y
		differ = differ || x != z
	}
	if !same {
		t.Error("two pickers with the same seed gave different sequences")
	}
	if !differ {
		t.Error("pickers with different seeds gave the same sequence")
	}
}

func TestCountingConsumers(t *testing.T) {
	var n atomic.Uint64
	a, b := countingConsumers{n: &n, limit: 3}, countingConsumers{n: &n, limit: 3}
	var got []uint64
	for _, src := range []idSource{a, b, a, b} {
		if id, ok := src.next(); ok {
			got = append(got, id)
		}
	}
	if len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
		t.Errorf("ids = %v, want [0 1 2] shared by both sources and stopping at the limit", got)
	}
}
