package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"maps"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// signer makes test tokens with one ES256 key.
type signer struct {
	t   *testing.T
	key *ecdsa.PrivateKey
	kid string
}

func newSigner(t *testing.T, kid string) signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{t: t, key: key, kid: kid}
}

// jwk is the signer's public key as a JWKS publishes it.
func (s signer) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: "ES256", Use: "sig"}
}

// token signs claims with the signer's key, via alg.
func (s signer) token(alg jose.SignatureAlgorithm, key any, claims josejwt.Claims) string {
	s.t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.kid)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func TestVerifierCheck(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	good, stranger := newSigner(t, "k1"), newSigner(t, "k1")
	unknown := newSigner(t, "k9")
	v := verifier{
		keys:   jose.JSONWebKeySet{Keys: []jose.JSONWebKey{good.jwk()}},
		issuer: issuer, audience: issuer, now: now,
	}
	claims := func(edit func(*josejwt.Claims)) josejwt.Claims {
		c := josejwt.Claims{
			Issuer: issuer, Subject: "alice", Audience: josejwt.Audience{issuer},
			IssuedAt: josejwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry:   josejwt.NewNumericDate(now.Add(4 * time.Minute)),
		}
		if edit != nil {
			edit(&c)
		}
		return c
	}

	tests := []struct {
		name     string
		token    string
		consumer string
		ok       bool
	}{
		{"good", good.token(jose.ES256, good.key, claims(nil)), "alice", true},
		{"other consumer", good.token(jose.ES256, good.key, claims(nil)), "bob", false},
		{"wrong issuer", good.token(jose.ES256, good.key, claims(func(c *josejwt.Claims) {
			c.Issuer = "http://elsewhere"
		})), "alice", false},
		{"wrong audience", good.token(jose.ES256, good.key, claims(func(c *josejwt.Claims) {
			c.Audience = josejwt.Audience{"orders-api"}
		})), "alice", false},
		{"expired", good.token(jose.ES256, good.key, claims(func(c *josejwt.Claims) {
			c.Expiry = josejwt.NewNumericDate(now.Add(-time.Second))
		})), "alice", false},
		{"same kid, other key", stranger.token(jose.ES256, stranger.key, claims(nil)), "alice", false},
		{"kid not published", unknown.token(jose.ES256, unknown.key, claims(nil)), "alice", false},
		{"HS256", good.token(jose.HS256, []byte("0123456789abcdef0123456789abcdef"), claims(nil)), "alice", false},
		{"not a token", "eyJ.eyJ.sig", "alice", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.check(tt.token, tt.consumer)
			if (err == nil) != tt.ok {
				t.Errorf("check = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestVerifierUnverified(t *testing.T) {
	now := time.Now()
	s := newSigner(t, "k1")
	v := verifier{keys: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.jwk()}}, issuer: issuer, audience: issuer, now: now}
	mint := func(sub string) string {
		return s.token(jose.ES256, s.key, josejwt.Claims{
			Issuer: issuer, Subject: sub, Audience: josejwt.Audience{issuer},
			Expiry: josejwt.NewNumericDate(now.Add(time.Minute)),
		})
	}
	tokens := map[string]string{mint("a"): "a", mint("b"): "b", mint("c"): "not-c"}

	bad, first := v.unverified(tokens)
	if bad != 1 || first == nil {
		t.Errorf("unverified = %d, %v; want 1 and an error", bad, first)
	}
}

func TestMultiToken(t *testing.T) {
	tokens := map[string]string{
		"t1": "recent-1-7", "t2": "recent-1-7", "t3": "repeat-3",
		"t4": "repeat-4", "t5": "repeat-4", "t6": "repeat-4", "t7": "new-1-0-4",
		"t8": "recent-1-8", "t9": "recent-1-8",
	}
	got := multiToken(tokens)
	if want := map[string]int{"recent": 2, "repeat": 1}; !maps.Equal(got, want) {
		t.Errorf("multiToken = %v, want %v", got, want)
	}
	if note := multiTokenNote(got); note != "3 (recent 2, repeat 1)" {
		t.Errorf("multiTokenNote = %q", note)
	}
	if note := multiTokenNote(multiToken(nil)); note != "none" {
		t.Errorf("multiTokenNote of nothing = %q, want none", note)
	}
}
