// Command verify checks a jwt-up token the way an upstream API would: it
// fetches the JWKS, verifies the signature with the key the token names,
// and checks the issuer, the audience and the time claims. It uses
// go-jose, not the library jwt-up signs with.
//
//	go run ./docs/examples/verify -issuer http://localhost:8080 -audience orders-api TOKEN
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// algorithms are the ones jwt-up signs with; anything else is refused.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA}

func main() {
	issuer := flag.String("issuer", "http://localhost:8080", "expected iss")
	audience := flag.String("audience", "http://localhost:8080", "expected aud")
	jwksURL := flag.String("jwks", "", "JWKS URL (default: <issuer>/.well-known/jwks.json)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: verify [flags] TOKEN")
		os.Exit(2)
	}
	if *jwksURL == "" {
		*jwksURL = *issuer + "/.well-known/jwks.json"
	}

	claims, err := verify(flag.Arg(0), *jwksURL, *issuer, *audience, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "token refused:", err)
		os.Exit(1)
	}
	out, _ := json.MarshalIndent(claims, "", "  ")
	fmt.Println("token verified; claims:")
	fmt.Println(string(out))
}

func verify(token, jwksURL, issuer, audience string, now time.Time) (map[string]any, error) {
	tok, err := josejwt.ParseSigned(token, algorithms)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, errors.New("the token names no key")
	}
	set, err := fetchJWKS(jwksURL)
	if err != nil {
		return nil, err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return nil, fmt.Errorf("key %s is not in the JWKS", tok.Headers[0].KeyID)
	}

	var std josejwt.Claims
	all := map[string]any{}
	if err := tok.Claims(keys[0].Key, &std, &all); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	err = std.ValidateWithLeeway(josejwt.Expected{
		Issuer:      issuer,
		AnyAudience: josejwt.Audience{audience},
		Time:        now,
	}, 0)
	if err != nil {
		return nil, err
	}
	return all, nil
}

func fetchJWKS(url string) (*jose.JSONWebKeySet, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: %s", res.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	return &set, nil
}
