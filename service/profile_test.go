package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/store"
)

// rawJSON is a claim value.
func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }

// baseProfile is a valid profile that each case changes one field of.
func baseProfile() AudienceProfile {
	return AudienceProfile{
		TTL:           5 * time.Minute,
		RefreshMargin: 30 * time.Second,
		Claims:        ProfileStandard,
		Type:          TypeJWT,
	}
}

// headerOf decodes a token's protected header.
func headerOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	head, _, ok := strings.Cut(tok, ".")
	if !ok {
		t.Fatalf("token %q has no header", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// memberNames returns the top-level claim names of a token in the order
// they are sent, repeats included, which decoding into a map would hide.
func memberNames(t *testing.T, tok string) []string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var names []string
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// noRepeatedNames fails when a claim name occurs twice in tok, ignoring
// case: a verifier decoding the way encoding/json does lets the later one
// win.
func noRepeatedNames(t *testing.T, tok string) {
	t.Helper()
	seen := map[string]string{}
	for _, n := range memberNames(t, tok) {
		if first, ok := seen[strings.ToLower(n)]; ok {
			t.Errorf("claim %q repeats as %q in one token", first, n)
		}
		seen[strings.ToLower(n)] = n
	}
}

// lifetime returns a token's exp − iat.
func lifetime(claims map[string]any) time.Duration {
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	return time.Duration(exp-iat) * time.Second
}

// fieldOf returns the field an error of Check names: the text before the
// first colon or bracket.
func fieldOf(err error) string {
	s := err.Error()
	if i := strings.IndexAny(s, ":["); i >= 0 {
		return s[:i]
	}
	return s
}

// mustSetProfiles sets p on the fixture's minter.
func (f *mintFixture) mustSetProfiles(t *testing.T, p Profiles) {
	t.Helper()
	if err := f.minter.SetProfiles(p); err != nil {
		t.Fatalf("SetProfiles: %v", err)
	}
}

// mustMint mints r, failing the test on error.
func (f *mintFixture) mustMint(t *testing.T, r MintRequest) Minted {
	t.Helper()
	got, err := f.minter.Mint(context.Background(), r)
	if err != nil {
		t.Fatalf("Mint(%+v): %v", r, err)
	}
	return got
}

func TestAudienceProfileCheck(t *testing.T) {
	static := func(name, value string) func(*AudienceProfile) {
		return func(p *AudienceProfile) {
			p.StaticClaims = map[string]json.RawMessage{name: rawJSON(value)}
		}
	}
	tests := []struct {
		name  string
		edit  func(*AudienceProfile)
		field string // "" for a valid profile
	}{
		{"valid", func(*AudienceProfile) {}, ""},
		{"zero margin", func(p *AudienceProfile) { p.RefreshMargin = 0 }, ""},
		{"kong-headers JWT", func(p *AudienceProfile) { p.Claims = ProfileKongHeaders }, ""},
		{"at+jwt", func(p *AudienceProfile) { p.Type = TypeAccessToken }, ""},
		{"bound txntoken+jwt", func(p *AudienceProfile) { p.Type = TypeTxnToken; p.Binding = true }, ""},
		{"static claims", func(p *AudienceProfile) {
			p.StaticClaims = map[string]json.RawMessage{"tier": rawJSON(`"gold"`), "org": rawJSON(`{"id": 7}`)}
		}, ""},
		{"static client_id of a plain JWT", static("client_id", `"gw"`), ""},
		{"static claim 8 levels deep", static("deep", `[[[[[[[[1]]]]]]]]`), ""},
		{"allowed claims", func(p *AudienceProfile) { p.AllowedClaims = []string{"tenant", "plan"} }, ""},
		{"no allowed claims", func(p *AudienceProfile) { p.AllowedClaims = []string{} }, ""},

		{"zero ttl", func(p *AudienceProfile) { p.TTL = 0; p.RefreshMargin = 0 }, "token_ttl"},
		{"negative ttl", func(p *AudienceProfile) { p.TTL = -time.Minute }, "token_ttl"},
		{"negative margin", func(p *AudienceProfile) { p.RefreshMargin = -time.Second }, "refresh_margin"},
		{"margin equal to ttl", func(p *AudienceProfile) { p.RefreshMargin = p.TTL }, "refresh_margin"},
		{"margin over ttl", func(p *AudienceProfile) { p.RefreshMargin = p.TTL + time.Second }, "refresh_margin"},
		{"unknown claims profile", func(p *AudienceProfile) { p.Claims = "kong" }, "claims_profile"},
		{"empty claims profile", func(p *AudienceProfile) { p.Claims = "" }, "claims_profile"},
		{"unknown typ", func(p *AudienceProfile) { p.Type = "id+jwt" }, "typ"},
		{"typ in other case", func(p *AudienceProfile) { p.Type = "jwt" }, "typ"},
		{"empty typ", func(p *AudienceProfile) { p.Type = "" }, "typ"},
		{"at+jwt with kong-headers", func(p *AudienceProfile) {
			p.Type, p.Claims = TypeAccessToken, ProfileKongHeaders
		}, "typ"},
		{"txntoken+jwt with kong-headers", func(p *AudienceProfile) {
			p.Type, p.Claims = TypeTxnToken, ProfileKongHeaders
		}, "typ"},
		{"binding with kong-headers", func(p *AudienceProfile) {
			p.Binding, p.Claims = true, ProfileKongHeaders
		}, "binding"},
		{"static claim with empty name", static("", `1`), "static_claims"},
		{"static claim twice in two cases", func(p *AudienceProfile) {
			p.StaticClaims = map[string]json.RawMessage{"tier": rawJSON(`"gold"`), "TIER": rawJSON(`"platinum"`)}
		}, "static_claims"},
		{"static claim with control character", static("a\x01", `1`), "static_claims"},
		{"static claim name too long", static(strings.Repeat("n", MaxClaimNameLength+1), `1`), "static_claims"},
		{"static iss", static("iss", `"https://evil.example"`), "static_claims"},
		{"static ISS", static("ISS", `"https://evil.example"`), "static_claims"},
		{"static act", static("act", `{"sub":"x"}`), "static_claims"},
		{"static consumer", static("consumer", `{}`), "static_claims"},
		{"static client_id of at+jwt", func(p *AudienceProfile) {
			p.Type = TypeAccessToken
			static("client_id", `"gw"`)(p)
		}, "static_claims"},
		{"static txn of txntoken+jwt", func(p *AudienceProfile) {
			p.Type = TypeTxnToken
			static("TXN", `"t"`)(p)
		}, "static_claims"},
		{"static request of a bound profile", func(p *AudienceProfile) {
			p.Binding = true
			static("request", `{}`)(p)
		}, "static_claims"},
		{"static kong header", func(p *AudienceProfile) {
			p.Claims = ProfileKongHeaders
			static("x-consumer-id", `"x"`)(p)
		}, "static_claims"},
		{"static claim not JSON", static("tier", `gold`), "static_claims"},
		{"static claim without value", static("tier", ``), "static_claims"},
		{"static claim too deep", static("deep", `[[[[[[[[[1]]]]]]]]]`), "static_claims"},
		{"static claim too large", static("big", `"`+strings.Repeat("x", MaxClaimValueSize)+`"`), "static_claims"},
		{"allowed claim with empty name", func(p *AudienceProfile) {
			p.AllowedClaims = []string{"tenant", ""}
		}, "allowed_claims"},
		{"allowed sub", func(p *AudienceProfile) { p.AllowedClaims = []string{"sub"} }, "allowed_claims"},
		{"allowed Exp", func(p *AudienceProfile) { p.AllowedClaims = []string{"Exp"} }, "allowed_claims"},
		{"allowed client_id of at+jwt", func(p *AudienceProfile) {
			p.Type, p.AllowedClaims = TypeAccessToken, []string{"client_id"}
		}, "allowed_claims"},
		{"allowed request of a bound profile", func(p *AudienceProfile) {
			p.Binding, p.AllowedClaims = true, []string{"request"}
		}, "allowed_claims"},
		{"allowed static claim", func(p *AudienceProfile) {
			static("tier", `"gold"`)(p)
			p.AllowedClaims = []string{"tenant", "tier"}
		}, "allowed_claims"},
		{"allowed static claim in other case", func(p *AudienceProfile) {
			static("tier", `"gold"`)(p)
			p.AllowedClaims = []string{"Tier"}
		}, "allowed_claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := baseProfile()
			tt.edit(&p)
			err := p.Check()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Check() = %v, want nil", err)
			case tt.field == "":
				return
			case err == nil:
				t.Fatalf("Check() = nil, want an error naming %s", tt.field)
			}
			if got := fieldOf(err); got != tt.field {
				t.Errorf("Check() = %q, names %q, want %q", err, got, tt.field)
			}
		})
	}
}

