package service

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

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

// benchSpec is the token of req for the audience "orders" with the claim
// layout p.
func benchSpec(p Profile, req *MintRequest, times claimTimes) tokenSpec {
	req.Audience = "orders"
	return tokenSpec{p: compileProfile(AudienceProfile{Claims: p, Type: TypeJWT}), r: req,
		iss: "https://jwt-up.example", jti: "jti", times: times}
}

// BenchmarkBuildClaims measures the payload of a typical token.
func BenchmarkBuildClaims(b *testing.B) {
	for _, p := range []Profile{ProfileStandard, ProfileKongHeaders} {
		b.Run(string(p), func(b *testing.B) {
			req := benchRequest()
			times := claimTimes{iat: time.Now(), nbf: time.Now(), exp: time.Now().Add(time.Minute)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := benchSpec(p, &req, times).claims(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSign measures signing one payload with the active key.
func BenchmarkSign(b *testing.B) {
	req := benchRequest()
	payload, err := benchSpec(ProfileStandard, &req, claimTimes{}).claims()
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range Algorithms {
		b.Run(alg, func(b *testing.B) {
			k := newBenchFixture(b, alg).keys.activeKey()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.sign(payload, TypeJWT); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCacheKey measures the digest of a request's inputs.
func BenchmarkCacheKey(b *testing.B) {
	m := NewMinter(testMintConfig, nil, nil, nil)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		m.cacheKey(m.profiles.Load().def, &req, nil)
	}
}

func benchRequest() MintRequest {
	return MintRequest{
		Consumer:   Consumer{ID: "4e1c", Username: "alice", CustomID: "c-42"},
		Groups:     []string{"gold", "eu"},
		Scopes:     []string{"orders:read"},
		Credential: &Credential{ID: "9b7", Identifier: "alice-key-1"},
		Claims:     map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`)},
	}
}
