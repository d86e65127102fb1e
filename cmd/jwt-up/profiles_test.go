package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/service"
)

// testIssuerKeys are the keys of the trusted issuers in these tests,
// generated once: an RSA key takes a while.
var testIssuerKeys = sync.OnceValues(func() (issuerKeys, error) {
	var (
		k   issuerKeys
		err error
	)
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return k, err
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return k, err
	}
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	return k, err
})

type issuerKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

func keysForTest(t *testing.T) issuerKeys {
	t.Helper()
	k, err := testIssuerKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pemPKIX encodes a public key as a PUBLIC KEY block.
func pemPKIX(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// pemCertificate encodes a self-signed certificate of priv.
func pemCertificate(t *testing.T, priv crypto.Signer) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "legacy-idp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// writeFile writes text to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// indent indents every line of text by n spaces, to put PEM text in a
// YAML block.
func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(text, "\n"), "\n", "\n"+pad)
}

// loadConfig resolves the settings as a start does, with the settings file
// at path.
func loadConfig(t *testing.T, path string, e env, args ...string) (settings, error) {
	t.Helper()
	raw, err := resolve(t, e, append([]string{"--config", path}, args...)...)
	if err != nil {
		return settings{}, err
	}
	return parseSettings(raw)
}

// secret32 is a 32-byte HMAC secret, and b64Secret32 its base64.
var (
	secret32    = []byte("partner-shared-secret-0123456789")
	b64Secret32 = base64.StdEncoding.EncodeToString(secret32)
)

