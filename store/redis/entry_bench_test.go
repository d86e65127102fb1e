package redis

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store"
)

// BenchmarkDecodeEntry measures turning a cached entry back into a token,
// which every Redis hit pays on top of the round trip.
func BenchmarkDecodeEntry(b *testing.B) {
	enc := base64.RawURLEncoding
	v := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"rmcRAQzaVN96MGmjpLjDKZlOb5cz-ElMy4KM9wasrmk","typ":"JWT"}`)) + "." +
		enc.EncodeToString(make([]byte, 260)) + "." + enc.EncodeToString(make([]byte, 256))
	e := encode(store.Token{Value: v, KID: "rmcRAQzaVN96MGmjpLjDKZlOb5cz-ElMy4KM9wasrmk", ExpiresAt: time.Now(), StaleAt: time.Now()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode("s", e); err != nil {
			b.Fatal(err)
		}
	}
}
