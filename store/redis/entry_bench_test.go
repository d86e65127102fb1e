package redis

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/storetest"
)

// benchToken returns an RS256 token as jwt-up mints it, about 800
// characters, fresh for an hour.
func benchToken(subject string) store.Token {
	const kid = "rmcRAQzaVN96MGmjpLjDKZlOb5cz-ElMy4KM9wasrmk"
	enc := base64.RawURLEncoding
	header := `{"alg":"RS256","kid":"` + kid + `","typ":"JWT"}`
	v := enc.EncodeToString([]byte(header)) + "." +
		enc.EncodeToString(make([]byte, 260)) + "." + enc.EncodeToString(make([]byte, 256))
	now := time.Now()
	return store.Token{Subject: subject, Value: v, KID: kid,
		ExpiresAt: now.Add(2 * time.Hour), StaleAt: now.Add(time.Hour)}
}

// BenchmarkDecodeEntry measures turning a cached entry back into a token,
// which every Redis hit pays on top of the round trip.
func BenchmarkDecodeEntry(b *testing.B) {
	e := encode(benchToken("s"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode("s", e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures a whole hit through the Redis in
// JWTUP_TEST_REDIS_URL: the round trip, the client's work and the decoding.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	c := open(b, storetest.RedisURL(b))
	s := subject(b, c, "bench")
	k := store.TokenKey{Subject: s, Digest: "d1"}
	want := benchToken(s)
	if _, err := c.Add(ctx, k, want); err != nil {
		b.Fatalf("Add: %v", err)
	}

	b.ReportAllocs()
	for b.Loop() {
		got, err := c.Get(ctx, k)
		if err != nil || got.Value != want.Value {
			b.Fatalf("Get = %.20q, %v; want the token added", got.Value, err)
		}
	}
}