func TestProfilesFile(t *testing.T) {
	k := keysForTest(t)
	dir := t.TempDir()
	rsaFile := writeFile(t, dir, "rsa.pem", pemPKIX(t, &k.rsa.PublicKey))
	pkcs1File := writeFile(t, dir, "rsa1.pem", string(pem.EncodeToMemory(&pem.Block{
		Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})))
	// Two blocks in one file: both are keys.
	bundle := writeFile(t, dir, "bundle.pem", pemCertificate(t, k.ed)+pemPKIX(t, &k.ec.PublicKey))
	secretFile := writeFile(t, dir, "partner.secret", b64Secret32+"\n")

	path := writeFile(t, dir, "jwt-up.yaml", fmt.Sprintf(`
unknown_audience: deny
token_ttl: 10m
refresh_margin: 1m
profiles:
  orders-api:
    token_ttl: 2m
    refresh_margin: 10s
    claims_profile: standard
    typ: at+jwt
    static_claims:
      tenant: acme
      tier: {level: 2}
      mixed: [1, true, null, 2.5, "x"]
    allowed_claims: [region]
    binding: true
  inherits:
  none-allowed:
    allowed_claims: []
trusted_issuers:
  - issuer: https://idp.example.com
    jwks_url: https://idp.example.com/.well-known/jwks.json
    algorithms: [RS256]
    audiences: [https://gateway.example.com]
    carry: [email, roles]
    subject_claim: email
    leeway: 30s
    jwks_refresh: 10m
    jwks_min_refetch: 30s
  - issuer: legacy-idp
    keys:
      - %s
      - %s
      - %s
      - |
%s
    algorithms: [RS256, ES256, EdDSA]
    audiences: [jwt-up]
  - issuer: partner
    secret_file: %s
    algorithms: [HS256]
    audiences: [jwt-up]
  - issuer: partner-inline
    secret: %s
    algorithms: [HS512]
    audiences: [jwt-up]
`, rsaFile, pkcs1File, bundle, indent(pemPKIX(t, k.ed.Public()), 8), secretFile,
		base64.RawURLEncoding.EncodeToString(secret32)))

	s, err := loadConfig(t, path, env{})
	if err != nil {
		t.Fatal(err)
	}

	def := service.AudienceProfile{TTL: 10 * time.Minute, RefreshMargin: time.Minute,
		Claims: service.ProfileStandard, Type: service.TypeJWT}
	none := def
	none.AllowedClaims = []string{}
	want := service.Profiles{
		Default: def,
		Audiences: map[string]service.AudienceProfile{
			"orders-api": {
				TTL: 2 * time.Minute, RefreshMargin: 10 * time.Second,
				Claims: service.ProfileStandard, Type: service.TypeAccessToken,
				StaticClaims: map[string]json.RawMessage{
					"tenant": json.RawMessage(`"acme"`),
					"tier":   json.RawMessage(`{"level":2}`),
					"mixed":  json.RawMessage(`[1,true,null,2.5,"x"]`),
				},
				AllowedClaims: []string{"region"},
				Binding:       true,
			},
			"inherits":     def,
			"none-allowed": none,
		},
		DenyUnknown: true,
	}
	if diff := cmp.Diff(want, s.Profiles); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	if s.Profiles.Audiences["inherits"].AllowedClaims != nil {
		t.Error("a profile without allowed_claims allows no claim, want any")
	}
	if got := s.Profiles.Audiences["none-allowed"].AllowedClaims; got == nil || len(got) != 0 {
		t.Errorf("allowed_claims [] = %#v, want empty and not nil", got)
	}

	wantIssuers := []service.TrustedIssuer{
		{
			Issuer:     "https://idp.example.com",
			JWKSURL:    "https://idp.example.com/.well-known/jwks.json",
			Algorithms: []string{"RS256"}, Audiences: []string{"https://gateway.example.com"},
			Carry: []string{"email", "roles"}, SubjectClaim: "email", Leeway: 30 * time.Second,
			JWKSRefresh: 10 * time.Minute, JWKSMinRefetch: 30 * time.Second,
		},
		{
			Issuer: "legacy-idp",
			Keys: []crypto.PublicKey{&k.rsa.PublicKey, &k.rsa.PublicKey, k.ed.Public(),
				&k.ec.PublicKey, k.ed.Public()},
			Algorithms: []string{"RS256", "ES256", "EdDSA"}, Audiences: []string{"jwt-up"},
		},
		{Issuer: "partner", Secret: secret32, Algorithms: []string{"HS256"}, Audiences: []string{"jwt-up"}},
		{Issuer: "partner-inline", Secret: secret32, Algorithms: []string{"HS512"}, Audiences: []string{"jwt-up"}},
	}
	if diff := cmp.Diff(wantIssuers, s.Issuers); diff != "" {
		t.Errorf("trusted issuers (-want +got):\n%s", diff)
	}
	if len(s.Issuers) == 4 {
		var types []string
		for _, key := range s.Issuers[1].Keys {
			types = append(types, fmt.Sprintf("%T", key))
		}
		wantTypes := []string{"*rsa.PublicKey", "*rsa.PublicKey", "ed25519.PublicKey",
			"*ecdsa.PublicKey", "ed25519.PublicKey"}
		if diff := cmp.Diff(wantTypes, types); diff != "" {
			t.Errorf("key types (-want +got):\n%s", diff)
		}
	}
	if s.ConfigPath != path {
		t.Errorf("ConfigPath = %q, want %q", s.ConfigPath, path)
	}
}

// The example file in testdata shows the format as the documentation
// does; it must keep reading.
func TestProfilesExampleFile(t *testing.T) {
	s, err := loadConfig(t, "testdata/profiles.yaml", env{})
	if err != nil {
		t.Fatal(err)
	}
	orders := s.Profiles.Audiences["orders-api"]
	if orders.TTL != 10*time.Minute || orders.Type != service.TypeAccessToken || !orders.Binding {
		t.Errorf("orders-api = %+v", orders)
	}
	if got := string(orders.StaticClaims["tier"]); got != `{"level":2}` {
		t.Errorf("static claim tier = %s", got)
	}
	if !s.Profiles.DenyUnknown || len(s.Issuers) != 2 || s.Issuers[1].Issuer != "partner" {
		t.Errorf("deny %v, issuers %+v", s.Profiles.DenyUnknown, s.Issuers)
	}
}