func TestProfilesCheckNamesAudience(t *testing.T) {
	bad := baseProfile()
	bad.TTL = 0
	badTyp := baseProfile()
	badTyp.Type = "jose"
	tests := []struct {
		name   string
		p      Profiles
		prefix string // "" for valid profiles
	}{
		{"valid", Profiles{Default: baseProfile(), Audiences: map[string]AudienceProfile{"orders": baseProfile()}}, ""},
		{"no audiences", Profiles{Default: baseProfile()}, ""},
		{"bad audience", Profiles{Default: baseProfile(),
			Audiences: map[string]AudienceProfile{"orders": baseProfile(), "billing": bad}}, "profiles.billing.token_ttl: "},
		{"bad typ", Profiles{Default: baseProfile(),
			Audiences: map[string]AudienceProfile{"https://api.example/v1": badTyp}}, "profiles.https://api.example/v1.typ: "},
		{"first bad audience in order", Profiles{Default: baseProfile(),
			Audiences: map[string]AudienceProfile{"b": badTyp, "a": bad, "c": bad}}, "profiles.a.token_ttl: "},
		{"bad default", Profiles{Default: bad,
			Audiences: map[string]AudienceProfile{"orders": baseProfile()}}, "default profile: token_ttl: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check()
			if tt.prefix == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Errorf("Check() = %v, want it to start with %q", err, tt.prefix)
			}
		})
	}

	for _, aud := range []string{"", "a\nb", strings.Repeat("a", MaxTextLength+1)} {
		p := Profiles{Default: baseProfile(), Audiences: map[string]AudienceProfile{aud: baseProfile()}}
		if err := p.Check(); err == nil || !strings.Contains(err.Error(), "audience") {
			t.Errorf("audience %q: Check() = %v, want an error naming the audience", aud, err)
		}
	}
}

