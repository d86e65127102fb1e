package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPoolRoundRobin(t *testing.T) {
	p := newPool(3)
	var got []int
	for range 6 {
		i, ok := p.pick()
		if !ok {
			t.Fatal("pick found no replica in a full pool")
		}
		got = append(got, i)
	}
	if want := []int{0, 1, 2, 0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("picks = %v, want %v", got, want)
	}
}

func TestPoolDropAndAdd(t *testing.T) {
	p := newPool(3)
	p.drop(1)
	for range 4 {
		if i, _ := p.pick(); i == 1 {
			t.Fatal("picked a dropped replica")
		}
	}
	if got := p.out(); !slices.Equal(got, []int{1}) {
		t.Errorf("out = %v, want [1]", got)
	}

	p.add(1)
	seen := map[int]bool{}
	for range 3 {
		i, _ := p.pick()
		seen[i] = true
	}
	if !seen[1] || len(p.out()) != 0 {
		t.Errorf("replica 1 not back in rotation: seen %v, out %v", seen, p.out())
	}
}

func TestPoolOther(t *testing.T) {
	p := newPool(3)
	for range 5 {
		if i, ok := p.other(2); !ok || i == 2 {
			t.Fatalf("other(2) = %d, %v", i, ok)
		}
	}
	p.drop(0)
	p.drop(1)
	if i, ok := p.other(2); ok {
		t.Errorf("other(2) = %d with only 2 in rotation, want none", i)
	}
	if i, ok := p.pick(); !ok || i != 2 {
		t.Errorf("pick = %d, %v; want 2", i, ok)
	}
	p.drop(2)
	if _, ok := p.pick(); ok {
		t.Error("pick found a replica in an empty rotation")
	}
}

func TestConsumerMix(t *testing.T) {
	now := time.Unix(1000, 0)
	counts := map[string]int{}
	seen := map[string]bool{}
	for w := range 4 {
		for i := range 100 {
			c := consumerFor("t", w, i, now)
			kind, _, _ := strings.Cut(c, "-")
			counts[kind]++
			if kind == "new" && seen[c] {
				t.Fatalf("new consumer %q came twice", c)
			}
			seen[c] = true
		}
	}
	want := map[string]int{"repeat": 240, "recent": 80, "new": 80}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s consumers: %d, want %d (all: %v)", k, counts[k], n, counts)
		}
	}

	// Every worker asks for the same recent consumer within a window, and
	// for a different one in the next.
	a, b := consumerFor("t", 0, 3, now), consumerFor("t", 3, 8, now.Add(recentWindow/2-1))
	if a != b {
		t.Errorf("recent consumers differ in one window: %q, %q", a, b)
	}
	if c := consumerFor("t", 0, 3, now.Add(recentWindow)); c == a {
		t.Errorf("recent consumer %q did not change after a window", c)
	}
	if consumerFor("t", 0, 4, now) == consumerFor("u", 0, 4, now) {
		t.Error("new consumers of two scenarios collide")
	}
}