// A profile's missing fields take the global settings as resolved, from
// whichever of flag, variable and file set them.
func TestProfilesInheritGlobals(t *testing.T) {
	path := writeFile(t, t.TempDir(), "jwt-up.yaml", `
token_ttl: 10m
claims_profile: standard
profiles:
  orders-api:
    typ: txntoken+jwt
  billing:
    token_ttl: 1h
`)
	s, err := loadConfig(t, path, env{"JWTUP_TOKEN_TTL": "20m", "JWTUP_TOKEN_TYPE": "at+jwt"},
		"--refresh-margin", "2m", "--unknown-audience", "deny")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]service.AudienceProfile{
		"orders-api": {TTL: 20 * time.Minute, RefreshMargin: 2 * time.Minute,
			Claims: service.ProfileStandard, Type: service.TypeTxnToken},
		"billing": {TTL: time.Hour, RefreshMargin: 2 * time.Minute,
			Claims: service.ProfileStandard, Type: service.TypeAccessToken},
	}
	if diff := cmp.Diff(want, s.Profiles.Audiences); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	wantDef := service.AudienceProfile{TTL: 20 * time.Minute, RefreshMargin: 2 * time.Minute,
		Claims: service.ProfileStandard, Type: service.TypeAccessToken}
	if diff := cmp.Diff(wantDef, s.Profiles.Default); diff != "" {
		t.Errorf("default profile (-want +got):\n%s", diff)
	}
	if !s.Profiles.DenyUnknown || s.TokenType != service.TypeAccessToken {
		t.Errorf("DenyUnknown = %v, TokenType = %q", s.Profiles.DenyUnknown, s.TokenType)
	}
}

// checkConfigError asserts that err is one line about the file at path that
// holds every string of want and none of notWant.
func checkConfigError(t *testing.T, err error, path string, want, notWant []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one holding %q", want)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("want one error line, got:\n%s", msg)
	}
	if prefix := "config " + path + ": "; !strings.HasPrefix(msg, prefix) {
		t.Errorf("error %q does not start with %q", msg, prefix)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not hold %q", msg, w)
		}
	}
	for _, w := range notWant {
		if strings.Contains(msg, w) {
			t.Errorf("error %q holds %q", msg, w)
		}
	}
}

