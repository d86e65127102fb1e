package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/service"
)

// The hand-written answer must be exactly what encoding/json makes of a
// TokenResponse.
func TestAppendTokenResponse(t *testing.T) {
	m := service.Minted{
		Token:     "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_",
		KID:       "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
		ExpiresAt: time.Date(2026, 12, 3, 17, 5, 0, 0, time.FixedZone("x", 3600)),
		ExpiresIn: 299,
	}
	want, err := json.Marshal(TokenResponse{
		Token: m.Token, TokenType: "Bearer", ExpiresIn: m.ExpiresIn,
		ExpiresAt: m.ExpiresAt.UTC().Format(time.RFC3339), KID: m.KID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := appendTokenResponse(nil, m); string(got) != string(want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