func TestProfilesMaxTTL(t *testing.T) {
	long, short := baseProfile(), baseProfile()
	long.TTL, short.TTL = time.Hour, time.Minute
	tests := []struct {
		name string
		p    Profiles
		want time.Duration
	}{
		{"default only", Profiles{Default: baseProfile()}, 5 * time.Minute},
		{"an audience is longer", Profiles{Default: baseProfile(),
			Audiences: map[string]AudienceProfile{"a": short, "b": long}}, time.Hour},
		{"the default is longer", Profiles{Default: long,
			Audiences: map[string]AudienceProfile{"a": short}}, time.Hour},
	}
	for _, tt := range tests {
		if got := tt.p.MaxTTL(); got != tt.want {
			t.Errorf("%s: MaxTTL() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// threeProfiles has an audience of each token type, each with its own
// lifetime and static claims.
func threeProfiles() Profiles {
	def := baseProfile()
	def.StaticClaims = map[string]json.RawMessage{"env": rawJSON(`"default"`)}
	return Profiles{
		Default: def,
		Audiences: map[string]AudienceProfile{
			"orders": {TTL: 10 * time.Minute, RefreshMargin: time.Minute, Claims: ProfileStandard, Type: TypeJWT,
				StaticClaims: map[string]json.RawMessage{"tier": rawJSON(`"gold"`)}},
			"billing": {TTL: 15 * time.Minute, RefreshMargin: time.Minute, Claims: ProfileStandard, Type: TypeAccessToken,
				StaticClaims: map[string]json.RawMessage{"dept": rawJSON(`{ "id": 7 }`)}},
			"ledger": {TTL: 2 * time.Minute, RefreshMargin: 10 * time.Second, Claims: ProfileStandard, Type: TypeTxnToken,
				StaticClaims: map[string]json.RawMessage{"purpose": rawJSON(`"settle"`), "tier": rawJSON(`"bronze"`)}},
		},
	}
}

func TestMintPerAudienceProfiles(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, threeProfiles())
	staticNames := []string{"env", "tier", "dept", "purpose"}

	tests := []struct {
		audience string
		typ      string
		ttl      time.Duration
		static   map[string]any
	}{
		{"orders", TypeJWT, 10 * time.Minute, map[string]any{"tier": "gold"}},
		{"billing", TypeAccessToken, 15 * time.Minute, map[string]any{"dept": map[string]any{"id": float64(7)}}},
		{"ledger", TypeTxnToken, 2 * time.Minute, map[string]any{"purpose": "settle", "tier": "bronze"}},
		{"unlisted", TypeJWT, 5 * time.Minute, map[string]any{"env": "default"}},
		{"", TypeJWT, 5 * time.Minute, map[string]any{"env": "default"}}, // the default audience
	}
	for _, tt := range tests {
		name := tt.audience
		if name == "" {
			name = "default audience"
		}
		t.Run(name, func(t *testing.T) {
			for _, consumer := range []string{"alice", "bob"} {
				got := f.mustMint(t, MintRequest{
					Consumer:   Consumer{ID: consumer},
					Credential: &Credential{ID: "9b7", Identifier: consumer + "-key"},
					Audience:   tt.audience,
					Claims:     map[string]json.RawMessage{"tenant": rawJSON(`"acme"`)},
				})
				if h := headerOf(t, got.Token); h["typ"] != tt.typ || h["kid"] != f.keys.ActiveKID() {
					t.Errorf("header = %v, want typ %s and kid %s", h, tt.typ, f.keys.ActiveKID())
				}
				f.claimsOf(t, got.Token) // it verifies
				claims := payloadOf(t, got.Token)
				noRepeatedNames(t, got.Token)

				if lifetime(claims) != tt.ttl || got.ExpiresIn != int64(tt.ttl/time.Second) {
					t.Errorf("exp - iat = %v, ExpiresIn = %d, want %v", lifetime(claims), got.ExpiresIn, tt.ttl)
				}
				wantAud := tt.audience
				if wantAud == "" {
					wantAud = testMintConfig.DefaultAudience
				}
				if claims["aud"] != wantAud || claims["sub"] != consumer || claims["tenant"] != "acme" {
					t.Errorf("aud, sub, tenant = %v, %v, %v, want %s, %s, acme",
						claims["aud"], claims["sub"], claims["tenant"], wantAud, consumer)
				}
				for _, name := range staticNames {
					if diff := cmp.Diff(tt.static[name], claims[name]); diff != "" {
						t.Errorf("static claim %s (-want +got):\n%s", name, diff)
					}
				}

				clientID, hasClientID := claims["client_id"]
				if tt.typ == TypeAccessToken && clientID != consumer+"-key" {
					t.Errorf("client_id = %v, want the credential identifier %s-key", clientID, consumer)
				}
				if tt.typ != TypeAccessToken && hasClientID {
					t.Errorf("a %s token has client_id %v", tt.typ, clientID)
				}
				txn, hasTxn := claims["txn"]
				if tt.typ == TypeTxnToken && (txn == nil || txn != claims["jti"]) {
					t.Errorf("txn = %v, want the jti %v", txn, claims["jti"])
				}
				if tt.typ != TypeTxnToken && hasTxn {
					t.Errorf("a %s token has txn %v", tt.typ, txn)
				}
			}
		})
	}
}

func TestMintAccessTokenProfileClientID(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	at := baseProfile()
	at.Type = TypeAccessToken
	f.mustSetProfiles(t, Profiles{Default: at})

	tests := []struct {
		name       string
		consumer   Consumer
		credential *Credential
		want       string
	}{
		{"credential identifier", Consumer{ID: "c1"}, &Credential{ID: "9b7", Identifier: "key-1"}, "key-1"},
		{"credential id", Consumer{ID: "c1"}, &Credential{ID: "9b7"}, "9b7"},
		{"empty credential", Consumer{ID: "c1"}, &Credential{}, "c1"},
		{"no credential", Consumer{Username: "alice", CustomID: "c-42"}, nil, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.mustMint(t, MintRequest{Consumer: tt.consumer, Credential: tt.credential})
			if c := payloadOf(t, got.Token)["client_id"]; c != tt.want {
				t.Errorf("client_id = %v, want %s", c, tt.want)
			}
		})
	}
}

func TestMintDefaultAudienceProfile(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	p := threeProfiles()
	own := baseProfile()
	own.TTL, own.Type = time.Minute, TypeAccessToken
	p.Audiences[testMintConfig.DefaultAudience] = own
	f.mustSetProfiles(t, p)

	got := f.mustMint(t, MintRequest{Consumer: Consumer{ID: "alice"}})
	claims := payloadOf(t, got.Token)
	if h := headerOf(t, got.Token); h["typ"] != TypeAccessToken || lifetime(claims) != time.Minute {
		t.Errorf("typ %v, lifetime %v; want the default audience's profile: at+jwt, 1m", h["typ"], lifetime(claims))
	}
	if claims["aud"] != testMintConfig.DefaultAudience || claims["env"] != nil {
		t.Errorf("aud %v, env %v; want %s and no default-profile claim", claims["aud"], claims["env"],
			testMintConfig.DefaultAudience)
	}
}

func TestMintDenyUnknownAudience(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	p := threeProfiles()
	p.DenyUnknown = true
	f.mustSetProfiles(t, p)
	ctx := context.Background()

	for _, aud := range []string{"unlisted", "Orders", ""} {
		_, err := f.minter.Mint(ctx, MintRequest{Consumer: Consumer{ID: "alice"}, Audience: aud})
		if !errors.Is(err, ErrUnknownAudience) {
			t.Errorf("audience %q: err = %v, want ErrUnknownAudience", aud, err)
		}
	}
	got := f.mustMint(t, MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "orders"})
	if c := payloadOf(t, got.Token); c["tier"] != "gold" {
		t.Errorf("listed audience: tier = %v, want gold", c["tier"])
	}

	// The same profiles without DenyUnknown serve the unlisted audience.
	p.DenyUnknown = false
	f.mustSetProfiles(t, p)
	got = f.mustMint(t, MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "unlisted"})
	if c := payloadOf(t, got.Token); c["env"] != "default" {
		t.Errorf("unlisted audience: env = %v, want the default profile's", c["env"])
	}
}