func TestProfileErrors(t *testing.T) {
	tests := []struct {
		name    string
		profile string // the fields of profile orders-api, indented by four
		want    []string
	}{
		{"bad duration", "token_ttl: 5x", []string{`profiles.orders-api.token_ttl: "5x" is not a duration`}},
		{"negative TTL", "token_ttl: -1m", []string{"profiles.orders-api.token_ttl: "}},
		{"zero TTL", "token_ttl: 0s", []string{"profiles.orders-api.token_ttl: "}},
		{"negative margin", "refresh_margin: -1s", []string{"profiles.orders-api.refresh_margin: "}},
		{"margin equal to TTL", "token_ttl: 1m\n    refresh_margin: 1m",
			[]string{"profiles.orders-api.refresh_margin: "}},
		{"inherited margin above TTL", "token_ttl: 10s",
			[]string{"profiles.orders-api.refresh_margin: ", "token_ttl 10s"}},
		{"TTL without a value", "token_ttl:", []string{"profiles.orders-api.token_ttl: has no value"}},
		{"TTL as a list", "token_ttl: [5m]", []string{"profiles.orders-api.token_ttl: "}},
		{"unknown claims profile", "claims_profile: kong",
			[]string{"profiles.orders-api.claims_profile: ", `"kong"`}},
		{"unknown typ", "typ: jwt", []string{"profiles.orders-api.typ: ", `"jwt"`}},
		{"at+jwt with kong-headers", "typ: at+jwt\n    claims_profile: kong-headers",
			[]string{"profiles.orders-api.typ: ", "standard"}},
		{"binding with kong-headers", "binding: true\n    claims_profile: kong-headers",
			[]string{"profiles.orders-api.binding: "}},
		{"binding not a bool", "binding: yes", []string{"profiles.orders-api.binding: must be true or false"}},
		{"binding quoted", `binding: "true"`, []string{"profiles.orders-api.binding: must be true or false"}},
		{"reserved static claim iss", "static_claims: {iss: https://evil.example}",
			[]string{"profiles.orders-api.static_claims: ", `"iss"`}},
		{"reserved static claim sub in another case", "static_claims: {Sub: someone}",
			[]string{"profiles.orders-api.static_claims: ", `"Sub"`}},
		{"static claim of the token type", "typ: at+jwt\n    static_claims: {client_id: x}",
			[]string{"profiles.orders-api.static_claims: ", `"client_id"`}},
		{"static claims as a list", "static_claims: [tenant]", []string{"profiles.orders-api.static_claims: "}},
		{"static claim not JSON", "static_claims: {n: .inf}",
			[]string{"profiles.orders-api.static_claims.n: ", "not a JSON number"}},
		{"static claim also allowed", "static_claims: {tenant: acme}\n    allowed_claims: [region, tenant]",
			[]string{"profiles.orders-api.allowed_claims[1]: ", `"tenant"`}},
		{"empty allowed name", `allowed_claims: [""]`, []string{"profiles.orders-api.allowed_claims[0]: is empty"}},
		{"null allowed name", "allowed_claims: [~]", []string{"profiles.orders-api.allowed_claims[0]: "}},
		{"reserved allowed name", "allowed_claims: [exp]",
			[]string{"profiles.orders-api.allowed_claims[0]: ", `"exp"`}},
		{"allowed claims not a list", "allowed_claims: region", []string{"profiles.orders-api.allowed_claims: "}},
		{"unknown field", "ttl: 5m", []string{`profiles.orders-api: unknown field "ttl"`}},
		{"field given twice", "token_ttl: 1m\n    token_ttl: 2m", []string{`"token_ttl" already defined`}},
		{"profile not a mapping", "", nil}, // the whole profile is replaced below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "profiles:\n  orders-api:\n    " + tt.profile + "\n"
			want := tt.want
			if tt.profile == "" {
				text = "profiles:\n  orders-api: 5m\n"
				want = []string{"profiles.orders-api: "}
			}
			path := writeFile(t, t.TempDir(), "jwt-up.yaml", text)
			_, err := loadConfig(t, path, env{})
			checkConfigError(t, err, path, want, nil)
		})
	}
}

func TestProfilesSectionErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"profiles as a list", "profiles: [orders-api]", []string{"profiles: "}},
		{"profiles as a value", "profiles: orders-api", []string{"profiles: "}},
		{"empty audience", "profiles:\n  \"\": {token_ttl: 1m}", []string{"profiles: ", "audience is empty"}},
		{"audience given twice", "profiles:\n  a:\n  a:\n", []string{`"a"`}},
		{"trusted issuers as a mapping", "trusted_issuers: {issuer: x}", []string{"trusted_issuers: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "jwt-up.yaml", tt.text+"\n")
			_, err := loadConfig(t, path, env{})
			checkConfigError(t, err, path, tt.want, nil)
		})
	}
}

