package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/jwt-up/jwt-up/service"
)

func TestVersion(t *testing.T) {
	out := mustRun(t, env{}, "version")
	if !strings.HasPrefix(out, "jwt-up") {
		t.Errorf("version printed %q, want it to start with jwt-up", out)
	}
}

func TestMigrateFreshDataDir(t *testing.T) {
	e := testEnv(t)
	for i := range 2 { // a second run finds the schema up to date
		out := mustRun(t, e, "migrate")
		if !strings.Contains(out, "up to date") {
			t.Errorf("migrate run %d printed %q", i+1, out)
		}
	}
	dir := e["JWTUP_DATA_DIR"]
	checkMode(t, dir, 0o700)
	if _, err := os.Stat(filepath.Join(dir, dbFileName)); err != nil {
		t.Errorf("no database in the data dir: %v", err)
	}
	// migrate does not touch the keys, so it needs no key-encryption key.
	if _, err := os.Stat(filepath.Join(dir, kekFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("migrate wrote a kek file (stat: %v)", err)
	}
}

func TestMigrateSQLiteURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	e := testEnv(t).with("JWTUP_DATABASE_URL", "sqlite://"+path)
	mustRun(t, e, "migrate")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no database at the URL's path: %v", err)
	}
}

func TestKeysListFirstStart(t *testing.T) {
	e := testEnv(t)
	if rows := listKeys(t, e); len(rows) != 0 {
		t.Fatalf("keys list on a fresh store = %+v, want none: listing creates nothing", rows)
	}
	startKeys(t, e)
	rows := listKeys(t, e)
	if len(rows) != 2 || len(inState(rows, "active")) != 1 || len(inState(rows, "next")) != 1 {
		t.Fatalf("keys list = %+v, want one active and one next key", rows)
	}
	for _, r := range rows {
		if r.Alg != "ES256" {
			t.Errorf("key %s has alg %s, want ES256 as set", r.KID, r.Alg)
		}
	}
	// Listing again changes nothing.
	if again := listKeys(t, e); !equalRows(again, rows) {
		t.Errorf("second keys list = %+v, want %+v", again, rows)
	}
}

