package service

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// TrustedIssuer is an issuer whose tokens jwt-up re-signs: how to get its
// keys, which algorithms it signs with and which of its claims move into
// the new token.
type TrustedIssuer struct {
	// Issuer is the exact iss of its tokens.
	Issuer string
	// JWKSURL is where its public keys are published. Exactly one of
	// JWKSURL, Keys and Secret is set.
	JWKSURL string
	// Keys are its public keys, for an issuer without a JWKS.
	Keys []crypto.PublicKey
	// Secret is the shared secret of an issuer that signs with HMAC.
	Secret []byte
	// Algorithms are the only algorithms accepted from it.
	Algorithms []string
	// Audiences are the aud values its tokens must carry one of.
	Audiences []string
	// Carry lists the claims that move from its tokens into the new one.
	Carry []string
	// SubjectClaim names the claim that holds the subject; default "sub".
	SubjectClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// JWKSRefresh is how often its JWKS is fetched again; default 10m.
	JWKSRefresh time.Duration
	// JWKSMinRefetch is the least time between two fetches that an
	// unknown kid triggers; default 30s.
	JWKSMinRefetch time.Duration
}

// subjectAlgorithms lists the algorithms a subject token may be signed
// with.
var subjectAlgorithms = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
}

// carryReserved are the claims jwt-up sets itself, so an issuer's claim
// may not be carried under their names.
var carryReserved = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "act", "consumer",
	"groups", "scope", "credential", "authenticated_userid", "client_id",
	"txn", "request",
}

// ecCurves pairs each ECDSA algorithm with its curve.
var ecCurves = map[string]elliptic.Curve{
	"ES256": elliptic.P256(),
	"ES384": elliptic.P384(),
	"ES512": elliptic.P521(),
}

// Check reports the first fault of t, naming the field as the settings
// file spells it.
func (t TrustedIssuer) Check() error {
	if t.Issuer == "" {
		return errors.New("issuer: is empty")
	}
	checks := []func() error{
		t.checkSource, t.checkAlgorithms, t.checkKeys, t.checkAudiences,
		t.checkCarry, t.checkSubjectClaim, t.checkTimes,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkSource checks that the keys come from exactly one place.
func (t TrustedIssuer) checkSource() error {
	sources := 0
	for _, set := range []bool{t.JWKSURL != "", len(t.Keys) > 0, len(t.Secret) > 0} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return errors.New("jwks_url: none of jwks_url, keys and secret is set; set one")
	case sources > 1:
		return errors.New("jwks_url: set only one of jwks_url, keys and secret")
	case len(t.Secret) > 0 && len(t.Secret) < minSecretSize:
		return fmt.Errorf("secret: is %d bytes, at least %d needed", len(t.Secret), minSecretSize)
	case t.JWKSURL != "":
		return checkJWKSURL(t.JWKSURL)
	}
	return nil
}

// checkJWKSURL refuses anything but an absolute http or https URL. Its
// errors name what is wrong without quoting the URL, which may hold a
// password or a key in its query.
func checkJWKSURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("jwks_url: does not parse as a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("jwks_url: the scheme is %q; want an absolute http or https URL", u.Scheme)
	case u.Host == "":
		return errors.New("jwks_url: has no host; want an absolute http or https URL")
	}
	return nil
}

// checkAlgorithms checks the pinned algorithms. HMAC goes with a secret
// and only with a secret: a verifier that took HS256 with a public key
// could be fooled by a token MACed with that public key.
func (t TrustedIssuer) checkAlgorithms() error {
	if len(t.Algorithms) == 0 {
		return errors.New("algorithms: is empty")
	}
	for i, alg := range t.Algorithms {
		switch {
		case strings.EqualFold(alg, "none"):
			return errors.New("algorithms: none is never accepted: it means an unsigned token")
		case !slices.Contains(subjectAlgorithms, alg):
			return fmt.Errorf("algorithms: %q is not one of %s", alg, strings.Join(subjectAlgorithms, " "))
		case slices.Contains(t.Algorithms[:i], alg):
			return fmt.Errorf("algorithms: %s is listed twice", alg)
		case isHMAC(alg) && len(t.Secret) == 0:
			return fmt.Errorf("algorithms: %s needs secret", alg)
		case !isHMAC(alg) && len(t.Secret) > 0:
			return fmt.Errorf("algorithms: %s cannot be used with secret, "+
				"which only HS256, HS384 and HS512 use", alg)
		}
	}
	return nil
}

// checkKeys checks each static key, and that it fits a pinned algorithm.
func (t TrustedIssuer) checkKeys() error {
	for i, k := range t.Keys {
		if err := checkPublicKey(k); err != nil {
			return fmt.Errorf("keys[%d]: %w", i, err)
		}
		fits := func(alg string) bool { return keyFits(alg, k) }
		if !slices.ContainsFunc(t.Algorithms, fits) {
			return fmt.Errorf("keys[%d]: %T fits none of algorithms %s",
				i, k, strings.Join(t.Algorithms, " "))
		}
	}
	return nil
}

