package service

import (
	"crypto"
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