func equalRows(a, b []keyRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeysRotate(t *testing.T) {
	e := testEnv(t)
	startKeys(t, e)
	before := listKeys(t, e)
	active, next := inState(before, "active")[0], inState(before, "next")[0]

	printed := parseKeyTable(t, mustRun(t, e, "keys", "rotate"))
	if len(printed) != 1 || printed[0].State != "next" {
		t.Fatalf("keys rotate printed %+v, want one next key", printed)
	}
	staged := printed[0]

	after := listKeys(t, e)
	if got := inState(after, "active"); len(got) != 1 || got[0].KID != active.KID {
		t.Errorf("active keys after rotate = %+v, want %s still", got, active.KID)
	}
	if got := inState(after, "next"); len(got) != 1 || got[0].KID != staged.KID {
		t.Errorf("next keys after rotate = %+v, want the new key %s", got, staged.KID)
	}
	if got := inState(after, "removed"); len(got) != 1 || got[0].KID != next.KID {
		t.Errorf("removed keys after rotate = %+v, want the replaced next key %s", got, next.KID)
	}
}

func TestKeysRotateImmediate(t *testing.T) {
	e := testEnv(t)
	startKeys(t, e)
	before := listKeys(t, e)
	active := inState(before, "active")[0]

	printed := parseKeyTable(t, mustRun(t, e, "keys", "rotate", "--immediate"))
	if len(printed) != 1 || printed[0].State != "active" {
		t.Fatalf("keys rotate --immediate printed %+v, want one active key", printed)
	}

	after := listKeys(t, e)
	got := inState(after, "active")
	if len(got) != 1 || got[0].KID != printed[0].KID || got[0].KID == active.KID {
		t.Errorf("active keys after rotate --immediate = %+v, want the new key %s", got, printed[0].KID)
	}
	if got := inState(after, "retired"); len(got) != 1 || got[0].KID != active.KID {
		t.Errorf("retired keys = %+v, want the old active key %s", got, active.KID)
	}
	if got := inState(after, "next"); len(got) != 1 {
		t.Errorf("next keys = %+v, want one", got)
	}
}

// writePEM writes a PEM block to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// thumbprint is the RFC 7638 kid of a public key.
func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	k, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// keyFixture is a PEM key file written by the test and what it should
// import as.
type keyFixture struct {
	name, path, kid, alg string
}

func keyFixtures(t *testing.T) []keyFixture {
	t.Helper()
	dir := t.TempDir()

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}

	return []keyFixture{
		{"EC P-256 SEC 1", writePEM(t, dir, "ec.pem", "EC PRIVATE KEY", ecDER),
			thumbprint(t, &ecKey.PublicKey), "ES256"},
		{"RSA 2048 PKCS 1", writePEM(t, dir, "rsa.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)),
			thumbprint(t, &rsaKey.PublicKey), "RS256"},
		{"Ed25519 PKCS 8", writePEM(t, dir, "ed25519.pem", "PRIVATE KEY", edDER),
			thumbprint(t, edPub), "EdDSA"},
	}
}

// TestKeysImport imports each key type into a store whose configured
// algorithm is ES256: the P-256 key stands as the next key; the others are
// refused with a hint at the setting, and leave the store as it was.
func TestKeysImport(t *testing.T) {
	for _, fx := range keyFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			e := testEnv(t)
			before := listKeys(t, e)
			out, _, err := run(t, e, "keys", "import", fx.path)
			if fx.alg != "ES256" {
				if err == nil || !strings.Contains(err.Error(), "JWTUP_SIGNING_ALG="+fx.alg) {
					t.Fatalf("import of a %s key into an ES256 store: err = %v, want a hint at JWTUP_SIGNING_ALG=%s", fx.alg, err, fx.alg)
				}
				if after := listKeys(t, e); !slices.Equal(after, before) {
					t.Errorf("refused import changed the store: %+v, was %+v", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			printed := parseKeyTable(t, out)
			want := keyRow{KID: fx.kid, Alg: fx.alg, State: "next"}
			if len(printed) != 1 || printed[0] != want {
				t.Fatalf("keys import printed %+v, want %+v", printed, want)
			}
			if !slices.Contains(listKeys(t, e), want) {
				t.Errorf("keys list does not show the imported key as %+v", want)
			}
		})
	}
}

func TestKeysImportImmediate(t *testing.T) {
	fx := keyFixtures(t)[0] // EC P-256, the configured algorithm's type
	e := testEnv(t)
	mustRun(t, e, "keys", "import", "--immediate", fx.path)

	got := inState(listKeys(t, e), "active")
	if len(got) != 1 || got[0].KID != fx.kid {
		t.Errorf("active keys = %+v, want the imported key %s", got, fx.kid)
	}

	// The same key cannot be imported twice.
	if _, _, err := run(t, e, "keys", "import", fx.path); err == nil {
		t.Error("second import of the same key: no error")
	}
}

func TestKeysImportRejected(t *testing.T) {
	dir := t.TempDir()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&weak.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("this is not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
	}{
		{"RSA 1024", writePEM(t, dir, "weak.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weak))},
		{"garbage", garbage},
		{"corrupt PEM body", writePEM(t, dir, "corrupt.pem", "EC PRIVATE KEY", []byte("junk"))},
		{"public key only", writePEM(t, dir, "pub.pem", "PUBLIC KEY", pub)},
		{"missing file", filepath.Join(dir, "absent.pem")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEnv(t)
			before := listKeys(t, e)
			if _, _, err := run(t, e, "keys", "import", tt.path); err == nil {
				t.Fatal("no error")
			}
			if after := listKeys(t, e); !equalRows(after, before) {
				t.Errorf("keys changed by a failed import: %+v, want %+v", after, before)
			}
		})
	}
}

// decodeSegment base64url-decodes one part of a compact JWS into v.
func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %s: %v", b, err)
	}
}

