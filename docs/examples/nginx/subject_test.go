package nginx

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// TestLuaSubjectToken runs the /partner/ location of lua.conf: the
// client's bearer token, from an identity provider jwt-up trusts, goes to
// jwt-up as a subject token through jwtup.lua, and the upstream gets
// jwt-up's token for that token's subject.
func TestLuaSubjectToken(t *testing.T) {
	ng := requireNginx(t, true)
	secret := []byte("partner-secret-0123456789abcdef!")
	settings := filepath.Join(t.TempDir(), "jwt-up.yaml")
	err := os.WriteFile(settings, []byte(`trusted_issuers:
  - issuer: https://idp.partner.example
    secret: `+base64.RawURLEncoding.EncodeToString(secret)+`
    algorithms: [HS256]
    audiences: [orders-gateway]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	j := startJWTUp(t, "JWTUP_CONFIG="+settings)
	up := newRecorder(t)
	gw := startNginx(t, ng, "lua.conf", newConfData(t, ng, j, up, users))
	v := newVerifier(t, j)

	idpToken := func(key []byte, sub string) string {
		t.Helper()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		token, err := josejwt.Signed(signer).Claims(josejwt.Claims{
			Issuer: "https://idp.partner.example", Subject: sub,
			Audience: josejwt.Audience{"orders-gateway"},
			Expiry:   josejwt.NewNumericDate(time.Now().Add(10 * time.Minute)),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	withBearer := func(token string) http.Header {
		return http.Header{"Authorization": {"Bearer " + token}}
	}
	tokenCalls := func() float64 {
		return j.counter(t, "jwtup_http_requests_total", "route", "/v1/tokens")
	}

	dana := idpToken(secret, "dana")
	var first string
	t.Run("the upstream gets a token for the subject token's subject", func(t *testing.T) {
		status, _ := request(t, gw+"/partner/1", "", "", withBearer(dana))
		if status != http.StatusOK {
			t.Fatalf("got status %d, want 200", status)
		}
		h, _ := up.headers("/partner/1")
		first = checkToken(t, v, h, "orders-api", "dana", map[string]any{"id": "dana"})
		if first == dana {
			t.Error("the upstream got the client's own token")
		}
	})

	t.Run("the next request with the same token is served from the cache", func(t *testing.T) {
		if status, _ := request(t, gw+"/partner/2", "", "", withBearer(dana)); status != http.StatusOK {
			t.Fatalf("got status %d, want 200", status)
		}
		h, _ := up.headers("/partner/2")
		if got, _ := bearer(h); got != first {
			t.Error("got a different token, want the cached one")
		}
		if got := tokenCalls(); got != 1 {
			t.Errorf("jwt-up got %v requests on /v1/tokens, want 1", got)
		}
	})

	refused := []struct {
		name string
		h    http.Header
	}{
		{"no token", nil},
		{"a token signed with another key", withBearer(idpToken([]byte("not-the-partner-secret-at-all!!!"), "dana"))},
		{"not a token", withBearer("abc.def.ghi")},
	}
	for i, tt := range refused {
		t.Run(tt.name+" is refused with 401", func(t *testing.T) {
			path := "/partner/refused-" + string(rune('a'+i))
			if status, _ := request(t, gw+path, "", "", tt.h); status != http.StatusUnauthorized {
				t.Errorf("got status %d, want 401", status)
			}
			if _, ok := up.headers(path); ok {
				t.Error("the upstream got the request")
			}
		})
	}
}
