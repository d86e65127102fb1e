package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "jwt-up"
	testJWKSURL  = "https://idp.example/jwks"
)

// issuerKey is a signing key of a fake issuer.
type issuerKey struct {
	alg  string
	kid  string
	priv crypto.Signer
}

func newIssuerKey(t *testing.T, alg, kid string) issuerKey {
	t.Helper()
	priv, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return issuerKey{alg: alg, kid: kid, priv: priv}
}

// public returns the key as a JWK with its kid, and use when not empty.
func (k issuerKey) public(t *testing.T, use string) jwk.Key {
	t.Helper()
	pub, err := jwk.FromRaw(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Set(jwk.KeyIDKey, k.kid); err != nil {
		t.Fatal(err)
	}
	if use != "" {
		if err := pub.Set(jwk.KeyUsageKey, use); err != nil {
			t.Fatal(err)
		}
	}
	return pub
}

// sign signs claims, a JSON value or a value to marshal, with k.
func (k issuerKey) sign(t *testing.T, claims any) string {
	t.Helper()
	return signJWS(t, k.alg, k.priv, map[string]any{"kid": k.kid}, claims)
}

// signJWS signs claims with key, the header holding alg and extra.
func signJWS(t *testing.T, alg string, key any, extra map[string]any, claims any) string {
	t.Helper()
	payload, ok := claims.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(claims); err != nil {
			t.Fatal(err)
		}
	}
	h := jws.NewHeaders()
	for name, v := range extra {
		if err := h.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// handMade joins a header and claims as JSON into a token with sig.
func handMade(header, claims, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + sig
}

func keySetOf(t *testing.T, keys ...jwk.Key) jwk.Set {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	return set
}

// claimsAt are good claims of testIssuer at now, with changes applied: a
// nil value removes a claim.
func claimsAt(now time.Time, changes map[string]any) map[string]any {
	c := map[string]any{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "alice",
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
	}
	for name, v := range changes {
		if v == nil {
			delete(c, name)
			continue
		}
		c[name] = v
	}
	return c
}

// fakeFetcher serves a key set, or an error, and counts fetches.
type fakeFetcher struct {
	mu    sync.Mutex
	set   jwk.Set
	err   error
	calls int
	delay time.Duration
}

func (f *fakeFetcher) FetchKeySet(ctx context.Context, url string) (jwk.Set, error) {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.set, f.err
}

func (f *fakeFetcher) serve(set jwk.Set, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set, f.err = set, err
}

func (f *fakeFetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func jwksIssuer(algs ...string) TrustedIssuer {
	return TrustedIssuer{
		Issuer:     testIssuer,
		JWKSURL:    testJWKSURL,
		Algorithms: algs,
		Audiences:  []string{testAudience},
	}
}

func newTestVerifier(t *testing.T, clk *clock, fetch KeySetFetcher, log *slog.Logger,
	issuers ...TrustedIssuer) *Verifier {
	t.Helper()
	v, err := NewVerifier(issuers, fetch, clk.Now, log)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// publicPEM encodes pub as a PEM PUBLIC KEY block.
func publicPEM(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// parsePublicPEM reads a PEM PUBLIC KEY block, as settings would.
func parsePublicPEM(t *testing.T, data []byte) crypto.PublicKey {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestVerifierGoodTokens(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	rs := newIssuerKey(t, "RS256", "rs")
	ps := newIssuerKey(t, "PS256", "ps")
	es0 := newIssuerKey(t, "ES256", "es0")
	es := newIssuerKey(t, "ES256", "es")
	ed := newIssuerKey(t, "EdDSA", "ed")
	secret := bytes.Repeat([]byte("s"), 32)
	set := keySetOf(t, rs.public(t, ""), ps.public(t, "sig"), es0.public(t, ""), es.public(t, ""),
		ed.public(t, ""))

	jwks := jwksIssuer("RS256", "PS256", "ES256", "EdDSA")
	jwks.Leeway = time.Minute
	hmac := TrustedIssuer{Issuer: testIssuer, Secret: secret, Algorithms: []string{"HS256"},
		Audiences: []string{testAudience}}
	static := TrustedIssuer{Issuer: testIssuer, Algorithms: []string{"RS256"},
		Audiences: []string{testAudience},
		Keys:      []crypto.PublicKey{parsePublicPEM(t, publicPEM(t, rs.priv.Public()))}}

	tests := []struct {
		name   string
		issuer TrustedIssuer
		token  string
	}{
		{"RS256 from JWKS", jwks, rs.sign(t, claimsAt(now, nil))},
		{"PS256 from JWKS", jwks, ps.sign(t, claimsAt(now, nil))},
		{"ES256 from JWKS", jwks, es.sign(t, claimsAt(now, nil))},
		{"EdDSA from JWKS", jwks, ed.sign(t, claimsAt(now, nil))},
		{"no kid tries each key that fits", jwks,
			signJWS(t, "ES256", es.priv, nil, claimsAt(now, nil))},
		{"aud array", jwks,
			es.sign(t, claimsAt(now, map[string]any{"aud": []string{"other", testAudience}}))},
		{"expired within leeway", jwks,
			es.sign(t, claimsAt(now, map[string]any{"exp": now.Add(-30 * time.Second).Unix()}))},
		{"nbf within leeway", jwks,
			es.sign(t, claimsAt(now, map[string]any{"nbf": now.Add(30 * time.Second).Unix()}))},
		{"HS256 with secret", hmac, signJWS(t, "HS256", secret, nil, claimsAt(now, nil))},
		{"RS256 with static PEM key", static, rs.sign(t, claimsAt(now, nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetch := &fakeFetcher{set: set}
			v := newTestVerifier(t, clk, fetch, discard(), tt.issuer)
			got, err := v.Verify(context.Background(), tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Issuer != testIssuer || got.Subject != "alice" || got.OriginalSubject != "alice" {
				t.Errorf("got iss %q, subject %q, sub %q; want %q, alice, alice",
					got.Issuer, got.Subject, got.OriginalSubject, testIssuer)
			}
		})
	}
}

func TestVerifierRefuses(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	rs := newIssuerKey(t, "RS256", "rs")
	es := newIssuerKey(t, "ES256", "es")
	enc := newIssuerKey(t, "ES256", "enc")
	es384 := newIssuerKey(t, "ES384", "es384")
	otherES := newIssuerKey(t, "ES256", "es") // same kid, other key
	short, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	shortRS := issuerKey{alg: "RS256", kid: "short", priv: short}
	psOnly := newIssuerKey(t, "RS256", "ps-only")
	psOnlyJWK := psOnly.public(t, "")
	if err := psOnlyJWK.Set(jwk.AlgorithmKey, jwa.PS256); err != nil {
		t.Fatal(err)
	}
	set := keySetOf(t, rs.public(t, ""), es.public(t, "sig"), enc.public(t, "enc"), es384.public(t, ""),
		shortRS.public(t, ""), psOnlyJWK)

	issuer := jwksIssuer("RS256", "ES256")
	issuer.Carry = []string{"blob"}
	rsaPEM := publicPEM(t, rs.priv.Public())
	rsaDER, _ := pem.Decode(rsaPEM)
	good := claimsAt(now, nil)
	goodJSON, _ := json.Marshal(good)
	with := func(changes map[string]any) map[string]any { return claimsAt(now, changes) }
	deep := strings.Repeat("[", MaxClaimDepth+1) + strings.Repeat("]", MaxClaimDepth+1)

	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"expired", es.sign(t, with(map[string]any{"exp": now.Add(-time.Second).Unix()})), "subject token: expired"},
		{"exp zero", es.sign(t, with(map[string]any{"exp": 0})), "subject token: expired"},
		{"exp missing", es.sign(t, with(map[string]any{"exp": nil})), "subject token: exp is missing"},
		{"not valid yet", es.sign(t, with(map[string]any{"nbf": now.Add(time.Minute).Unix()})), "not valid yet"},
		{"issued in the future", es.sign(t, with(map[string]any{"iat": now.Add(time.Minute).Unix()})),
			"issued in the future"},
		{"untrusted issuer", es.sign(t, with(map[string]any{"iss": "https://evil.example"})),
			`issuer "https://evil.example" is not trusted`},
		{"issuer differs in case", es.sign(t, with(map[string]any{"iss": "https://IDP.example"})), "is not trusted"},
		{"iss missing", es.sign(t, with(map[string]any{"iss": nil})), "iss is missing"},
		{"iss not a string", es.sign(t, with(map[string]any{"iss": 7})), "iss is not a string"},
		{"other audience", es.sign(t, with(map[string]any{"aud": "other"})), "audience does not match"},
		{"aud missing", es.sign(t, with(map[string]any{"aud": nil})), "audience does not match"},
		{"alg none", handMade(`{"alg":"none"}`, string(goodJSON), ""), "algorithm none is never accepted"},
		{"alg None", handMade(`{"alg":"None","kid":"es"}`, string(goodJSON), ""), "algorithm none is never accepted"},
		{"alg missing", handMade(`{"kid":"es"}`, string(goodJSON), "c2ln"), "header has no alg"},
		{"alg not pinned", es384.sign(t, good), `algorithm "ES384" is not accepted from issuer ` + testIssuer},
		{"HS256 keyed with the RSA public key PEM",
			signJWS(t, "HS256", rsaPEM, map[string]any{"kid": "rs"}, good), `algorithm "HS256" is not accepted`},
		{"HS256 keyed with the RSA public key DER",
			signJWS(t, "HS256", rsaDER.Bytes, map[string]any{"kid": "rs"}, good), `algorithm "HS256" is not accepted`},
		{"unknown kid", signJWS(t, "ES256", es.priv, map[string]any{"kid": "nope"}, good),
			`no key of issuer ` + testIssuer + ` has kid "nope"`},
		{"kid of an encryption key", enc.sign(t, good), `has kid "enc"`},
		{"kid of a key of another type", signJWS(t, "ES256", es.priv, map[string]any{"kid": "rs"}, good),
			`has kid "rs"`},
		{"kid of a key for another algorithm", psOnly.sign(t, good), `has kid "ps-only"`},
		{"kid of a short RSA key", shortRS.sign(t, good), `has kid "short"`},
		{"signed by another key", otherES.sign(t, good), "signature does not verify"},
		{"key in the header is ignored",
			signJWS(t, "ES256", otherES.priv, map[string]any{"kid": "es", "jwk": otherES.public(t, "")}, good),
			"signature does not verify"},
		{"jku is ignored",
			signJWS(t, "ES256", otherES.priv, map[string]any{"kid": "x", "jku": "https://evil.example/jwks"}, good),
			`has kid "x"`},
		{"crit header", signJWS(t, "ES256", es.priv, map[string]any{"kid": "es", "crit": []string{"exp"}}, good),
			"header crit is not accepted"},
		{"b64 header", handMade(`{"alg":"ES256","kid":"es","b64":false}`, string(goodJSON), "c2ln"),
			"header b64 is not accepted"},
		{"too long", strings.Repeat("a", MaxSubjectToken+1), "longer than 16384 bytes"},
		{"two parts", "eyJhbGciOiJFUzI1NiJ9.e30", "not a compact JWS"},
		{"four parts", es.sign(t, good) + ".e30", "not a compact JWS"},
		{"padding", es.sign(t, good) + "=", "not a compact JWS"},
		{"line break", strings.Replace(es.sign(t, good), ".", ".\n", 1), "not a compact JWS"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, "JSON serialization is not accepted"},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("alg")) + ".e30.c2ln", "header cannot be read"},
		{"claims not an object", handMade(`{"alg":"ES256"}`, `[1]`, "c2ln"), "claims are not a JSON object"},
		{"tampered claims", tamper(t, es.sign(t, good)), "signature does not verify"},
		{"sub missing", es.sign(t, with(map[string]any{"sub": nil})), "claim sub is missing"},
		{"sub empty", es.sign(t, with(map[string]any{"sub": ""})), "claim sub is empty"},
		{"sub not a string", es.sign(t, with(map[string]any{"sub": 42})), "claims cannot be read"},
		{"sub with a control character", es.sign(t, with(map[string]any{"sub": "a\nb"})),
			"claim sub contains a control character"},
		{"sub too long", es.sign(t, with(map[string]any{"sub": strings.Repeat("a", MaxTextLength+1)})),
			"claim sub is longer than 256 bytes"},
		{"carried claim too large",
			es.sign(t, with(map[string]any{"blob": strings.Repeat("a", MaxClaimValueSize)})),
			"claim blob is 4098 bytes, more than the 4096 allowed"},
		{"carried claim too deep", es.sign(t, with(map[string]any{"blob": json.RawMessage(deep)})),
			"claim blob nests 9 levels deep"},
		{"act not an object", es.sign(t, with(map[string]any{"act": "bob"})), "claim act is not a JSON object"},
	}
	fetch := &fakeFetcher{set: set}
	v := newTestVerifier(t, clk, fetch, discard(), issuer)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tt.token)
			if !errors.Is(err, ErrSubjectToken) {
				t.Fatalf("Verify: got %+v, %v; want ErrSubjectToken", got, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if len(tt.token) > 40 && strings.Contains(err.Error(), tt.token[:40]) {
				t.Errorf("the refusal %q echoes the token", err)
			}
		})
	}
}

// tamper changes the sub of a signed token, keeping its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims = bytes.Replace(claims, []byte(`"alice"`), []byte(`"admin"`), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(claims)
	return strings.Join(parts, ".")
}

func TestVerifierKeyRotation(t *testing.T) {
	clk := newClock()
	a := newIssuerKey(t, "ES256", "a")
	b := newIssuerKey(t, "ES256", "b")
	c := newIssuerKey(t, "ES256", "c")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	fetch := &fakeFetcher{set: keySetOf(t, a.public(t, ""))}
	issuer := jwksIssuer("ES256")
	issuer.JWKSRefresh, issuer.JWKSMinRefetch = 10*time.Minute, 30*time.Second
	v := newTestVerifier(t, clk, fetch, log, issuer)
	fetchFails := errors.New("connection refused")

	type serve struct {
		set jwk.Set
		err error
	}
	steps := []struct {
		name      string
		advance   time.Duration
		serve     *serve
		key       issuerKey
		wantErr   string
		wantCalls int
	}{
		{name: "first use fetches", key: a, wantCalls: 1},
		{name: "known kid does not fetch", advance: time.Minute, key: a, wantCalls: 1},
		{name: "new kid fetches once", advance: time.Minute, key: b, wantCalls: 2,
			serve: &serve{set: keySetOf(t, b.public(t, ""))}},
		{name: "retired kid within min refetch", advance: time.Second, key: a,
			wantErr: `has kid "a"`, wantCalls: 2},
		{name: "second unknown kid within min refetch", advance: time.Second, key: c,
			wantErr: `has kid "c"`, wantCalls: 2},
		{name: "fetched again after refresh", advance: 10 * time.Minute, key: b, wantCalls: 3},
		{name: "failed refetch keeps the old set", advance: 10 * time.Minute, key: b, wantCalls: 4,
			serve: &serve{err: fetchFails}},
		{name: "no retry within min refetch", advance: time.Second, key: b, wantCalls: 4},
		{name: "unknown kid while the issuer is down", advance: time.Minute, key: c,
			wantErr: `has kid "c"`, wantCalls: 5},
		{name: "recovers", advance: time.Minute, key: c, wantCalls: 6,
			serve: &serve{set: keySetOf(t, b.public(t, ""), c.public(t, ""))}},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if s.serve != nil {
			fetch.serve(s.serve.set, s.serve.err)
		}
		token := s.key.sign(t, claimsAt(clk.Now(), nil))
		_, err := v.Verify(context.Background(), token)
		switch {
		case s.wantErr == "" && err != nil:
			t.Fatalf("%s: Verify: %v", s.name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Fatalf("%s: got %v, want an error containing %q", s.name, err, s.wantErr)
		}
		if got := fetch.count(); got != s.wantCalls {
			t.Fatalf("%s: got %d fetches, want %d", s.name, got, s.wantCalls)
		}
		if strings.Contains(logs.String(), token) {
			t.Fatalf("%s: a token was logged", s.name)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("got %d warn lines, want one per failed fetch (2):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "issuer="+testIssuer) ||
		!strings.Contains(logs.String(), "connection refused") {
		t.Errorf("warn lines lack the issuer or the error:\n%s", logs.String())
	}
}

func TestVerifierWithoutAnyKeySet(t *testing.T) {
	clk := newClock()
	es := newIssuerKey(t, "ES256", "es")
	fetch := &fakeFetcher{err: errors.New("no route to host")}
	v := newTestVerifier(t, clk, fetch, discard(), jwksIssuer("ES256"))

	_, err := v.Verify(context.Background(), es.sign(t, claimsAt(clk.Now(), nil)))
	want := "the keys of issuer " + testIssuer + " could not be fetched"
	if !errors.Is(err, ErrIssuerUnavailable) || errors.Is(err, ErrSubjectToken) || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}

	fetch.serve(keySetOf(t, es.public(t, "")), nil)
	clk.Advance(30 * time.Second)
	if _, err := v.Verify(context.Background(), es.sign(t, claimsAt(clk.Now(), nil))); err != nil {
		t.Errorf("after the issuer came back: %v", err)
	}
}

func TestVerifierSharesOneFetch(t *testing.T) {
	clk := newClock()
	es := newIssuerKey(t, "ES256", "es")
	fetch := &fakeFetcher{set: keySetOf(t, es.public(t, "")), delay: 20 * time.Millisecond}
	v := newTestVerifier(t, clk, fetch, discard(), jwksIssuer("ES256"))
	token := es.sign(t, claimsAt(clk.Now(), nil))

	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), token)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if got := fetch.count(); got != 1 {
		t.Errorf("got %d fetches, want 1", got)
	}
}

func TestVerifierVerifiedToken(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	es := newIssuerKey(t, "ES256", "es")
	issuer := jwksIssuer("ES256")
	issuer.SubjectClaim = "email"
	issuer.Carry = []string{"tenant", "roles", "absent"}
	v := newTestVerifier(t, clk, &fakeFetcher{set: keySetOf(t, es.public(t, ""))}, discard(), issuer)

	payload := fmt.Sprintf(`{"iss": %q, "aud": [%q], "exp": %d, "sub": "u-1",
		"email": "alice@example.com", "tenant": "acme", "roles": [ "a", { "b" : 1 } ],
		"other": 1, "act": { "sub": "svc",  "act": {"sub": "gw"} }}`,
		testIssuer, testAudience, now.Add(time.Hour).Unix())
	token := es.sign(t, []byte(payload))
	got, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}

	sum := sha256.Sum256([]byte(token))
	want := VerifiedToken{
		Issuer:          testIssuer,
		Subject:         "alice@example.com",
		OriginalSubject: "u-1",
		Identity:        base64.RawURLEncoding.EncodeToString(sum[:]),
		ExpiresAt:       time.Unix(now.Add(time.Hour).Unix(), 0).UTC(),
		Carried: map[string]json.RawMessage{
			"tenant": json.RawMessage(`"acme"`),
			"roles":  json.RawMessage(`["a",{"b":1}]`),
		},
		Actor: json.RawMessage(`{"sub":"svc","act":{"sub":"gw"}}`),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("VerifiedToken (-want +got):\n%s", diff)
	}

	plain, err := v.Verify(context.Background(), es.sign(t,
		claimsAt(now, map[string]any{"email": "bob@example.com", "sub": nil})))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if plain.Carried != nil || plain.Actor != nil || plain.OriginalSubject != "" ||
		plain.Identity == got.Identity {
		t.Errorf("a token without carried claims, act and sub: got %+v", plain)
	}
}

func TestVerifierPrefetch(t *testing.T) {
	clk := newClock()
	es := newIssuerKey(t, "ES256", "es")
	other := jwksIssuer("ES256")
	other.Issuer, other.JWKSURL = "https://other.example", "https://other.example/jwks"
	static := TrustedIssuer{Issuer: "https://static.example", Algorithms: []string{"ES256"},
		Audiences: []string{testAudience}, Keys: []crypto.PublicKey{es.priv.Public()}}

	var logs bytes.Buffer
	fetch := &fakeFetcher{err: errors.New("timeout")}
	v := newTestVerifier(t, clk, fetch, slog.New(slog.NewTextHandler(&logs, nil)),
		jwksIssuer("ES256"), other, static)
	v.Prefetch(context.Background())
	if got := fetch.count(); got != 2 {
		t.Errorf("failing: got %d fetches, want 2", got)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("got %d warn lines, want 2:\n%s", n, logs.String())
	}

	fetch.serve(keySetOf(t, es.public(t, "")), nil)
	clk.Advance(time.Minute)
	v.Prefetch(context.Background())
	if _, err := v.Verify(context.Background(), es.sign(t, claimsAt(clk.Now(), nil))); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got := fetch.count(); got != 4 {
		t.Errorf("after the second prefetch and a Verify: got %d fetches, want 4", got)
	}
}

func TestNewVerifier(t *testing.T) {
	secret := TrustedIssuer{Issuer: "https://hmac.example", Secret: make([]byte, 32),
		Algorithms: []string{"HS256"}, Audiences: []string{testAudience}}
	broken := jwksIssuer("ES256")
	broken.Audiences = nil

	tests := []struct {
		name    string
		issuers []TrustedIssuer
		fetch   KeySetFetcher
		want    string
	}{
		{"two issuers alike", []TrustedIssuer{jwksIssuer("ES256"), jwksIssuer("RS256")}, &fakeFetcher{},
			"trusted_issuers[" + testIssuer + "]: issuer: is listed twice"},
		{"an invalid issuer", []TrustedIssuer{secret, broken}, &fakeFetcher{},
			"trusted_issuers[" + testIssuer + "]: audiences: is empty"},
		{"a JWKS without a fetcher", []TrustedIssuer{jwksIssuer("ES256")}, nil,
			"trusted_issuers[" + testIssuer + "]: jwks_url: no key set fetcher"},
		{"a secret without a fetcher", []TrustedIssuer{secret}, nil, ""},
		{"none", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.issuers, tt.fetch, nil, nil)
			if tt.want == "" && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
				t.Fatalf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func TestExchangeTrustedIssuerDefaults(t *testing.T) {
	tests := []struct {
		name                  string
		refresh, minRefetch   time.Duration
		wantRefresh, wantMinR time.Duration
	}{
		{"both default", 0, 0, 10 * time.Minute, 30 * time.Second},
		{"short refresh caps the default", 10 * time.Second, 0, 10 * time.Second, 10 * time.Second},
		{"both set", time.Hour, time.Minute, time.Hour, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := jwksIssuer("ES256")
			in.JWKSRefresh, in.JWKSMinRefetch = tt.refresh, tt.minRefetch
			if err := in.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			got := in.withDefaults()
			if got.SubjectClaim != "sub" || got.JWKSRefresh != tt.wantRefresh || got.JWKSMinRefetch != tt.wantMinR {
				t.Errorf("got subject_claim %q, jwks_refresh %s, jwks_min_refetch %s; want sub, %s, %s",
					got.SubjectClaim, got.JWKSRefresh, got.JWKSMinRefetch, tt.wantRefresh, tt.wantMinR)
			}
		})
	}
}

func TestExchangeTrustedIssuerCheck(t *testing.T) {
	ec := newIssuerKey(t, "ES256", "").priv.Public()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(ti *TrustedIssuer) {
		ti.JWKSURL, ti.Secret, ti.Algorithms = "", make([]byte, 32), []string{"HS256"}
	}
	keys := func(k ...crypto.PublicKey) func(*TrustedIssuer) {
		return func(ti *TrustedIssuer) { ti.JWKSURL, ti.Keys = "", k }
	}

	tests := []struct {
		name   string
		change func(*TrustedIssuer)
		want   string // "" when valid
	}{
		{"valid JWKS", func(*TrustedIssuer) {}, ""},
		{"valid secret", secret, ""},
		{"valid keys", keys(ec), ""},
		{"valid times", func(ti *TrustedIssuer) {
			ti.Leeway, ti.JWKSRefresh, ti.JWKSMinRefetch = 5*time.Minute, time.Second, time.Second
		}, ""},
		{"issuer empty", func(ti *TrustedIssuer) { ti.Issuer = "" }, "issuer: is empty"},
		{"no key source",
			func(ti *TrustedIssuer) { ti.JWKSURL = "" },
			"jwks_url: none of jwks_url, keys and secret is set"},
		{"two key sources",
			func(ti *TrustedIssuer) { ti.Keys = []crypto.PublicKey{ec} },
			"jwks_url: set only one"},
		{"relative jwks_url",
			func(ti *TrustedIssuer) { ti.JWKSURL = "/jwks" },
			`jwks_url: the scheme is ""; want an absolute http or https URL`},
		{"ftp jwks_url",
			func(ti *TrustedIssuer) { ti.JWKSURL = "ftp://idp.example/jwks" },
			`jwks_url: the scheme is "ftp"`},
		{"jwks_url without host",
			func(ti *TrustedIssuer) { ti.JWKSURL = "https:///jwks" },
			"jwks_url: has no host"},
		{"jwks_url that does not parse, with a password",
			func(ti *TrustedIssuer) { ti.JWKSURL = "https://idp:s3cret@idp.example/%zz" },
			"jwks_url: does not parse as a URL"},
		{"algorithms empty", func(ti *TrustedIssuer) { ti.Algorithms = nil }, "algorithms: is empty"},
		{"algorithm none",
			func(ti *TrustedIssuer) { ti.Algorithms = []string{"ES256", "none"} },
			"algorithms: none is never accepted"},
		{"unknown algorithm",
			func(ti *TrustedIssuer) { ti.Algorithms = []string{"ES257"} },
			`algorithms: "ES257" is not one of`},
		{"algorithm twice",
			func(ti *TrustedIssuer) { ti.Algorithms = []string{"ES256", "RS256", "ES256"} },
			"algorithms: ES256 is listed twice"},
		{"HMAC without secret",
			func(ti *TrustedIssuer) { ti.Algorithms = []string{"RS256", "HS256"} },
			"algorithms: HS256 needs secret"},
		{"secret with RSA", func(ti *TrustedIssuer) {
			secret(ti)
			ti.Algorithms = []string{"HS256", "RS256"}
		}, "algorithms: RS256 cannot be used with secret"},
		{"short secret", func(ti *TrustedIssuer) {
			secret(ti)
			ti.Secret = make([]byte, 31)
		}, "secret: is 31 bytes, at least 32 needed"},
		{"short RSA key", keys(ec, &rsa1024.PublicKey), "keys[1]: an RSA key of 1024 bits; at least 2048 needed"},
		{"unsupported key type", keys(x25519.PublicKey()),
			"keys[0]: *ecdh.PublicKey is not an RSA, EC or Ed25519 public key"},
		{"private key", keys(newIssuerKey(t, "EdDSA", "").priv), "keys[0]: ed25519.PrivateKey is not"},
		{"key fits no algorithm", func(ti *TrustedIssuer) {
			keys(ec)(ti)
			ti.Algorithms = []string{"RS256", "ES384"}
		}, "keys[0]: *ecdsa.PublicKey fits none of algorithms RS256 ES384"},
		{"audiences empty", func(ti *TrustedIssuer) { ti.Audiences = nil }, "audiences: is empty"},
		{"audience empty",
			func(ti *TrustedIssuer) { ti.Audiences = []string{"a", ""} },
			"audiences[1]: is empty"},
		{"carry empty", func(ti *TrustedIssuer) { ti.Carry = []string{""} }, "carry[0]: is empty"},
		{"carry twice",
			func(ti *TrustedIssuer) { ti.Carry = []string{"tenant", "tenant"} },
			`carry[1]: "tenant" is listed twice`},
		{"carry sub",
			func(ti *TrustedIssuer) { ti.Carry = []string{"sub"} },
			`carry[0]: "sub" is set by jwt-up itself`},
		{"carry Consumer",
			func(ti *TrustedIssuer) { ti.Carry = []string{"tenant", "Consumer"} },
			`carry[1]: "Consumer" is set by jwt-up itself`},
		{"carry ACT",
			func(ti *TrustedIssuer) { ti.Carry = []string{"ACT"} },
			`carry[0]: "ACT" is set by jwt-up itself`},
		{"carry client_id",
			func(ti *TrustedIssuer) { ti.Carry = []string{"client_id"} },
			`carry[0]: "client_id" is set by jwt-up itself`},
		{"subject_claim control character",
			func(ti *TrustedIssuer) { ti.SubjectClaim = "e\tmail" },
			"subject_claim: contains a control character"},
		{"negative leeway",
			func(ti *TrustedIssuer) { ti.Leeway = -time.Second },
			"leeway: must not be negative"},
		{"long leeway",
			func(ti *TrustedIssuer) { ti.Leeway = 6 * time.Minute },
			"leeway: 6m0s is more than the 5m0s allowed"},
		{"short jwks_refresh",
			func(ti *TrustedIssuer) { ti.JWKSRefresh = 500 * time.Millisecond },
			"jwks_refresh: 500ms is shorter than 1s"},
		{"negative jwks_refresh",
			func(ti *TrustedIssuer) { ti.JWKSRefresh = -time.Minute },
			"jwks_refresh: -1m0s is shorter than 1s"},
		{"negative jwks_min_refetch",
			func(ti *TrustedIssuer) { ti.JWKSMinRefetch = -time.Second },
			"jwks_min_refetch: must not be negative"},
		{"jwks_min_refetch over jwks_refresh", func(ti *TrustedIssuer) {
			ti.JWKSRefresh, ti.JWKSMinRefetch = time.Minute, 2*time.Minute
		}, "jwks_min_refetch: 2m0s is longer than jwks_refresh 1m0s"},
		{"jwks_min_refetch over the default jwks_refresh",
			func(ti *TrustedIssuer) { ti.JWKSMinRefetch = 11 * time.Minute },
			"jwks_min_refetch: 11m0s is longer than jwks_refresh 10m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ti := jwksIssuer("ES256")
			tt.change(&ti)
			err := ti.Check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func TestVerifierKeepKeySets(t *testing.T) {
	clk := newClock()
	es := newIssuerKey(t, "ES256", "es")
	fetch := &fakeFetcher{}
	fetch.serve(keySetOf(t, es.public(t, "")), nil)
	old := newTestVerifier(t, clk, fetch, discard(), jwksIssuer("ES256"))
	if _, err := old.Verify(context.Background(), es.sign(t, claimsAt(clk.Now(), nil))); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// The issuer is down when the settings reload: the new verifier goes
	// on with the keys the old one fetched, and fetches nothing.
	fetch.serve(nil, errors.New("connection refused"))
	same := newTestVerifier(t, clk, fetch, discard(), jwksIssuer("ES256"))
	same.KeepKeySets(old)
	if _, err := same.Verify(context.Background(), es.sign(t, claimsAt(clk.Now(), nil))); err != nil {
		t.Errorf("after KeepKeySets: %v", err)
	}
	if got := fetch.count(); got != 1 {
		t.Errorf("got %d fetches, want the 1 of the old verifier", got)
	}

	// A JWKS URL that changed is not the same set.
	moved := jwksIssuer("ES256")
	moved.JWKSURL += "?v=2"
	other := newTestVerifier(t, clk, fetch, discard(), moved)
	other.KeepKeySets(old)
	if _, err := other.Verify(context.Background(), es.sign(t, claimsAt(clk.Now(), nil))); !errors.Is(err, ErrIssuerUnavailable) {
		t.Errorf("with a new JWKS URL: %v, want ErrIssuerUnavailable", err)
	}
}