func TestConfigTrustedIssuerErrors(t *testing.T) {
	k := keysForTest(t)
	dir := t.TempDir()
	rsaFile := writeFile(t, dir, "rsa.pem", pemPKIX(t, &k.rsa.PublicKey))
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	privFile := writeFile(t, dir, "private.pem",
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})))
	textFile := writeFile(t, dir, "notes.txt", "not a key\n")
	shortSecret := base64.StdEncoding.EncodeToString([]byte("short-secret-16b"))
	rawSecretFile := writeFile(t, dir, "raw.secret", "raw secret bytes, not base64!\n")
	secretFile := writeFile(t, dir, "partner.secret", b64Secret32)
	emptyFile := writeFile(t, dir, "empty.secret", "\n")

	const (
		jwks = "jwks_url: https://idp.example.com/jwks.json"
		good = "algorithms: [RS256]\n    audiences: [jwt-up]"
	)
	tests := []struct {
		name    string
		issuers string // the trusted_issuers list
		want    []string
		notWant []string // secrets that must not show
	}{
		{name: "missing issuer", issuers: "- " + jwks + "\n    " + good,
			want: []string{"trusted_issuers[0]: issuer: is empty"}},
		{name: "null issuer", issuers: "- issuer:\n    " + jwks + "\n    " + good,
			want: []string{"trusted_issuers[0].issuer: has no value"}},
		{name: "none of jwks_url, keys and secret", issuers: "- issuer: idp\n    " + good,
			want: []string{"trusted_issuers[idp]: jwks_url: none of"}},
		{name: "jwks_url and keys", issuers: "- issuer: idp\n    " + jwks + "\n    keys: [" + rsaFile + "]\n    " + good,
			want: []string{"trusted_issuers[idp]: ", "only one of jwks_url, keys and secret"}},
		{name: "jwks_url and secret", issuers: "- issuer: idp\n    " + jwks + "\n    secret: " + b64Secret32 +
			"\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[idp]: ", "only one of"}, notWant: []string{b64Secret32, string(secret32)}},
		{name: "secret and secret_file", issuers: "- issuer: partner\n    secret: " + b64Secret32 +
			"\n    secret_file: " + secretFile + "\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want:    []string{"trusted_issuers[partner].secret_file: set only one of secret and secret_file"},
			notWant: []string{b64Secret32, string(secret32)}},
		{name: "alg none", issuers: "- issuer: idp\n    " + jwks + "\n    algorithms: [none]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[idp]: algorithms: none"}},
		{name: "no algorithms", issuers: "- issuer: idp\n    " + jwks + "\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[idp]: algorithms: "}},
		{name: "HS256 with jwks_url", issuers: "- issuer: idp\n    " + jwks + "\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[idp]: algorithms: HS256"}},
		{name: "RS256 with a secret", issuers: "- issuer: partner\n    secret: " + b64Secret32 +
			"\n    algorithms: [RS256]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[partner]: algorithms: RS256"}, notWant: []string{b64Secret32}},
		{name: "short secret", issuers: "- issuer: partner\n    secret: " + shortSecret +
			"\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want:    []string{"trusted_issuers[partner]: secret: is 16 bytes"},
			notWant: []string{shortSecret, "short-secret-16b"}},
		{name: "secret not base64", issuers: "- issuer: partner\n    secret: not*base64*secret-value\n    " +
			"algorithms: [HS256]\n    audiences: [jwt-up]",
			want:    []string{"trusted_issuers[partner].secret: the value is not base64"},
			notWant: []string{"not*base64*secret-value"}},
		{name: "secret file of raw bytes", issuers: "- issuer: partner\n    secret_file: " + rawSecretFile +
			"\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want:    []string{"trusted_issuers[partner].secret_file: the contents of " + rawSecretFile + " are not base64"},
			notWant: []string{"raw secret bytes"}},
		{name: "secret file that does not exist", issuers: "- issuer: partner\n    secret_file: " +
			filepath.Join(dir, "absent.secret") + "\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[partner].secret_file: ", "absent.secret"}},
		{name: "empty secret file", issuers: "- issuer: partner\n    secret_file: " + emptyFile +
			"\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[partner].secret_file: the contents of " + emptyFile + " are empty"}},
		{name: "empty secret", issuers: "- issuer: partner\n    secret: \"\"\n    algorithms: [HS256]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[partner].secret: is empty"}},
		{name: "missing audiences", issuers: "- issuer: idp\n    " + jwks + "\n    algorithms: [RS256]",
			want: []string{"trusted_issuers[idp]: audiences: "}},
		{name: "audiences not a list", issuers: "- issuer: idp\n    " + jwks + "\n    algorithms: [RS256]\n    audiences: jwt-up",
			want: []string{"trusted_issuers[idp].audiences: must be a list"}},
		{name: "reserved carry name", issuers: "- issuer: idp\n    " + jwks + "\n    " + good + "\n    carry: [email, sub]",
			want: []string{"trusted_issuers[idp]: carry[1]: ", `"sub"`}},
		{name: "bad inline PEM", issuers: "- issuer: legacy\n    keys:\n      - |\n        -----BEGIN PUBLIC KEY-----\n" +
			"        AAAA\n        -----END PUBLIC KEY-----\n    " + good,
			want: []string{"trusted_issuers[legacy].keys[0]: PEM block 1 (PUBLIC KEY)"}},
		{name: "PEM file that does not exist", issuers: "- issuer: legacy\n    keys: [" + filepath.Join(dir, "absent.pem") +
			"]\n    " + good, want: []string{"trusted_issuers[legacy].keys[0]: ", "absent.pem"}},
		{name: "private key file", issuers: "- issuer: legacy\n    keys: [" + rsaFile + ", " + privFile + "]\n    " + good,
			want: []string{"trusted_issuers[legacy].keys[1]: ", `"PRIVATE KEY"`}},
		{name: "file without PEM", issuers: "- issuer: legacy\n    keys: [" + textFile + "]\n    " + good,
			want: []string{"trusted_issuers[legacy].keys[0]: ", "no PEM block"}},
		{name: "no keys", issuers: "- issuer: legacy\n    keys: []\n    " + good,
			want: []string{"trusted_issuers[legacy].keys: lists no key"}},
		{name: "key that fits no algorithm", issuers: "- issuer: legacy\n    keys: [" + rsaFile +
			"]\n    algorithms: [ES256]\n    audiences: [jwt-up]",
			want: []string{"trusted_issuers[legacy]: keys[0]: "}},
		{name: "relative JWKS URL", issuers: "- issuer: idp\n    jwks_url: /jwks.json\n    " + good,
			want: []string{"trusted_issuers[idp]: jwks_url: "}},
		{name: "bad leeway", issuers: "- issuer: idp\n    " + jwks + "\n    " + good + "\n    leeway: soon",
			want: []string{`trusted_issuers[idp].leeway: "soon" is not a duration`}},
		{name: "negative leeway", issuers: "- issuer: idp\n    " + jwks + "\n    " + good + "\n    leeway: -1s",
			want: []string{"trusted_issuers[idp]: leeway: "}},
		{name: "empty subject claim", issuers: "- issuer: idp\n    " + jwks + "\n    " + good + "\n    subject_claim: \"\"",
			want: []string{"trusted_issuers[idp].subject_claim: is empty"}},
		{name: "unknown field", issuers: "- issuer: idp\n    jwks: https://idp.example.com/jwks.json\n    " + good,
			want: []string{`trusted_issuers[idp]: unknown field "jwks"`}},
		{name: "issuer not a mapping", issuers: "- https://idp.example.com",
			want: []string{"trusted_issuers[0]: "}},
		{name: "duplicate issuer", issuers: "- issuer: idp\n    " + jwks + "\n    " + good +
			"\n  - issuer: idp\n    " + jwks + "\n    " + good,
			want: []string{"trusted_issuers[idp]: ", "trusted_issuers[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "jwt-up.yaml", "trusted_issuers:\n  "+tt.issuers+"\n")
			_, err := loadConfig(t, path, env{})
			checkConfigError(t, err, path, tt.want, tt.notWant)
		})
	}
}

