package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// verifier checks tokens as an upstream would, offline, with a JOSE
// library other than the one jwt-up signs with: the signature against the
// published key set, the issuer, the audience, the time claims, and that
// the subject is the consumer the token was asked for.
type verifier struct {
	keys     jose.JSONWebKeySet
	issuer   string
	audience string
	now      time.Time
}

// algorithms are the only ones accepted: the replicas sign with ES256.
var algorithms = []jose.SignatureAlgorithm{jose.ES256}

// check verifies one token minted for consumer.
func (v verifier) check(token, consumer string) error {
	tok, err := josejwt.ParseSigned(token, algorithms)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	kid := tok.Headers[0].KeyID
	keys := v.keys.Key(kid)
	if len(keys) == 0 {
		return fmt.Errorf("key %q is not in the JWKS", kid)
	}

	var claims josejwt.Claims
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return claims.ValidateWithLeeway(josejwt.Expected{
		Issuer:      v.issuer,
		Subject:     consumer,
		AnyAudience: josejwt.Audience{v.audience},
		Time:        v.now,
	}, 0)
}

// unverified counts the tokens that do not pass check, and returns the
// first such failure as an example.
func (v verifier) unverified(tokens map[string]string) (int, error) {
	bad := 0
	var first error
	for token, consumer := range tokens {
		if err := v.check(token, consumer); err != nil {
			bad++
			if first == nil {
				first = err
			}
		}
	}
	return bad, first
}

// multiToken counts the consumers that were handed more than one distinct
// token, by the kind of consumer (the part of its name before the first
// dash: repeat, recent or new). With a working shared cache and tokens far
// from expiry that is none; while replicas cannot reach Redis, each mints
// its own.
func multiToken(tokens map[string]string) map[string]int {
	per := map[string]int{}
	for _, consumer := range tokens {
		per[consumer]++
	}
	out := map[string]int{}
	for consumer, n := range per {
		if n > 1 {
			kind, _, _ := strings.Cut(consumer, "-")
			out[kind]++
		}
	}
	return out
}

// multiTokenNote describes multiToken's answer, e.g. "41 (recent 41)".
func multiTokenNote(by map[string]int) string {
	total := 0
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(by)) {
		total += by[kind]
		parts = append(parts, fmt.Sprintf("%s %d", kind, by[kind]))
	}
	if total == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// fetchJWKS reads the key set from the first running replica that
// answers.
func fetchJWKS(ctx context.Context, c *cluster) (jose.JSONWebKeySet, error) {
	errs := []error{errors.New("no running replica served the JWKS")}
	for _, i := range c.running() {
		set, err := getJWKS(ctx, c.client, c.replicas[i].url())
		if err == nil {
			return set, nil
		}
		errs = append(errs, err)
	}
	return jose.JSONWebKeySet{}, errors.Join(errs...)
}

// getJWKS reads the key set that the replica at base publishes.
func getJWKS(ctx context.Context, client *http.Client, base string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/jwks.json", nil)
	if err != nil {
		return set, err
	}
	res, err := client.Do(req)
	if err != nil {
		return set, fmt.Errorf("jwks: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return set, fmt.Errorf("jwks: %s answered %d", base, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return set, fmt.Errorf("jwks: %w", err)
	}
	return set, nil
}