func TestMintProfileRefreshMargin(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, threeProfiles())
	ledger := MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "ledger"}  // 2m, margin 10s
	other := MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "unlisted"} // 5m, margin 30s

	first, firstOther := f.mustMint(t, ledger), f.mustMint(t, other)
	if want := f.clk.Now().Add(2 * time.Minute); !first.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", first.ExpiresAt, want)
	}

	f.clk.Advance(2*time.Minute - 10*time.Second - time.Second)
	if again := f.mustMint(t, ledger); again.Token != first.Token || again.ExpiresIn != 11 {
		t.Errorf("with 11s left: same token %v, ExpiresIn %d; want the cached token, 11",
			again.Token == first.Token, again.ExpiresIn)
	}
	f.clk.Advance(time.Second)
	if fresh := f.mustMint(t, ledger); fresh.Token == first.Token {
		t.Error("a token with only the ledger margin left was handed out")
	}
	if again := f.mustMint(t, other); again.Token != firstOther.Token {
		t.Error("the default profile's token was refreshed on the ledger's margin")
	}
}

func TestMintAllowedClaims(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		claims  map[string]json.RawMessage
		want    error
	}{
		{"any name", nil, map[string]json.RawMessage{"tenant": rawJSON(`"acme"`), "plan": rawJSON(`"pro"`)}, nil},
		{"none and none asked", []string{}, nil, nil},
		{"none", []string{}, map[string]json.RawMessage{"tenant": rawJSON(`"acme"`)}, ErrClaimNotAllowed},
		{"listed", []string{"tenant", "plan"}, map[string]json.RawMessage{"tenant": rawJSON(`"acme"`)}, nil},
		{"one not listed", []string{"tenant"},
			map[string]json.RawMessage{"tenant": rawJSON(`"acme"`), "plan": rawJSON(`"pro"`)}, ErrClaimNotAllowed},
		{"listed in other case", []string{"tenant"}, map[string]json.RawMessage{"Tenant": rawJSON(`"acme"`)}, ErrClaimNotAllowed},
		{"reserved", []string{"tenant"}, map[string]json.RawMessage{"sub": rawJSON(`"x"`)}, ErrReservedClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMintFixture(t, testMintConfig)
			api := baseProfile()
			api.AllowedClaims = tt.allowed
			f.mustSetProfiles(t, Profiles{Default: baseProfile(), Audiences: map[string]AudienceProfile{"api": api}})

			got, err := f.minter.Mint(context.Background(),
				MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "api", Claims: tt.claims})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			claims := payloadOf(t, got.Token)
			for name, value := range tt.claims {
				if v, _ := json.Marshal(claims[name]); string(v) != string(value) {
					t.Errorf("claim %s = %s, want %s", name, v, value)
				}
			}
		})
	}

	// The allow-list is the audience's own: another audience takes any claim.
	f := newMintFixture(t, testMintConfig)
	api := baseProfile()
	api.AllowedClaims = []string{}
	f.mustSetProfiles(t, Profiles{Default: baseProfile(), Audiences: map[string]AudienceProfile{"api": api}})
	f.mustMint(t, MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "other",
		Claims: map[string]json.RawMessage{"tenant": rawJSON(`"acme"`)}})
}

