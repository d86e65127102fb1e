// Command verify checks a jwt-up token the way an upstream API would: it
// fetches the JWKS, verifies the signature with the key the token names,
// accepts only the one algorithm it is told jwt-up signs with, and checks
// the issuer, the audience and the time claims. It uses go-jose, not the
// library jwt-up signs with.
//
//	go run ./docs/examples/verify -issuer http://localhost:8080 -audience orders-api -alg RS256 TOKEN
//
// It prints the claims and exits 0 for a good token; it says why and
// exits 1 for any other.
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

// expected is what an upstream knows about the tokens it accepts.
type expected struct {
	jwksURL  string
	issuer   string
	audience string
	alg      string // the one algorithm accepted: never read it from the token
}

func main() {
	var want expected
	flag.StringVar(&want.issuer, "issuer", "http://localhost:8080", "expected iss")
	flag.StringVar(&want.audience, "audience", "http://localhost:8080", "expected aud")
	flag.StringVar(&want.alg, "alg", "RS256", "the algorithm jwt-up signs with (JWTUP_SIGNING_ALG)")
	flag.StringVar(&want.jwksURL, "jwks", "", "JWKS URL (default: <issuer>/.well-known/jwks.json)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: verify [flags] TOKEN")
		os.Exit(2)
	}
	if want.jwksURL == "" {
		want.jwksURL = want.issuer + "/.well-known/jwks.json"
	}

	claims, err := verify(flag.Arg(0), want, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "token refused:", err)
		os.Exit(1)
	}
	out, _ := json.MarshalIndent(claims, "", "  ")
	fmt.Println("token verified; claims:")
	fmt.Println(string(out))
}

// verify checks token against want at time now and returns its claims.
func verify(token string, want expected, now time.Time) (map[string]any, error) {
	// Parsing with one algorithm refuses alg "none", HMAC with a public
	// key as secret, and any algorithm the signer did not choose.
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(want.alg)})
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, errors.New("the token names no key")
	}
	key, err := publishedKey(want.jwksURL, tok.Headers[0].KeyID, want.alg)
	if err != nil {
		return nil, err
	}

	var std josejwt.Claims
	all := map[string]any{}
	if err := tok.Claims(key.Key, &std, &all); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if std.Expiry == nil {
		return nil, errors.New("the token has no exp")
	}
	err = std.ValidateWithLeeway(josejwt.Expected{
		Issuer:      want.issuer,
		AnyAudience: josejwt.Audience{want.audience},
		Time:        now,
	}, 0)
	if err != nil {
		return nil, err
	}
	return all, nil
}

// publishedKey fetches the JWKS and returns the signing key kid, which
// must be published for alg.
func publishedKey(jwksURL, kid, alg string) (*jose.JSONWebKey, error) {
	set, err := fetchJWKS(jwksURL)
	if err != nil {
		return nil, err
	}
	keys := set.Key(kid)
	if len(keys) == 0 {
		return nil, fmt.Errorf("key %s is not in the JWKS", kid)
	}
	k := keys[0]
	if k.Algorithm != alg || (k.Use != "" && k.Use != "sig") {
		return nil, fmt.Errorf("key %s is published for %q use %q, not for %s signatures", kid, k.Algorithm, k.Use, alg)
	}
	return &k, nil
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