// The secret file holds base64, as secret does: both name the same bytes.
func TestConfigIssuerSecretFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, contents string }{
		{"standard base64 and a line end", b64Secret32 + "\n"},
		{"URL-safe base64 without padding", base64.RawURLEncoding.EncodeToString(secret32)},
		{"spaces around", "  " + b64Secret32 + " \r\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, dir, fmt.Sprintf("secret-%d", i), tt.contents)
			path := writeFile(t, dir, fmt.Sprintf("jwt-up-%d.yaml", i), "trusted_issuers:\n"+
				"  - issuer: partner\n    secret_file: "+file+"\n    algorithms: [HS256]\n    audiences: [jwt-up]\n")
			p, issuers, err := loadProfiles(path, settingsForTest(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(issuers) != 1 || string(issuers[0].Secret) != string(secret32) {
				t.Errorf("issuers = %+v, want one with the secret's bytes", issuers)
			}
			if p.Audiences != nil {
				t.Errorf("profiles = %v, want none", p.Audiences)
			}
		})
	}
}

// settingsForTest returns the default settings.
func settingsForTest(t *testing.T) settings {
	t.Helper()
	s, err := parseSettings(defaultRaw(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestProfilesAllProblemsReported(t *testing.T) {
	path := writeFile(t, t.TempDir(), "jwt-up.yaml", `
profiles:
  a:
    token_ttl: 5x
  b:
    binding: maybe
trusted_issuers:
  - issuer: idp
    algorithms: [none]
    audiences: [jwt-up]
    jwks_url: https://idp.example.com/jwks.json
  - issuer: other
    carry: sub
`)
	_, err := loadConfig(t, path, env{})
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"profiles.a.token_ttl", "profiles.b.binding", "trusted_issuers[idp]", "trusted_issuers[other].carry"}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got:\n%s", len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], "config "+path+": "+w) {
			t.Errorf("line %d = %q, want it to name %s", i, lines[i], w)
		}
	}
}

