package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// runWithInput is run with stdin.
func runWithInput(t *testing.T, e env, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	root := newRootCmd(e.get, &out, &errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// mintLocal mints a token with the token command.
func mintLocal(t *testing.T, e env, audience string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, e, "token", "--consumer-id", "4e1c", "--audience", audience))
}

// lastLine is the verdict verify printed.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// tamper changes the sub claim of token and keeps its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	payload = bytes.Replace(payload, []byte(`"sub":"4e1c"`), []byte(`"sub":"root"`), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestVerifyLocalStore(t *testing.T) {
	e := testEnv(t)
	good := mintLocal(t, e, "orders-api")

	out, err := runWithInput(t, e, "", "verify", "--audience", "orders-api", good)
	if err != nil {
		t.Fatalf("verify of a fresh token failed: %v\n%s", err, out)
	}
	for _, want := range []string{"header:\n{\n", `"kid": "`, "claims:\n{\n", `"sub": "4e1c"`,
		`iss "http://localhost:8080"`, `aud "orders-api"`} {
		if !strings.Contains(out, want) {
			t.Errorf("verify printed no %q:\n%s", want, out)
		}
	}
	if got := lastLine(out); got != "valid" {
		t.Errorf("got verdict %q, want valid", got)
	}
}

func TestVerifyStdin(t *testing.T) {
	e := testEnv(t)
	good := mintLocal(t, e, "orders-api")
	for name, stdin := range map[string]string{
		"token":        good + "\n",
		"bearer value": "Bearer " + good + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runWithInput(t, e, stdin, "verify", "-")
			if err != nil || lastLine(out) != "valid" {
				t.Errorf("verify - got %v, verdict %q; want valid\n%s", err, lastLine(out), out)
			}
			if !strings.Contains(out, "not checked: aud (give --audience)") {
				t.Errorf("verify without --audience does not say aud went unchecked:\n%s", out)
			}
		})
	}
}

