package main

import (
	"context"
	"slices"
	"testing"
)

const mib = 1 << 20

func TestGCPacerPercentFor(t *testing.T) {
	p := newGCPacer(32 * mib)
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 800},          // before the first collection: Go's least goal, 4 MiB × 8
		{1 * mib, 800},    // capped, or the least goal would pass 32 MiB
		{10 * mib, 320},   // grows by 32 MiB
		{16 * mib, 200},   // likewise
		{32 * mib, 100},   // from here on, Go's default
		{1024 * mib, 100}, // a large token cache: never below the default
		{1 << 40, 100},    // absurdly large
	} {
		if got := p.percentFor(tc.live); got != tc.want {
			t.Errorf("percentFor(%d MiB) = %d, want %d", tc.live/mib, got, tc.want)
		}
	}
}

func TestGCPacerAdjustSkipsSmallChanges(t *testing.T) {
	var set []int
	p := newGCPacer(32 * mib)
	p.setGC = func(percent int) int { set = append(set, percent); return 0 }
	for _, live := range []uint64{0, 10 * mib, 10*mib + mib/2, 9*mib + mib/2,
		40 * mib, 41 * mib, 8 * mib} {
		p.adjust(live)
	}
	// 0 → 800; 10 MiB → 320; 9.5 to 10.5 MiB are within a fifth of 320;
	// 40 MiB → back to 100; 41 MiB stays; 8 MiB → 400.
	if want := []int{800, 320, 100, 400}; !slices.Equal(set, want) {
		t.Fatalf("GOGC set to %v, want %v", set, want)
	}
	if p.percent != 400 {
		t.Fatalf("percent %d after the last change, want 400", p.percent)
	}
}

func TestGCPacerRunReadsTheLiveHeap(t *testing.T) {
	var set []int
	p := newGCPacer(32 * mib)
	p.percent = 0 // so that whatever the test's heap, the first reading sets GOGC
	p.setGC = func(percent int) int { set = append(set, percent); return 0 }
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // run still reads once before it looks at ctx
	p.run(ctx, 1)
	if len(set) != 1 || set[0] < 100 || set[0] > 800 {
		t.Fatalf("GOGC set to %v, want one value in [100, 800]", set)
	}
}
