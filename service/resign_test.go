package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeVerifier answers every subject token with one canned result and
// counts the calls.
type fakeVerifier struct {
	mu    sync.Mutex
	vt    VerifiedToken
	err   error
	calls int
	last  string // the last token it was asked about
}

var _ SubjectVerifier = (*fakeVerifier)(nil)

func (v *fakeVerifier) Verify(_ context.Context, compact string) (VerifiedToken, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	v.last = compact
	return v.vt, v.err
}

// answer sets what the next calls return.
func (v *fakeVerifier) answer(vt VerifiedToken, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.vt, v.err = vt, err
}

func (v *fakeVerifier) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// identityOf is a subject token's identity as a verifier gives it.
func identityOf(compact string) string {
	sum := sha256.Sum256([]byte(compact))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const (
	testSubjectToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTcifQ.c2ln"
	testIdP          = "https://idp.example"
)

// verifiedFor is the verified form of testSubjectToken for user-7, which
// expires in an hour on f's clock.
func verifiedFor(f *mintFixture) VerifiedToken {
	return VerifiedToken{
		Issuer:          testIdP,
		Subject:         "user-7",
		OriginalSubject: "user-7",
		Identity:        identityOf(testSubjectToken),
		ExpiresAt:       f.clk.Now().Add(time.Hour),
	}
}

// newResignFixture returns a fixture with threeProfiles and a fake
// verifier answering verifiedFor.
func newResignFixture(t *testing.T) (*mintFixture, *fakeVerifier) {
	t.Helper()
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, threeProfiles())
	v := &fakeVerifier{}
	v.answer(verifiedFor(f), nil)
	f.minter.SetVerifier(v)
	return f, v
}