func TestMintStaticClaimNotOverridable(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	p := threeProfiles() // orders: tier gold; default: env default
	f.mustSetProfiles(t, p)

	tests := []struct {
		name, audience, claim string
	}{
		{"static claim", "orders", "tier"},
		{"static claim in other case", "orders", "TIER"},
		{"static claim of the default profile", "unlisted", "env"},
		{"static claim of the default profile in other case", "unlisted", "Env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.minter.Mint(context.Background(), MintRequest{
				Consumer: Consumer{ID: "alice"}, Audience: tt.audience,
				Claims: map[string]json.RawMessage{tt.claim: rawJSON(`"platinum"`)},
			})
			if !errors.Is(err, ErrReservedClaim) {
				t.Errorf("request setting %q: err = %v, want ErrReservedClaim", tt.claim, err)
			}
			if err == nil {
				t.Logf("token claims: %v", memberNames(t, got.Token))
			}
		})
	}

	// A claim of another audience's static set is the request's to set.
	got := f.mustMint(t, MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "billing",
		Claims: map[string]json.RawMessage{"tier": rawJSON(`"platinum"`)}})
	if tier := payloadOf(t, got.Token)["tier"]; tier != "platinum" {
		t.Errorf("billing tier = %v, want platinum", tier)
	}
}

func TestSetProfilesChangesTokens(t *testing.T) {
	withOrders := func(edit func(*AudienceProfile)) Profiles {
		p := threeProfiles()
		orders := p.Audiences["orders"]
		orders.StaticClaims = map[string]json.RawMessage{"tier": rawJSON(`"gold"`)}
		edit(&orders)
		p.Audiences["orders"] = orders
		return p
	}
	tests := []struct {
		name  string
		after Profiles
		check func(t *testing.T, header, claims map[string]any)
	}{
		{"static claim value", withOrders(func(p *AudienceProfile) {
			p.StaticClaims = map[string]json.RawMessage{"tier": rawJSON(`"platinum"`)}
		}), func(t *testing.T, _, c map[string]any) {
			if c["tier"] != "platinum" {
				t.Errorf("tier = %v, want platinum", c["tier"])
			}
		}},
		{"new static claim", withOrders(func(p *AudienceProfile) {
			p.StaticClaims["region"] = rawJSON(`"eu"`)
		}), func(t *testing.T, _, c map[string]any) {
			if c["region"] != "eu" || c["tier"] != "gold" {
				t.Errorf("region, tier = %v, %v, want eu, gold", c["region"], c["tier"])
			}
		}},
		{"ttl", withOrders(func(p *AudienceProfile) { p.TTL = 20 * time.Minute }),
			func(t *testing.T, _, c map[string]any) {
				if lifetime(c) != 20*time.Minute {
					t.Errorf("lifetime = %v, want 20m", lifetime(c))
				}
			}},
		{"typ", withOrders(func(p *AudienceProfile) { p.Type = TypeTxnToken }),
			func(t *testing.T, h, c map[string]any) {
				if h["typ"] != TypeTxnToken || c["txn"] != c["jti"] {
					t.Errorf("typ %v, txn %v; want txntoken+jwt with txn = jti", h["typ"], c["txn"])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMintFixture(t, testMintConfig)
			req := MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "orders"}
			f.mustSetProfiles(t, withOrders(func(*AudienceProfile) {}))
			before := f.mustMint(t, req)
			if again := f.mustMint(t, req); again.Token != before.Token {
				t.Fatal("the same request minted twice was not served from the cache")
			}

			f.mustSetProfiles(t, tt.after)
			after := f.mustMint(t, req)
			if after.Token == before.Token {
				t.Fatal("after the reload the token of the old profile was handed out")
			}
			f.claimsOf(t, after.Token)
			tt.check(t, headerOf(t, after.Token), payloadOf(t, after.Token))
		})
	}
}

func TestSetProfilesInvalidKeepsOld(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, threeProfiles())
	req := MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "orders"}
	before := f.mustMint(t, req)

	bad := threeProfiles()
	orders := bad.Audiences["orders"]
	orders.StaticClaims = map[string]json.RawMessage{"tier": rawJSON(`"platinum"`)}
	bad.Audiences["orders"] = orders
	ledger := bad.Audiences["ledger"]
	ledger.RefreshMargin = ledger.TTL
	bad.Audiences["ledger"] = ledger
	bad.DenyUnknown = true

	err := f.minter.SetProfiles(bad)
	if err == nil || !strings.HasPrefix(err.Error(), "profiles.ledger.refresh_margin: ") {
		t.Fatalf("SetProfiles with a bad ledger profile: err = %v, want it named", err)
	}

	after := f.mustMint(t, req)
	if after.Token != before.Token || payloadOf(t, after.Token)["tier"] != "gold" {
		t.Error("a refused reload changed the orders profile")
	}
	if _, err := f.minter.Mint(context.Background(),
		MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "unlisted"}); err != nil {
		t.Errorf("unlisted audience after a refused reload with deny_unknown: %v", err)
	}
}