// Bad global settings are reported by variable, and the profiles that
// inherit them are not read: the problem shows once.
func TestProfilesAfterBadGlobals(t *testing.T) {
	path := writeFile(t, t.TempDir(), "jwt-up.yaml", "profiles:\n  a:\n    typ: at+jwt\n")
	_, err := loadConfig(t, path, env{"JWTUP_TOKEN_TTL": "0s"})
	if err == nil || err.Error() != "JWTUP_TOKEN_TTL: must be greater than zero, got 0s" {
		t.Errorf("err = %v, want only the one naming JWTUP_TOKEN_TTL", err)
	}
}

func TestLoadProfilesWithoutFile(t *testing.T) {
	s := settingsForTest(t)
	s.TokenTTL = time.Hour
	s.Profiles.DenyUnknown = true
	p, issuers, err := loadProfiles("", s)
	if err != nil {
		t.Fatal(err)
	}
	want := service.Profiles{Default: service.AudienceProfile{TTL: time.Hour, RefreshMargin: 30 * time.Second,
		Claims: service.ProfileStandard, Type: service.TypeJWT}, DenyUnknown: true}
	if diff := cmp.Diff(want, p); diff != "" || issuers != nil {
		t.Errorf("profiles (-want +got):\n%s\nissuers: %v", diff, issuers)
	}

	s.TokenType = service.TypeTxnToken
	s.ClaimsProfile = service.ProfileKongHeaders
	if _, _, err := loadProfiles("", s); err == nil || !strings.Contains(err.Error(), "typ") {
		t.Errorf("txntoken+jwt with kong-headers: err = %v, want one naming typ", err)
	}
}

