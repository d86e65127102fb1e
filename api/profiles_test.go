package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/jwt-up/jwt-up/service"
)

const (
	outsideIssuer   = "https://idp.test"
	outsideAudience = "jwt-up"
)

// outsideKey is the signing key of a trusted issuer of the tests.
var outsideKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

// testProfiles has three audiences beside the default, as a deployment
// with three kinds of upstream would.
func testProfiles(deny bool) *service.Profiles {
	def := service.AudienceProfile{TTL: tokenTTL, RefreshMargin: 30 * time.Second,
		Claims: service.ProfileStandard, Type: service.TypeJWT}
	orders, access, txn := def, def, def
	orders.StaticClaims = map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`)}
	orders.AllowedClaims = []string{"region"}
	access.Type = service.TypeAccessToken
	access.TTL = time.Minute
	txn.Type = service.TypeTxnToken
	txn.Binding = true
	return &service.Profiles{
		Default:     def,
		Audiences:   map[string]service.AudienceProfile{"orders": orders, "access": access, "payments": txn},
		DenyUnknown: deny,
	}
}

// profileEnv is a router with the test profiles and the outside issuer.
func profileEnv(t *testing.T, deny bool) *env {
	t.Helper()
	return newEnv(t, setup{profiles: testProfiles(deny), verifier: outsideVerifier(t)})
}

// outsideVerifier verifies subject tokens of the outside issuer.
func outsideVerifier(t *testing.T) *service.Verifier {
	t.Helper()
	v, err := service.NewVerifier([]service.TrustedIssuer{{
		Issuer:     outsideIssuer,
		Keys:       []crypto.PublicKey{outsideKey.Public()},
		Algorithms: []string{"ES256"},
		Audiences:  []string{outsideAudience},
		Carry:      []string{"email"},
	}}, nil, nil, nil)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// outsideToken signs claims with the outside issuer's key, filling iss,
// aud and exp unless given.
func outsideToken(t *testing.T, e *env, claims map[string]any) string {
	t.Helper()
	tok := jwt.New()
	defaults := map[string]any{"iss": outsideIssuer, "aud": outsideAudience,
		"exp": e.clock.Now().Add(time.Hour).Unix()}
	for k, v := range defaults {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, outsideKey))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func TestPostTokenProfiles(t *testing.T) {
	t.Parallel()
	e := profileEnv(t, false)

	cases := []struct {
		audience, typ string
		ttl           int64
		claim, value  string
	}{
		{"orders", "JWT", 300, "tenant", "acme"},
		{"access", "at+jwt", 60, "client_id", "alice"},
		{"elsewhere", "JWT", 300, "sub", "alice"},
	}
	for _, tc := range cases {
		t.Run(tc.audience, func(t *testing.T) {
			tr := e.mint(t, `{"consumer":{"id":"alice"},"audience":"`+tc.audience+`"}`)
			header, claims := tokenParts(t, tr.Token)
			if header["typ"] != tc.typ {
				t.Errorf("typ %v, want %s", header["typ"], tc.typ)
			}
			if tr.ExpiresIn != tc.ttl {
				t.Errorf("expires_in %d, want %d", tr.ExpiresIn, tc.ttl)
			}
			if claims[tc.claim] != tc.value {
				t.Errorf("claim %s is %v, want %s", tc.claim, claims[tc.claim], tc.value)
			}
		})
	}
}

func TestPostTokenProfileRefusals(t *testing.T) {
	t.Parallel()
	open := profileEnv(t, false)
	deny := profileEnv(t, true)

	cases := []struct {
		name   string
		e      *env
		body   string
		status int
		slug   string
	}{
		{"unknown audience denied", deny, `{"consumer":{"id":"a"},"audience":"elsewhere"}`, 403, "unknown-audience"},
		{"claim off the allow-list", open, `{"consumer":{"id":"a"},"audience":"orders","claims":{"plan":"x"}}`, 422, "claim-not-allowed"},
		{"static claim", open, `{"consumer":{"id":"a"},"audience":"orders","claims":{"tenant":"x"}}`, 422, "reserved-claim"},
		{"client_id of an access token", open, `{"consumer":{"id":"a"},"audience":"access","claims":{"client_id":"x"}}`, 422, "reserved-claim"},
		{"binding missing", open, `{"consumer":{"id":"a"},"audience":"payments"}`, 400, "invalid-request"},
		{"binding not wanted", open, `{"consumer":{"id":"a"},"audience":"orders","request":{"method":"GET","path":"/","body_sha256":"` + emptySHA256 + `"}}`, 400, "invalid-request"},
		{"bad digest", open, `{"consumer":{"id":"a"},"audience":"payments","request":{"method":"GET","path":"/","body_sha256":"abc"}}`, 400, "invalid-request"},
		{"unknown request field", open, `{"consumer":{"id":"a"},"audience":"payments","request":{"verb":"GET"}}`, 400, "invalid-request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := checkProblem(t, tc.e.postToken(t, tc.body), tc.status)
			if want := "urn:jwt-up:problem:" + tc.slug; p.Type != want {
				t.Errorf("type %s, want %s (%s)", p.Type, want, p.Detail)
			}
		})
	}
	if tr := open.mint(t, `{"consumer":{"id":"a"},"audience":"orders","claims":{"region":"eu"}}`); tr.Token == "" {
		t.Error("an allowed claim was refused")
	}
}

// emptySHA256 is the digest of an empty body, base64url.
var emptySHA256 = func() string {
	sum := sha256.Sum256(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}()

func TestPostTokenSubjectToken(t *testing.T) {
	t.Parallel()
	e := profileEnv(t, false)
	subject := outsideToken(t, e, map[string]any{"sub": "user-7", "email": "u7@example.com"})

	tr := e.mint(t, `{"subject_token":"`+subject+`"}`)
	_, claims := tokenParts(t, tr.Token)
	if claims["sub"] != "user-7" || claims["email"] != "u7@example.com" {
		t.Errorf("re-signed claims %v, want sub user-7 and the carried email", claims)
	}
	if _, ok := claims["act"]; ok {
		t.Errorf("act %v on a token for the same subject", claims["act"])
	}
	if again := e.mint(t, `{"subject_token":"`+subject+`"}`); again.Token != tr.Token {
		t.Error("the same subject token minted twice")
	}

	tr = e.mint(t, `{"consumer":{"id":"svc-1"},"subject_token":"`+subject+`"}`)
	_, claims = tokenParts(t, tr.Token)
	act, _ := claims["act"].(map[string]any)
	if claims["sub"] != "svc-1" || act["sub"] != "user-7" || act["iss"] != outsideIssuer {
		t.Errorf("sub %v act %v, want svc-1 acting for user-7 of %s", claims["sub"], claims["act"], outsideIssuer)
	}
}

func TestSubjectTokenRefusedWithoutLockout(t *testing.T) {
	t.Parallel()
	e := profileEnv(t, false)
	forged := outsideToken(t, e, map[string]any{"sub": "user-7"})
	forged = forged[:len(forged)-4] + "AAAA"
	expired := outsideToken(t, e, map[string]any{"sub": "user-7", "exp": e.clock.Now().Add(-time.Minute).Unix()})

	// Many refusals in a row: the gateway's key is good, so the failed
	// authentication limit must not turn it away.
	for i := range 30 {
		subject := forged
		if i%2 == 1 {
			subject = expired
		}
		r := e.postToken(t, `{"subject_token":"`+subject+`"}`)
		p := checkProblem(t, r, http.StatusUnauthorized)
		if p.Type != "urn:jwt-up:problem:invalid-subject-token" {
			t.Fatalf("type %s, want invalid-subject-token (%s)", p.Type, p.Detail)
		}
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("WWW-Authenticate %q, want an invalid_token challenge", r.Header.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(r.Body), subject[:40]) {
			t.Fatal("the problem echoes the subject token")
		}
	}
	if tr := e.mint(t, consumerBody("alice")); tr.Token == "" {
		t.Error("no token after refused subject tokens")
	}
	e.mint(t, `{"subject_token":"`+outsideToken(t, e, map[string]any{"sub": "user-8"})+`"}`)

	metrics := string(e.do(t, newRequest(http.MethodGet, "/metrics", "")).Body)
	for result, want := range map[string]float64{"refused": 30, "verified": 1, "issuer_unavailable": 0} {
		got, ok := metricValue(t, metrics, "jwtup_subject_tokens_total", map[string]string{"result": result})
		if !ok || got != want {
			t.Errorf("jwtup_subject_tokens_total{result=%q} = %v (found %v), want %v", result, got, ok, want)
		}
	}
}

func TestForwardAuthSubjectToken(t *testing.T) {
	t.Parallel()
	e := profileEnv(t, false)
	subject := outsideToken(t, e, map[string]any{"sub": "user-9"})

	for _, value := range []string{subject, "Bearer " + subject} {
		r := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Subject-Token", value))
		if r.Status != http.StatusOK {
			t.Fatalf("got %d, want 200; body %s", r.Status, r.Body)
		}
		_, claims := tokenParts(t, bearerToken(t, r.Header.Get("Authorization")))
		if claims["sub"] != "user-9" {
			t.Errorf("sub %v, want user-9", claims["sub"])
		}
	}

	r := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Subject-Token", subject+"x"))
	checkProblem(t, r, http.StatusUnauthorized)
}

func TestForwardAuthBinding(t *testing.T) {
	t.Parallel()
	e := profileEnv(t, false)
	body := []byte(`{"amount":100}`)
	sum := sha256.Sum256(body)

	bound := func(digest string) reply {
		return e.do(t, authRequest(http.MethodPost, "/v1/auth",
			"X-Consumer-ID", "alice", "X-JWT-Audience", "payments",
			"X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/pay?x=1", "X-Body-SHA256", digest))
	}
	r := bound(hex.EncodeToString(sum[:]))
	if r.Status != http.StatusOK {
		t.Fatalf("got %d, want 200; body %s", r.Status, r.Body)
	}
	header, claims := tokenParts(t, bearerToken(t, r.Header.Get("Authorization")))
	want := map[string]any{"method": "POST", "path": "/pay?x=1",
		"body_sha256": base64.RawURLEncoding.EncodeToString(sum[:])}
	got, _ := claims["request"].(map[string]any)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("request.%s = %v, want %v", k, got[k], v)
		}
	}
	if header["typ"] != "txntoken+jwt" || claims["txn"] != claims["jti"] {
		t.Errorf("typ %v txn %v jti %v, want a transaction token", header["typ"], claims["txn"], claims["jti"])
	}

	again := bound(hex.EncodeToString(sum[:]))
	if again.Header.Get("Authorization") == r.Header.Get("Authorization") {
		t.Error("a bound token was handed out twice")
	}

	missing := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Consumer-ID", "alice", "X-JWT-Audience", "payments"))
	checkProblem(t, missing, http.StatusBadRequest)
	unwanted := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Consumer-ID", "alice",
		"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/", "X-Body-SHA256", emptySHA256))
	checkProblem(t, unwanted, http.StatusBadRequest)
	plain := e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Consumer-ID", "alice",
		"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/"))
	if plain.Status != http.StatusOK {
		t.Errorf("forwarded method and URI alone: got %d, want 200 (they do not ask for binding)", plain.Status)
	}
}

func TestSubjectTokenNeverLogged(t *testing.T) {
	t.Parallel()
	e := profileEnv(t, false)
	good := outsideToken(t, e, map[string]any{"sub": "user-3", "email": "u3@example.com"})
	forged := good[:len(good)-4] + "AAAA"

	e.mint(t, `{"subject_token":"`+good+`"}`)
	checkProblem(t, e.postToken(t, `{"subject_token":"`+forged+`"}`), http.StatusUnauthorized)
	e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Subject-Token", "Bearer "+good))
	e.do(t, authRequest(http.MethodGet, "/v1/auth", "X-Subject-Token", forged))

	logs := e.logs.String()
	if !strings.Contains(logs, "/v1/auth") {
		t.Fatal("no access lines were logged: the check below would prove nothing")
	}
	for _, part := range strings.Split(good, ".") {
		if strings.Contains(logs, part) {
			t.Fatalf("a part of the subject token is in the log:\n%s", logs)
		}
	}
}