func TestSetProfilesUnderLoad(t *testing.T) {
	const minters = 8
	f := newMintFixture(t, testMintConfig)

	// Two profile sets that tell their tokens apart by every field.
	set := func(tier string, ttl time.Duration, typ string) Profiles {
		p := AudienceProfile{TTL: ttl, RefreshMargin: 30 * time.Second, Claims: ProfileStandard, Type: typ,
			StaticClaims: map[string]json.RawMessage{"tier": rawJSON(fmt.Sprintf("%q", tier))}}
		return Profiles{Default: p, Audiences: map[string]AudienceProfile{"orders": p}}
	}
	sets := []Profiles{set("a", 5*time.Minute, TypeJWT), set("b", 10*time.Minute, TypeAccessToken)}
	want := map[string]struct {
		ttl time.Duration
		typ string
	}{"a": {5 * time.Minute, TypeJWT}, "b": {10 * time.Minute, TypeAccessToken}}
	f.mustSetProfiles(t, sets[0])

	var (
		done   atomic.Bool
		mints  atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
		tokens = make([]map[string]bool, minters)
	)
	for g := range minters {
		tokens[g] = map[string]bool{}
		wg.Go(func() {
			for i := 0; !done.Load(); i++ {
				r := MintRequest{Consumer: Consumer{ID: fmt.Sprintf("c%d", i%4)}}
				if i%2 == 0 {
					r.Audience = "orders"
				}
				if i%20 == 0 { // a new claim value: a miss that signs
					r.Claims = map[string]json.RawMessage{"n": rawJSON(fmt.Sprint(g*1_000_000 + i))}
				}
				got, err := f.minter.Mint(context.Background(), r)
				if err != nil {
					failed.Add(1)
					t.Errorf("Mint: %v", err)
					return
				}
				tokens[g][got.Token] = true
				mints.Add(1)
			}
		})
	}

	// Each swap waits until a mint began after it: with one mint in flight
	// per goroutine, minters+1 more completions prove one.
	for i := range 200 {
		f.mustSetProfiles(t, sets[(i+1)%2])
		start := mints.Load()
		for mints.Load() < start+minters+1 && failed.Load() == 0 {
			runtime.Gosched()
		}
	}
	done.Store(true)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d mints failed", failed.Load())
	}

	seen := map[string]int{}
	for _, m := range tokens {
		for tok := range m {
			f.claimsOf(t, tok) // it verifies
			claims := payloadOf(t, tok)
			tier, _ := claims["tier"].(string)
			w, ok := want[tier]
			typ := headerOf(t, tok)["typ"]
			switch {
			case !ok:
				t.Fatalf("a token has tier %v, of neither profile set", claims["tier"])
			case lifetime(claims) != w.ttl || typ != w.typ:
				t.Fatalf("a token of tier %s has lifetime %v and typ %v, want %v and %s",
					tier, lifetime(claims), typ, w.ttl, w.typ)
			case (typ == TypeAccessToken) != (claims["client_id"] != nil):
				t.Fatalf("a %v token has client_id %v", typ, claims["client_id"])
			}
			seen[tier]++
		}
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("tokens per profile set = %v, want some of each", seen)
	}
	t.Logf("%d mints, %d distinct tokens %v", mints.Load(), seen["a"]+seen["b"], seen)
}

// boundProfiles has a bound audience "payments", a bound txntoken+jwt
// audience "transfers" and an unbound "orders".
func boundProfiles() Profiles {
	p := threeProfiles()
	payments := baseProfile()
	payments.Binding = true
	transfers := payments
	transfers.Type = TypeTxnToken
	p.Audiences["payments"] = payments
	p.Audiences["transfers"] = transfers
	return p
}

// bodyWithURLDigest returns a body whose SHA-256 differs in base64 and
// base64url, so that a test can tell the two encodings apart.
func bodyWithURLDigest(t *testing.T) ([]byte, [sha256.Size]byte) {
	t.Helper()
	for i := range 1000 {
		body := fmt.Appendf(nil, `{"amount":%d}`, i)
		sum := sha256.Sum256(body)
		if base64.StdEncoding.EncodeToString(sum[:]) != base64.URLEncoding.EncodeToString(sum[:]) {
			return body, sum
		}
	}
	t.Fatal("no body found")
	return nil, [sha256.Size]byte{}
}

