package service

import (
	"context"
	"strconv"
	"testing"

	"github.com/jwt-up/jwt-up/store/memory"
)

// BenchmarkMintHit measures a mint served from the in-process cache.
func BenchmarkMintHit(b *testing.B) {
	f := newBenchFixture(b, "ES256")
	req := MintRequest{Consumer: Consumer{ID: "alice"}, Groups: []string{"gold"}}
	if _, err := f.minter.Mint(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.minter.Mint(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintMiss measures a mint that signs: a new consumer every time.
func BenchmarkMintMiss(b *testing.B) {
	for _, alg := range Algorithms {
		b.Run(alg, func(b *testing.B) {
			f := newBenchFixture(b, alg)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				req := MintRequest{Consumer: Consumer{ID: "c-" + strconv.Itoa(i)}}
				if _, err := f.minter.Mint(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func newBenchFixture(b *testing.B, alg string) *mintFixture {
	b.Helper()
	cfg := testKeyConfig
	cfg.Alg = alg
	clk := newClock()
	keys := newTestManager(b, nil, cfg, clk)
	cache, err := memory.NewTokenCache(1 << 20)
	if err != nil {
		b.Fatal(err)
	}
	m := NewMinter(testMintConfig, keys, cache, nil)
	m.SetClock(clk.Now)
	return &mintFixture{clk: clk, keys: keys, minter: m}
}
