package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store"
)

// BenchmarkGetSpread looks tokens up among n cached ones, picked by Zipf
// as the benchmark program's spread scenarios pick consumers, and copies
// each out as an answer would. It shows what a hit costs once the tokens
// no longer fit in the CPU's caches. The map runs look the same tokens up
// in a plain Go map, a floor that keeps no bound and no statistics.
func BenchmarkGetSpread(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		keys, tokens := spreadTokens(n)
		// The same sequence for every run, drawn before the clock starts
		// (b.Loop starts it at its first call).
		z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(n-1))
		picks := make([]int32, 1<<20)
		for i := range picks {
			picks[i] = int32(z.Uint64())
		}

		b.Run(fmt.Sprintf("cache/%d", n), func(b *testing.B) {
			c, err := NewTokenCache(2 * n)
			if err != nil {
				b.Fatal(err)
			}
			for i, k := range keys {
				if _, err := c.Add(ctx, k, tokens[i]); err != nil {
					b.Fatal(err)
				}
			}
			lookups := copyKeys(keys)
			answer := make([]byte, 0, 1024)
			for i := 0; b.Loop(); i++ {
				t, err := c.Get(ctx, lookups[picks[i&(len(picks)-1)]])
				if err != nil {
					b.Fatal(err)
				}
				answer = append(answer[:0], t.Value...)
			}
		})

		b.Run(fmt.Sprintf("map/%d", n), func(b *testing.B) {
			m := make(map[store.TokenKey]store.Token, n)
			for i, k := range keys {
				m[k] = tokens[i]
			}
			lookups := copyKeys(keys)
			answer := make([]byte, 0, 1024)
			for i := 0; b.Loop(); i++ {
				t, ok := m[lookups[picks[i&(len(picks)-1)]]]
				if !ok {
					b.Fatal("not found")
				}
				answer = append(answer[:0], t.Value...)
			}
		})
	}
}

// spreadTokens makes n keys and tokens of about an ES256 token's size.
func spreadTokens(n int) ([]store.TokenKey, []store.Token) {
	stale := time.Now().Add(time.Hour)
	keys, tokens := make([]store.TokenKey, n), make([]store.Token, n)
	for i := range keys {
		keys[i] = store.TokenKey{Subject: fmt.Sprintf("consumer-%d", i), Digest: fmt.Sprintf("%043d", i)}
		tokens[i] = store.Token{Subject: keys[i].Subject, Value: fmt.Sprintf("%s.%d", strings.Repeat("e", 480), i),
			KID: "kid", ExpiresAt: stale, StaleAt: stale}
	}
	return keys, tokens
}

// copyKeys returns copies of keys: a request's key is made anew, not the
// one stored, so comparing the two reads both.
func copyKeys(keys []store.TokenKey) []store.TokenKey {
	out := make([]store.TokenKey, len(keys))
	for i, k := range keys {
		out[i] = store.TokenKey{Subject: strings.Clone(k.Subject), Digest: strings.Clone(k.Digest)}
	}
	return out
}