// upstreamAccepts checks a bound token's request claim against the request
// an upstream received, as the upstream would.
func upstreamAccepts(claims map[string]any, method, path string, body []byte) bool {
	bound, _ := claims["request"].(map[string]any)
	sum := sha256.Sum256(body)
	return bound != nil && bound["method"] == method && bound["path"] == path &&
		bound["body_sha256"] == base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestMintBoundRequestDigestForms(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, boundProfiles())
	body, sum := bodyWithURLDigest(t)
	want := base64.RawURLEncoding.EncodeToString(sum[:])

	forms := map[string]string{
		"hex":              hex.EncodeToString(sum[:]),
		"hex upper case":   strings.ToUpper(hex.EncodeToString(sum[:])),
		"base64url":        want,
		"base64url padded": base64.URLEncoding.EncodeToString(sum[:]),
		"base64":           base64.RawStdEncoding.EncodeToString(sum[:]),
		"base64 padded":    base64.StdEncoding.EncodeToString(sum[:]),
	}
	for name, digest := range forms {
		t.Run(name, func(t *testing.T) {
			got := f.mustMint(t, MintRequest{
				Consumer: Consumer{ID: "alice"}, Audience: "payments",
				Request: &BoundRequest{Method: "POST", Path: "/orders?dry_run=1", BodySHA256: digest},
			})
			f.claimsOf(t, got.Token)
			claims := payloadOf(t, got.Token)
			wantReq := map[string]any{"method": "POST", "path": "/orders?dry_run=1", "body_sha256": want}
			if diff := cmp.Diff(wantReq, claims["request"]); diff != "" {
				t.Errorf("request claim (-want +got):\n%s", diff)
			}
			if !upstreamAccepts(claims, "POST", "/orders?dry_run=1", body) {
				t.Error("the upstream refuses the request the token is bound to")
			}
		})
	}
}

func TestMintBoundTokenChecksBody(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, boundProfiles())
	bodyA, bodyB := []byte(`{"amount":10}`), []byte(`{"amount":1000}`)
	mint := func(aud string, body []byte) map[string]any {
		sum := sha256.Sum256(body)
		got := f.mustMint(t, MintRequest{
			Consumer: Consumer{ID: "alice"}, Audience: aud,
			Request: &BoundRequest{Method: "POST", Path: "/pay", BodySHA256: hex.EncodeToString(sum[:])},
		})
		return f.claimsOf(t, got.Token)
	}

	for _, aud := range []string{"payments", "transfers"} {
		t.Run(aud, func(t *testing.T) {
			a, b := mint(aud, bodyA), mint(aud, bodyB)
			reqA, _ := a["request"].(map[string]any)
			reqB, _ := b["request"].(map[string]any)
			if reqA == nil || reqB == nil || reqA["body_sha256"] == reqB["body_sha256"] {
				t.Fatalf("request claims %v and %v, want two different digests", a["request"], b["request"])
			}
			checks := []struct {
				name   string
				claims map[string]any
				method string
				body   []byte
				want   bool
			}{
				{"token A, body A", a, "POST", bodyA, true},
				{"token A, body B", a, "POST", bodyB, false},
				{"token B, body B", b, "POST", bodyB, true},
				{"token B, body A", b, "POST", bodyA, false},
				{"token A, body A, other method", a, "PUT", bodyA, false},
			}
			for _, c := range checks {
				if got := upstreamAccepts(c.claims, c.method, "/pay", c.body); got != c.want {
					t.Errorf("%s: upstream accepts = %v, want %v", c.name, got, c.want)
				}
			}
		})
	}
}

func TestMintBoundTokensNotCached(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, boundProfiles())
	sum := sha256.Sum256([]byte("{}"))
	req := func() MintRequest {
		return MintRequest{Consumer: Consumer{ID: "alice"}, Audience: "payments",
			Request: &BoundRequest{Method: "GET", Path: "/balance", BodySHA256: hex.EncodeToString(sum[:])}}
	}

	first, second := f.mustMint(t, req()), f.mustMint(t, req())
	if first.Token == second.Token {
		t.Fatal("two equal bound requests got the same token")
	}
	if a, b := payloadOf(t, first.Token)["jti"], payloadOf(t, second.Token)["jti"]; a == b {
		t.Errorf("two bound tokens share jti %v", a)
	}
	if first.ExpiresIn != 300 || second.ExpiresIn != 300 {
		t.Errorf("ExpiresIn = %d, %d, want a full lifetime each", first.ExpiresIn, second.ExpiresIn)
	}
}