// jsonOf decodes s, for comparing with decoded claims.
func jsonOf(t *testing.T, s string) any {
	t.Helper()
	if s == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSubjectTokenWithoutVerifier(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	ctx := context.Background()
	req := MintRequest{SubjectToken: testSubjectToken}
	if _, err := f.minter.Mint(ctx, req); !errors.Is(err, ErrSubjectToken) {
		t.Errorf("no verifier: err = %v, want ErrSubjectToken", err)
	}

	v := &fakeVerifier{}
	v.answer(verifiedFor(f), nil)
	f.minter.SetVerifier(v)
	if _, err := f.minter.Mint(ctx, req); err != nil {
		t.Fatalf("with a verifier: %v", err)
	}
	f.minter.SetVerifier(nil)
	if _, err := f.minter.Mint(ctx, req); !errors.Is(err, ErrSubjectToken) {
		t.Errorf("verifier removed: err = %v, want ErrSubjectToken", err)
	}
	if v.count() != 1 {
		t.Errorf("the verifier was called %d times, want once, while it was set", v.count())
	}
}

func TestSubjectTokenRefused(t *testing.T) {
	f, v := newResignFixture(t)
	v.answer(VerifiedToken{}, fmt.Errorf("%w: subject token: signature does not verify", ErrSubjectToken))

	got, err := f.minter.Mint(context.Background(),
		MintRequest{Consumer: Consumer{ID: "gw-1"}, SubjectToken: testSubjectToken})
	if !errors.Is(err, ErrSubjectToken) || got.Token != "" {
		t.Errorf("Mint = %q, %v; want no token and ErrSubjectToken", got.Token, err)
	}
	if v.count() != 1 || v.last != testSubjectToken {
		t.Errorf("verifier called %d times with %q, want once with the subject token", v.count(), v.last)
	}
}

func TestSubjectTokenTooLong(t *testing.T) {
	f, v := newResignFixture(t)
	ctx := context.Background()

	_, err := f.minter.Mint(ctx, MintRequest{SubjectToken: strings.Repeat("a", MaxSubjectToken+1)})
	if !errors.Is(err, ErrInvalidRequest) || v.count() != 0 {
		t.Errorf("err = %v after %d verifier calls, want ErrInvalidRequest before any", err, v.count())
	}
	if _, err := f.minter.Mint(ctx, MintRequest{SubjectToken: strings.Repeat("a", MaxSubjectToken)}); err != nil {
		t.Errorf("a subject token of the most bytes: %v", err)
	}
}

func TestResignSubjectAndActor(t *testing.T) {
	gw := Consumer{ID: "gw-1"}
	tests := []struct {
		name     string
		consumer Consumer
		audience string
		edit     func(*VerifiedToken)
		sub      string
		act      string // JSON; "" for none
	}{
		{"subject of the token", Consumer{}, "", func(*VerifiedToken) {}, "user-7", ""},
		{"its act passes on", Consumer{}, "",
			func(vt *VerifiedToken) { vt.Actor = rawJSON(`{"sub":"svc-a"}`) },
			"user-7", `{"sub":"svc-a"}`},
		{"consumer acts for the subject", gw, "", func(*VerifiedToken) {},
			"gw-1", `{"sub":"user-7","iss":"https://idp.example"}`},
		{"consumer acts for an actor chain", gw, "",
			func(vt *VerifiedToken) { vt.Actor = rawJSON(`{"sub":"svc-a","act":{"sub":"svc-b"}}`) },
			"gw-1", `{"sub":"user-7","iss":"https://idp.example","act":{"sub":"svc-a","act":{"sub":"svc-b"}}}`},
		{"consumer is the subject", Consumer{ID: "user-7"}, "",
			func(vt *VerifiedToken) { vt.Actor = rawJSON(`{"sub":"svc-a"}`) },
			"user-7", `{"sub":"svc-a"}`},
		{"consumer named by username is the subject", Consumer{Username: "user-7"}, "", func(*VerifiedToken) {},
			"user-7", ""},
		{"subject from another claim", Consumer{}, "",
			func(vt *VerifiedToken) { vt.Subject = "emp-42" },
			"emp-42", `{"sub":"user-7","iss":"https://idp.example"}`},
		{"access token", Consumer{}, "billing", func(*VerifiedToken) {}, "user-7", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, v := newResignFixture(t)
			vt := verifiedFor(f)
			tt.edit(&vt)
			v.answer(vt, nil)

			got := f.mustMint(t, MintRequest{Consumer: tt.consumer, Audience: tt.audience,
				SubjectToken: testSubjectToken})
			f.claimsOf(t, got.Token)
			claims := payloadOf(t, got.Token)
			noRepeatedNames(t, got.Token)
			if claims["sub"] != tt.sub || claims["iss"] != testMintConfig.Issuer {
				t.Errorf("sub %v, iss %v; want %s, %s", claims["sub"], claims["iss"], tt.sub, testMintConfig.Issuer)
			}
			wantConsumer := map[string]any{"id": tt.sub}
			if tt.consumer.Username != "" {
				wantConsumer = map[string]any{"username": tt.consumer.Username}
			}
			if diff := cmp.Diff(wantConsumer, claims["consumer"]); diff != "" {
				t.Errorf("consumer (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(jsonOf(t, tt.act), claims["act"]); diff != "" {
				t.Errorf("act (-want +got):\n%s", diff)
			}
			if tt.audience == "billing" && claims["client_id"] != tt.sub {
				t.Errorf("client_id = %v, want the subject %s", claims["client_id"], tt.sub)
			}
		})
	}
}

func TestResignCarriedClaims(t *testing.T) {
	carried := map[string]json.RawMessage{
		"tenant":    rawJSON(`"acme"`),
		"email":     rawJSON(`"u7@acme.example"`),
		"roles":     rawJSON(`["admin","ops"]`),
		"tier":      rawJSON(`"platinum"`),             // a static claim of orders
		"consumer":  rawJSON(`{"id":"evil"}`),          // reserved by the claim layout
		"client_id": rawJSON(`"evil"`),                 // reserved by at+jwt
		"exp":       rawJSON(`4102444800`),             // registered
		"ISS":       rawJSON(`"https://evil.example"`), // registered, in other case
	}
	mint := func(t *testing.T, audience string, claims map[string]json.RawMessage) (*mintFixture, Minted, error) {
		t.Helper()
		f, v := newResignFixture(t)
		vt := verifiedFor(f)
		vt.Carried = carried
		v.answer(vt, nil)
		got, err := f.minter.Mint(context.Background(), MintRequest{Consumer: Consumer{ID: "gw-1"},
			Audience: audience, Claims: claims, SubjectToken: testSubjectToken})
		return f, got, err
	}

	for _, aud := range []string{"orders", "billing"} {
		t.Run("into "+aud, func(t *testing.T) {
			f, got, err := mint(t, aud, map[string]json.RawMessage{"plan": rawJSON(`"pro"`)})
			if err != nil {
				t.Fatal(err)
			}
			f.claimsOf(t, got.Token)
			claims := payloadOf(t, got.Token)
			noRepeatedNames(t, got.Token)
			want := map[string]any{
				"tenant":   "acme",
				"email":    "u7@acme.example",
				"roles":    []any{"admin", "ops"},
				"plan":     "pro",
				"consumer": map[string]any{"id": "gw-1"},
				"iss":      testMintConfig.Issuer,
			}
			if aud == "orders" {
				want["tier"] = "gold" // the static value wins
			} else {
				want["tier"] = "platinum"
				want["client_id"] = "gw-1"
			}
			for name, w := range want {
				if diff := cmp.Diff(w, claims[name]); diff != "" {
					t.Errorf("claim %s (-want +got):\n%s", name, diff)
				}
			}
			if _, ok := claims["ISS"]; ok {
				t.Error("the carried ISS is in the token")
			}
			if got := lifetime(claims); got != threeProfiles().Audiences[aud].TTL {
				t.Errorf("exp - iat = %v, want the profile's TTL: a carried exp changed it", got)
			}
		})
	}

	for _, name := range []string{"tenant", "TENANT", "Email"} {
		t.Run("request sets carried "+name, func(t *testing.T) {
			_, _, err := mint(t, "orders", map[string]json.RawMessage{name: rawJSON(`"other"`)})
			if !errors.Is(err, ErrReservedClaim) {
				t.Errorf("err = %v, want ErrReservedClaim", err)
			}
		})
	}
}

func TestResignCarriedClaimMatchingStaticInOtherCase(t *testing.T) {
	f, v := newResignFixture(t) // orders has static tier gold
	vt := verifiedFor(f)
	vt.Carried = map[string]json.RawMessage{"TIER": rawJSON(`"platinum"`)}
	v.answer(vt, nil)

	got := f.mustMint(t, MintRequest{Consumer: Consumer{ID: "gw-1"}, Audience: "orders",
		SubjectToken: testSubjectToken})
	noRepeatedNames(t, got.Token)
	var decoded struct {
		Tier string `json:"tier"`
	}
	parts := strings.Split(got.Token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Tier != "gold" {
		t.Errorf("a verifier decoding with encoding/json reads tier %q, want the static gold", decoded.Tier)
	}
}

func TestResignExpiry(t *testing.T) {
	ttl := testMintConfig.TTL // the default profile's
	tests := []struct {
		name    string
		left    time.Duration // the subject token's time left
		wantExp time.Duration // from now; 0 when refused
	}{
		{"outlives the TTL", time.Hour, ttl},
		{"expires at the TTL", ttl, ttl},
		{"expires sooner", 2 * time.Minute, 2 * time.Minute},
		{"expires within the refresh margin", 20 * time.Second, 20 * time.Second},
		{"one second left", time.Second, time.Second},
		{"expires now", 0, 0},
		{"expired", -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, v := newResignFixture(t)
			vt := verifiedFor(f)
			vt.ExpiresAt = f.clk.Now().Add(tt.left)
			v.answer(vt, nil)

			got, err := f.minter.Mint(context.Background(), MintRequest{SubjectToken: testSubjectToken})
			if tt.wantExp == 0 {
				if !errors.Is(err, ErrSubjectToken) || got.Token != "" {
					t.Errorf("Mint = %q, %v; want no token and ErrSubjectToken", got.Token, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f.claimsOf(t, got.Token) // it verifies
			claims := payloadOf(t, got.Token)
			want := f.clk.Now().Add(tt.wantExp)
			if claims["exp"] != float64(want.Unix()) || !got.ExpiresAt.Equal(want) ||
				got.ExpiresIn != int64(tt.wantExp/time.Second) {
				t.Errorf("exp %v, ExpiresAt %v, ExpiresIn %d; want %d, %v, %d", claims["exp"], got.ExpiresAt,
					got.ExpiresIn, want.Unix(), want, int64(tt.wantExp/time.Second))
			}
		})
	}
}

func TestResignCaching(t *testing.T) {
	f, v := newResignFixture(t)
	ctx := context.Background()
	req := MintRequest{Audience: "orders", SubjectToken: testSubjectToken}

	first := f.mustMint(t, req)
	again := f.mustMint(t, req)
	if again.Token != first.Token {
		t.Error("the same subject token twice got two tokens")
	}
	if v.count() != 2 {
		t.Errorf("verifier called %d times, want once per request, cached or not", v.count())
	}

	other := verifiedFor(f)
	other.Identity = identityOf(testSubjectToken + "x")
	v.answer(other, nil)
	if next := f.mustMint(t, req); next.Token == first.Token {
		t.Error("another subject token of the same subject got the cached token")
	}

	// A refused subject token gets nothing, though a token for it is cached.
	v.answer(VerifiedToken{}, fmt.Errorf("%w: subject token: expired", ErrSubjectToken))
	if got, err := f.minter.Mint(ctx, req); !errors.Is(err, ErrSubjectToken) {
		t.Errorf("refused subject token: Mint = %q, %v; want ErrSubjectToken", got.Token, err)
	}

	// The consumer's own token is not the re-signed one, either way round.
	v.answer(verifiedFor(f), nil)
	plain := f.mustMint(t, MintRequest{Consumer: Consumer{ID: "user-7"}, Audience: "orders"})
	if plain.Token == first.Token {
		t.Error("a request without the subject token got the re-signed token")
	}
	resigned := f.mustMint(t, MintRequest{Consumer: Consumer{ID: "user-7"}, Audience: "orders",
		SubjectToken: testSubjectToken})
	if resigned.Token == plain.Token {
		t.Error("a re-signing request got the consumer's own cached token")
	}
}

func TestResignCachedUntilMarginOfShorterExp(t *testing.T) {
	f, v := newResignFixture(t)
	vt := verifiedFor(f)
	vt.ExpiresAt = f.clk.Now().Add(2 * time.Minute) // before the 5m TTL
	v.answer(vt, nil)
	req := MintRequest{SubjectToken: testSubjectToken}
	margin := testMintConfig.RefreshMargin

	first := f.mustMint(t, req)
	f.clk.Advance(2*time.Minute - margin - time.Second)
	if again := f.mustMint(t, req); again.Token != first.Token {
		t.Error("a re-signed token with more than the margin left was not handed out again")
	}
	f.clk.Advance(time.Second)
	fresh := f.mustMint(t, req)
	if fresh.Token == first.Token {
		t.Error("a re-signed token with only the margin left was handed out")
	}
	if !fresh.ExpiresAt.Equal(vt.ExpiresAt) {
		t.Errorf("the new token expires at %v, want the subject token's %v", fresh.ExpiresAt, vt.ExpiresAt)
	}
}