// checkPublicKey refuses a key of a type or size jwt-up does not verify
// with.
func checkPublicKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("an empty RSA key")
		}
		if k.N.BitLen() < rsaBits {
			return fmt.Errorf("an RSA key of %d bits; at least %d needed", k.N.BitLen(), rsaBits)
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("an empty EC key")
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("an Ed25519 key of %d bytes", len(k))
		}
	default:
		return fmt.Errorf("%T is not an RSA, EC or Ed25519 public key", k)
	}
	return nil
}

// checkAudiences requires an audience: without one, a token the issuer
// minted for any other service would be accepted here.
func (t TrustedIssuer) checkAudiences() error {
	if len(t.Audiences) == 0 {
		return errors.New("audiences: is empty; name the aud its tokens carry for jwt-up")
	}
	for i, aud := range t.Audiences {
		if aud == "" {
			return fmt.Errorf("audiences[%d]: is empty", i)
		}
	}
	return nil
}

// checkCarry refuses carrying a claim jwt-up sets itself. Case is ignored,
// as in Profile.reserved.
func (t TrustedIssuer) checkCarry() error {
	for i, name := range t.Carry {
		reserved := func(r string) bool { return strings.EqualFold(r, name) }
		switch {
		case name == "":
			return fmt.Errorf("carry[%d]: is empty", i)
		case slices.Contains(t.Carry[:i], name):
			return fmt.Errorf("carry[%d]: %q is listed twice", i, name)
		case slices.ContainsFunc(carryReserved, reserved):
			return fmt.Errorf("carry[%d]: %q is set by jwt-up itself", i, name)
		}
	}
	return nil
}

// checkSubjectClaim checks the name of the subject claim, when set.
func (t TrustedIssuer) checkSubjectClaim() error {
	if fault := textFault(t.SubjectClaim, MaxClaimNameLength); fault != "" {
		return fmt.Errorf("subject_claim: %s", fault)
	}
	return nil
}

// checkTimes checks the leeway and the JWKS periods; zero periods take
// their defaults.
func (t TrustedIssuer) checkTimes() error {
	switch {
	case t.Leeway < 0:
		return fmt.Errorf("leeway: must not be negative, not %s", t.Leeway)
	case t.Leeway > maxLeeway:
		return fmt.Errorf("leeway: %s is more than the %s allowed", t.Leeway, maxLeeway)
	case t.JWKSRefresh != 0 && t.JWKSRefresh < minJWKSRefresh:
		return fmt.Errorf("jwks_refresh: %s is shorter than %s", t.JWKSRefresh, minJWKSRefresh)
	case t.JWKSMinRefetch < 0:
		return fmt.Errorf("jwks_min_refetch: must not be negative, not %s", t.JWKSMinRefetch)
	case t.JWKSMinRefetch > cmp.Or(t.JWKSRefresh, defaultJWKSRefresh):
		return fmt.Errorf("jwks_min_refetch: %s is longer than jwks_refresh %s",
			t.JWKSMinRefetch, cmp.Or(t.JWKSRefresh, defaultJWKSRefresh))
	}
	return nil
}

// withDefaults returns t with its defaults applied and its slices copied,
// so that a caller changing its own later changes nothing here. The
// default JWKSMinRefetch never exceeds JWKSRefresh.
func (t TrustedIssuer) withDefaults() TrustedIssuer {
	t.SubjectClaim = cmp.Or(t.SubjectClaim, "sub")
	t.JWKSRefresh = cmp.Or(t.JWKSRefresh, defaultJWKSRefresh)
	t.JWKSMinRefetch = cmp.Or(t.JWKSMinRefetch, min(defaultJWKSMinRefetch, t.JWKSRefresh))
	t.Keys = slices.Clone(t.Keys)
	t.Secret = slices.Clone(t.Secret)
	t.Algorithms = slices.Clone(t.Algorithms)
	t.Audiences = slices.Clone(t.Audiences)
	t.Carry = slices.Clone(t.Carry)
	return t
}

// isHMAC reports whether alg is an HMAC algorithm.
func isHMAC(alg string) bool {
	return alg == "HS256" || alg == "HS384" || alg == "HS512"
}

// keyFits reports whether the public key k can verify alg. A symmetric key
// never fits: secrets come from the settings only.
func keyFits(alg string, k crypto.PublicKey) bool {
	switch k := k.(type) {
	case *rsa.PublicKey:
		rsaAlg := strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
		return rsaAlg && k != nil && k.N != nil && k.N.BitLen() >= rsaBits
	case *ecdsa.PublicKey:
		return k != nil && k.Curve != nil && ecCurves[alg] == k.Curve
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	}
	return false
}