func TestMintBindingRefusals(t *testing.T) {
	f := newMintFixture(t, testMintConfig)
	f.mustSetProfiles(t, boundProfiles())
	sum := sha256.Sum256([]byte("{}"))
	digest := hex.EncodeToString(sum[:])
	short := sha256.Sum256(nil)
	bound := func(method, path, digest string) *BoundRequest {
		return &BoundRequest{Method: method, Path: path, BodySHA256: digest}
	}

	tests := []struct {
		name     string
		audience string
		request  *BoundRequest
		claims   map[string]json.RawMessage
		want     error
	}{
		{"bound", "payments", bound("POST", "/pay", digest), nil, nil},
		{"method of 32 bytes", "payments", bound(strings.Repeat("M", 32), "/pay", digest), nil, nil},
		{"path of the most bytes", "payments", bound("GET", "/"+strings.Repeat("p", MaxPathLength-1), digest), nil, nil},
		{"root path", "payments", bound("GET", "/", digest), nil, nil},

		{"request missing", "payments", nil, nil, ErrInvalidRequest},
		{"request for an unbound audience", "orders", bound("POST", "/pay", digest), nil, ErrInvalidRequest},
		{"request for an unlisted audience", "unlisted", bound("POST", "/pay", digest), nil, ErrInvalidRequest},
		{"request for the default audience", "", bound("POST", "/pay", digest), nil, ErrInvalidRequest},
		{"empty method", "payments", bound("", "/pay", digest), nil, ErrInvalidRequest},
		{"method with a space", "payments", bound("PO ST", "/pay", digest), nil, ErrInvalidRequest},
		{"method with a line break", "payments", bound("GET\r\n", "/pay", digest), nil, ErrInvalidRequest},
		{"method with a slash", "payments", bound("GET/", "/pay", digest), nil, ErrInvalidRequest},
		{"method not ASCII", "payments", bound("GËT", "/pay", digest), nil, ErrInvalidRequest},
		{"method of 33 bytes", "payments", bound(strings.Repeat("M", 33), "/pay", digest), nil, ErrInvalidRequest},
		{"empty path", "payments", bound("GET", "", digest), nil, ErrInvalidRequest},
		{"relative path", "payments", bound("GET", "pay", digest), nil, ErrInvalidRequest},
		{"absolute URL", "payments", bound("GET", "https://api.example/pay", digest), nil, ErrInvalidRequest},
		{"path with a control character", "payments", bound("GET", "/pay\x00", digest), nil, ErrInvalidRequest},
		{"path not UTF-8", "payments", bound("GET", "/pay\xff", digest), nil, ErrInvalidRequest},
		{"path too long", "payments", bound("GET", "/"+strings.Repeat("p", MaxPathLength), digest), nil, ErrInvalidRequest},
		{"no digest", "payments", bound("GET", "/pay", ""), nil, ErrInvalidRequest},
		{"hex of 31 bytes", "payments", bound("GET", "/pay", digest[:62]), nil, ErrInvalidRequest},
		{"hex of 33 bytes", "payments", bound("GET", "/pay", digest+"00"), nil, ErrInvalidRequest},
		{"64 characters not hex", "payments", bound("GET", "/pay", strings.Repeat("z", 64)), nil, ErrInvalidRequest},
		{"base64url of 31 bytes", "payments", bound("GET", "/pay", base64.RawURLEncoding.EncodeToString(short[:31])), nil, ErrInvalidRequest},
		{"base64url of 48 bytes", "payments", bound("GET", "/pay", base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 48))), nil, ErrInvalidRequest},
		{"digest not encoded", "payments", bound("GET", "/pay", "sha256 of the body"), nil, ErrInvalidRequest},
		{"request claim", "payments", bound("GET", "/pay", digest),
			map[string]json.RawMessage{"request": rawJSON(`{}`)}, ErrReservedClaim},
		{"request claim in other case", "payments", bound("GET", "/pay", digest),
			map[string]json.RawMessage{"Request": rawJSON(`{}`)}, ErrReservedClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.minter.Mint(context.Background(), MintRequest{
				Consumer: Consumer{ID: "alice"}, Audience: tt.audience, Request: tt.request, Claims: tt.claims})
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// keyByKID returns the loaded key kid.
func keyByKID(t *testing.T, m *KeyManager, kid string) store.Key {
	t.Helper()
	for _, k := range m.Keys() {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no key %s", kid)
	return store.Key{}
}

func TestAllowTokenTTL(t *testing.T) {
	clk := newClock()
	m := newTestManager(t, nil, testKeyConfig, clk) // token TTL 5m, max-age 10m
	ctx := context.Background()
	maxAge := testKeyConfig.JWKSMaxAge

	// rotate retires the signing key at once and returns it.
	rotate := func() store.Key {
		t.Helper()
		kid := m.ActiveKID()
		if _, err := m.Rotate(ctx, true); err != nil {
			t.Fatal(err)
		}
		k := keyByKID(t, m, kid)
		if k.State != store.KeyRetired || !k.RetiredAt.Equal(clk.Now()) {
			t.Fatalf("key %s is %s since %v, want retired now", kid, k.State, k.RetiredAt)
		}
		return k
	}

	before := rotate()
	if want := clk.Now().Add(testKeyConfig.TokenTTL + maxAge); !before.RemoveAt.Equal(want) {
		t.Errorf("before AllowTokenTTL: RemoveAt = %v, want %v", before.RemoveAt, want)
	}

	m.AllowTokenTTL(time.Hour)
	clk.Advance(time.Minute)
	long := rotate()
	if want := long.RetiredAt.Add(time.Hour + maxAge); !long.RemoveAt.Equal(want) {
		t.Errorf("after AllowTokenTTL(1h): RemoveAt = %v, want %v", long.RemoveAt, want)
	}
	if got := keyByKID(t, m, before.KID).RemoveAt; !got.Equal(before.RemoveAt) {
		t.Errorf("a key retired earlier moved its RemoveAt from %v to %v", before.RemoveAt, got)
	}

	m.AllowTokenTTL(time.Minute)
	m.AllowTokenTTL(0)
	clk.Advance(time.Minute)
	still := rotate()
	if want := still.RetiredAt.Add(time.Hour + maxAge); !still.RemoveAt.Equal(want) {
		t.Errorf("after a shorter AllowTokenTTL: RemoveAt = %v, want %v, the window never shrinks", still.RemoveAt, want)
	}

	// The longer window holds the key in the JWKS until RemoveAt.
	clk.Advance(still.RemoveAt.Sub(clk.Now()) - time.Second)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if !jwksKIDs(t, m)[still.KID] || !m.usable(still.KID) {
		t.Fatal("the retired key left the JWKS before its RemoveAt")
	}
	clk.Advance(time.Second)
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if jwksKIDs(t, m)[still.KID] {
		t.Error("the retired key is still in the JWKS at its RemoveAt")
	}
}