func TestVerifyLocalStoreRefuses(t *testing.T) {
	e := testEnv(t)
	good := mintLocal(t, e, "orders-api")
	stranger := mintLocal(t, testEnv(t), "orders-api") // another data dir, other keys
	var kids []string
	for _, r := range listKeys(t, e) {
		kids = append(kids, r.KID)
	}

	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"payload changed", []string{tamper(t, good)},
			[]string{"invalid: bad signature: key ", "changed after signing"}},
		{"wrong audience", []string{"--audience", "billing-api", good},
			[]string{`invalid: wrong audience: the token is for "orders-api", expected "billing-api"`}},
		{"wrong issuer", []string{"--issuer", "https://jwt-up.example", good},
			[]string{`invalid: wrong issuer: the token has "http://localhost:8080", expected "https://jwt-up.example"`}},
		{"alg not allowed", []string{"--alg", "RS256,EdDSA", good},
			[]string{`invalid: algorithm "ES256" is not allowed; allowed: RS256, EdDSA`}},
		{"another store's key", []string{stranger},
			append([]string{"invalid: unknown kid: key ", "the local key store"}, kids...)},
		{"not a JWT", []string{"not-a-token"},
			[]string{"invalid: not a signed JWT: it has 1 dot-separated parts"}},
		{"a JWE", []string{"a.b.c.d.e"},
			[]string{"invalid: this is an encrypted token (JWE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runWithInput(t, e, "", append([]string{"verify"}, tc.args...)...)
			if !errors.Is(err, errInvalidToken) {
				t.Errorf("got error %v, want %v", err, errInvalidToken)
			}
			for _, want := range tc.wants {
				if !strings.Contains(out, want) {
					t.Errorf("verify printed no %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestVerifyEmptyStore(t *testing.T) {
	e := testEnv(t)
	token := mintLocal(t, testEnv(t), "orders-api")
	out, err := runWithInput(t, e, "", "verify", token)
	if !errors.Is(err, errInvalidToken) || !strings.Contains(out, "which has no keys at all") {
		t.Errorf("got %v and\n%s\nwant a refusal that says the store publishes no keys", err, out)
	}
}

// signer is a key of the test's own, published by an httptest JWKS.
type signer struct {
	key  jwk.Key
	jwks string // URL of the set
}

// newSigner makes an ES256 key and serves its public part in a JWKS,
// published with alg published.
func newSigner(t *testing.T, published string) *signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := jwk.AssignKeyID(key); err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{jwk.AlgorithmKey: published, jwk.KeyUsageKey: "sig"} {
		if err := pub.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return &signer{key: key, jwks: srv.URL}
}

// claims are the claims of a token sign makes; zero times are left out.
type claims struct {
	iss, aud      string
	iat, nbf, exp time.Time
}

// sign signs c with s's key, under kid ("" for none) and alg.
func (s *signer) sign(t *testing.T, c claims, kid, alg string) string {
	t.Helper()
	b := jwt.NewBuilder().Subject("4e1c").Issuer(c.iss).Audience([]string{c.aud})
	for _, tc := range []struct {
		at  time.Time
		set func(time.Time) *jwt.Builder
	}{{c.iat, b.IssuedAt}, {c.nbf, b.NotBefore}, {c.exp, b.Expiration}} {
		if !tc.at.IsZero() {
			tc.set(tc.at)
		}
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	// jws takes the kid header from the key, so sign with a copy that
	// carries the kid wanted, or none.
	key, err := s.key.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Remove(jwk.KeyIDKey); err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		if err := key.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.SignatureAlgorithm(alg), key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func TestVerifyJWKSURL(t *testing.T) {
	const iss, aud = "https://jwt-up.example", "orders-api"
	s := newSigner(t, "ES256")
	kid := s.key.KeyID()
	now := time.Now()
	fresh := claims{iss: iss, aud: aud, iat: now, nbf: now, exp: now.Add(5 * time.Minute)}
	with := func(change func(*claims)) claims {
		c := fresh
		change(&c)
		return c
	}

	tests := []struct {
		name  string
		token string
		args  []string // after --jwks URL
		wants []string // in the output; the first is the verdict line
	}{
		{name: "valid", token: s.sign(t, fresh, kid, "ES256"),
			args:  []string{"--issuer", iss, "--audience", aud},
			wants: []string{"valid", "keys from " + s.jwks}},
		{name: "valid, issuer unchecked", token: s.sign(t, fresh, kid, "ES256"),
			wants: []string{"valid", "not checked: iss (give --issuer), aud (give --audience)"}},
		{name: "expired", token: s.sign(t, with(func(c *claims) { c.exp = now.Add(-3 * time.Minute) }), kid, "ES256"),
			wants: []string{"invalid: expired 3m", "ago (exp " + now.Add(-3*time.Minute).UTC().Format("2006-01-02T15:04")}},
		{name: "expired, for another audience", token: s.sign(t, with(func(c *claims) {
			c.exp, c.aud = now.Add(-time.Hour), "billing-api"
		}), kid, "ES256"),
			args:  []string{"--audience", aud},
			wants: []string{"invalid: expired 1h0m", `invalid: wrong audience: the token is for "billing-api", expected "orders-api"`}},
		{name: "not yet valid", token: s.sign(t, with(func(c *claims) { c.nbf = now.Add(2 * time.Minute) }), kid, "ES256"),
			wants: []string{"invalid: not valid yet: nbf is ", "from now"}},
		{name: "issued in the future", token: s.sign(t, with(func(c *claims) { c.iat = now.Add(time.Hour) }), kid, "ES256"),
			wants: []string{"invalid: issued in the future: iat is ", "from now"}},
		{name: "no exp", token: s.sign(t, with(func(c *claims) { c.exp = time.Time{} }), kid, "ES256"),
			wants: []string{"invalid: the token has no exp claim"}},
		{name: "wrong issuer", token: s.sign(t, fresh, kid, "ES256"),
			args:  []string{"--issuer", "https://other.example"},
			wants: []string{`invalid: wrong issuer: the token has "https://jwt-up.example", expected "https://other.example"`}},
		{name: "unknown kid", token: s.sign(t, fresh, "retired-long-ago", "ES256"),
			wants: []string{"invalid: unknown kid: key retired-long-ago is not in the JWKS of " + s.jwks +
				", which has " + kid + " (ES256)"}},
		{name: "no kid", token: s.sign(t, fresh, "", "ES256"),
			wants: []string{"invalid: the header names no key (kid)"}},
		{name: "alg none", token: unsigned(t, s.sign(t, fresh, kid, "ES256")),
			wants: []string{`invalid: the token is not signed (alg "none")`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"verify", "--jwks", s.jwks}, tc.args...)
			out, err := runWithInput(t, testEnv(t), "", append(args, tc.token)...)
			valid := tc.wants[0] == "valid"
			if valid != (err == nil) || (!valid && !errors.Is(err, errInvalidToken)) {
				t.Errorf("got error %v, want valid %v", err, valid)
			}
			if valid && lastLine(out) != "valid" {
				t.Errorf("got verdict %q, want valid", lastLine(out))
			}
			for _, want := range tc.wants {
				if !strings.Contains(out, want) {
					t.Errorf("verify printed no %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestVerifyKeyPublishedForAnotherAlg(t *testing.T) {
	s := newSigner(t, "ES384") // a P-256 key, published as if for ES384
	now := time.Now()
	token := s.sign(t, claims{iss: "i", aud: "a", iat: now, nbf: now, exp: now.Add(time.Minute)}, s.key.KeyID(), "ES256")
	out, err := runWithInput(t, testEnv(t), "", "verify", "--jwks", s.jwks, token)
	want := "invalid: algorithm mismatch: the token says ES256, but key " + s.key.KeyID() + " is published for ES384"
	if !errors.Is(err, errInvalidToken) || !strings.Contains(out, want) {
		t.Errorf("got %v and\n%s\nwant %q", err, out, want)
	}
}

func TestVerifyJWKSUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := runWithInput(t, testEnv(t), "", "verify", "--jwks", srv.URL, "a.b.c")
	if err == nil || !strings.Contains(err.Error(), "fetch JWKS "+srv.URL) {
		t.Errorf("got error %v, want one that says the JWKS could not be fetched", err)
	}
}

// unsigned returns token's claims under a header with alg "none".
func unsigned(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return hdr + "." + parts[1] + "."
}