// audiences reads an aud claim, a string or an array.
func audiences(aud any) []string {
	switch a := aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

func TestTokenCommand(t *testing.T) {
	e := testEnv(t)
	out := mustRun(t, e, "token", "--consumer-id", "x", "--audience", "a", "--claim", `tenant="acme"`)

	parts := strings.Split(strings.TrimSpace(out), ".")
	if len(parts) != 3 {
		t.Fatalf("token printed %q, want a compact JWS", out)
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	var claims map[string]any
	decodeSegment(t, parts[1], &claims)

	if claims["sub"] != "x" {
		t.Errorf("sub = %v, want x", claims["sub"])
	}
	if aud := audiences(claims["aud"]); len(aud) != 1 || aud[0] != "a" {
		t.Errorf("aud = %v, want a", claims["aud"])
	}
	if claims["tenant"] != "acme" {
		t.Errorf("tenant = %v, want acme", claims["tenant"])
	}
	if claims["iss"] != "http://localhost:8080" {
		t.Errorf("iss = %v, want the default issuer", claims["iss"])
	}
	if header["alg"] != "ES256" {
		t.Errorf("alg = %v, want ES256", header["alg"])
	}
	active := inState(listKeys(t, e), "active")
	if len(active) != 1 || header["kid"] != active[0].KID {
		t.Errorf("kid = %v, want the active key %+v", header["kid"], active)
	}
}

func TestTokenCommandJSON(t *testing.T) {
	e := testEnv(t)
	out := mustRun(t, e, "token", "--username", "alice", "--json")
	var got struct {
		Token     string `json:"token"`
		KID       string `json:"kid"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("token --json printed %q: %v", out, err)
	}
	if strings.Count(got.Token, ".") != 2 || got.KID == "" || got.ExpiresIn <= 0 || got.ExpiresIn > 300 {
		t.Errorf("token --json = %+v", got)
	}
}

func TestTokenCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		is   error // nil: any error
	}{
		{"no consumer", []string{"token", "--audience", "a"}, service.ErrInvalidRequest},
		{"reserved claim", []string{"token", "--consumer-id", "x", "--claim", `sub="x"`}, service.ErrReservedClaim},
		{"reserved claim exp", []string{"token", "--consumer-id", "x", "--claim", `exp=1`}, service.ErrReservedClaim},
		{"claim without value", []string{"token", "--consumer-id", "x", "--claim", "tenant"}, nil},
		{"claim not JSON", []string{"token", "--consumer-id", "x", "--claim", "tenant=acme"}, service.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(t, testEnv(t), tt.args...)
			if err == nil {
				t.Fatalf("no error; printed %q", out)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
		})
	}
}

// TestTokenCommandSubjectToken: --subject-token is verified against the
// settings file's trusted issuers and re-signed; one from elsewhere is
// refused.
func TestTokenCommandSubjectToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	path := writeFile(t, dir, "jwt-up.yaml", fmt.Sprintf(`
trusted_issuers:
  - issuer: partner
    secret: %s
    algorithms: [HS256]
    audiences: [jwt-up]
    carry: [email]
`, base64.RawURLEncoding.EncodeToString(secret)))
	e := testEnv(t)
	e["JWTUP_CONFIG"] = path

	subjectToken := func(iss string) string {
		tok, err := jwt.NewBuilder().Issuer(iss).Subject("u-17").Audience([]string{"jwt-up"}).
			Claim("email", "u17@partner.example").Expiration(time.Now().Add(time.Minute)).Build()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, secret))
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}

	out := mustRun(t, e, "token", "--subject-token", subjectToken("partner"), "--audience", "orders")
	parts := strings.Split(strings.TrimSpace(out), ".")
	if len(parts) != 3 {
		t.Fatalf("token printed %q, want a compact JWS", out)
	}
	var claims map[string]any
	decodeSegment(t, parts[1], &claims)
	if claims["sub"] != "u-17" || claims["email"] != "u17@partner.example" {
		t.Errorf("claims = %v, want sub u-17 and the carried email", claims)
	}
	if claims["iss"] != "http://localhost:8080" {
		t.Errorf("iss = %v, want jwt-up's own", claims["iss"])
	}

	if out, _, err := run(t, e, "token", "--subject-token", subjectToken("stranger")); !errors.Is(err, service.ErrSubjectToken) {
		t.Errorf("a token of an untrusted issuer: err = %v, printed %q; want %v", err, out, service.ErrSubjectToken)
	}
}