// loadProfiles is what a reload calls: it reads the file as it is now, and
// refuses a file a start would refuse.
func TestLoadProfilesReload(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "jwt-up.yaml", "profiles:\n  a:\n    token_ttl: 1m\n")
	s, err := loadConfig(t, path, env{})
	if err != nil {
		t.Fatal(err)
	}

	writeFile(t, dir, "jwt-up.yaml", "profiles:\n  a:\n    token_ttl: 2m\n  b:\n"+
		"trusted_issuers:\n  - issuer: partner\n    secret: "+b64Secret32+
		"\n    algorithms: [HS256]\n    audiences: [jwt-up]\n")
	p, issuers, err := loadProfiles(s.ConfigPath, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Audiences["a"].TTL != 2*time.Minute || p.Audiences["b"].TTL != 5*time.Minute || len(issuers) != 1 {
		t.Errorf("after the change: profiles %+v, issuers %d", p.Audiences, len(issuers))
	}

	for name, text := range map[string]string{
		"a typo in a flat key": "token_tll: 5m\n",
		"a bad profile":        "profiles:\n  a:\n    token_ttl: never\n",
		"bad YAML":             "profiles: [\n",
	} {
		writeFile(t, dir, "jwt-up.yaml", text)
		if _, _, err := loadProfiles(s.ConfigPath, s); err == nil || !strings.HasPrefix(err.Error(), "config ") {
			t.Errorf("%s: err = %v, want one about the config file", name, err)
		}
	}

	os.Remove(path)
	if _, _, err := loadProfiles(s.ConfigPath, s); err == nil || !strings.Contains(err.Error(), "jwt-up.yaml") {
		t.Errorf("file removed: err = %v, want one naming it", err)
	}
}

func TestConfigPath(t *testing.T) {
	raw := defaultRaw(t)
	if s, err := parseSettings(raw); err != nil || s.ConfigPath != "" || s.Issuers != nil ||
		s.Profiles.Audiences != nil {
		t.Errorf("without a file: ConfigPath %q, issuers %v, profiles %v, err %v",
			s.ConfigPath, s.Issuers, s.Profiles.Audiences, err)
	}
	for _, tt := range []struct {
		name string
		e    env
		args []string
		want string
	}{
		{"from JWTUP_CONFIG", env{"JWTUP_CONFIG": "testdata/settings.yaml"}, nil, "testdata/settings.yaml"},
		{"--config over JWTUP_CONFIG", env{"JWTUP_CONFIG": "testdata/settings.yaml"},
			[]string{"--config", "testdata/other.yaml"}, "testdata/other.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := resolve(t, tt.e, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			s, err := parseSettings(raw)
			if err != nil || s.ConfigPath != tt.want {
				t.Errorf("ConfigPath = %q, err %v; want %q", s.ConfigPath, err, tt.want)
			}
		})
	}
}

// The file may not name itself, nor set the structured keys as variables.
func TestConfigKeyNotASetting(t *testing.T) {
	path := writeFile(t, t.TempDir(), "jwt-up.yaml", "config: other.yaml\n")
	if _, err := loadConfig(t, path, env{}); err == nil || !strings.Contains(err.Error(), `unknown setting "config"`) {
		t.Errorf("config key in the file: err = %v, want unknown setting", err)
	}
	s, err := loadConfig(t, "testdata/other.yaml", env{"JWTUP_PROFILES": "a", "JWTUP_TRUSTED_ISSUERS": "b"})
	if err != nil || s.Profiles.Audiences != nil || s.Issuers != nil {
		t.Errorf("variables for the structured keys: %+v, %v, err %v", s.Profiles.Audiences, s.Issuers, err)
	}
}

func TestBadProfileStopsCommand(t *testing.T) {
	path := writeFile(t, t.TempDir(), "jwt-up.yaml", "profiles:\n  orders-api:\n    ttl: 5m\n")
	_, _, err := run(t, testEnv(t).with("JWTUP_CONFIG", path), "migrate")
	if err == nil || !strings.Contains(err.Error(), `profiles.orders-api: unknown field "ttl"`) {
		t.Fatalf("migrate with a bad profile: err = %v, want one naming the field", err)
	}
}

func TestConfigPublicKeysPEM(t *testing.T) {
	k := keysForTest(t)
	keys, err := parsePublicKeysPEM([]byte("leading text\n" + pemPKIX(t, &k.ec.PublicKey) + pemCertificate(t, k.rsa)))
	if err != nil {
		t.Fatal(err)
	}
	want := []crypto.PublicKey{&k.ec.PublicKey, &k.rsa.PublicKey}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := parsePublicKeysPEM([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
