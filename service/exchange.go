package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/sync/singleflight"
)

// KeySetFetcher gets a trusted issuer's JWKS. It is declared here, and the
// HTTP one lives in store/jwks, so that service knows no HTTP.
type KeySetFetcher interface {
	// FetchKeySet MUST return the key set published at url, or an error.
	// It MUST honour ctx and MUST NOT return an empty set without an error.
	FetchKeySet(ctx context.Context, url string) (jwk.Set, error)
}

// ErrSubjectToken means a subject token was refused. The wrapped text says
// why in words fit for a client; it never holds the token nor key material.
var ErrSubjectToken = errors.New("invalid subject token")

// ErrIssuerUnavailable means a subject token could not be checked, since
// its issuer's keys could not be fetched: the fault is not the token's.
var ErrIssuerUnavailable = errors.New("trusted issuer unavailable")

// MaxSubjectToken is the most bytes of a subject token. Identity tokens
// are a few KiB at most; a larger one costs parsing and hashing for
// nothing.
const MaxSubjectToken = 16 << 10

const (
	// maxTrialKeys is the most keys a token without a kid is tried with.
	maxTrialKeys = 10
	// maxLeeway is the most clock skew an issuer may be allowed.
	maxLeeway = 5 * time.Minute
	// minSecretSize is the least bytes of an HMAC secret: 256 bits.
	minSecretSize = 32
	// minJWKSRefresh is the shortest JWKS refresh period.
	minJWKSRefresh = time.Second

	defaultJWKSRefresh    = 10 * time.Minute
	defaultJWKSMinRefetch = 30 * time.Second

	// jwksFetchTimeout bounds one fetch, which outlives the request that
	// started it.
	jwksFetchTimeout = 10 * time.Second
)

// VerifiedToken is what a verified subject token says.
type VerifiedToken struct {
	// Issuer is the token's iss.
	Issuer string
	// Subject is the value of the issuer's SubjectClaim.
	Subject string
	// OriginalSubject is the token's sub claim as is, "" when absent.
	OriginalSubject string
	// Identity is the base64url SHA-256 of the compact token, without
	// padding: the cache identity of the incoming token.
	Identity string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// Carried holds the issuer's Carry claims the token has, compacted.
	Carried map[string]json.RawMessage
	// Actor is the token's own act claim (RFC 8693), compacted, or nil.
	Actor json.RawMessage
}

// Verifier verifies subject tokens from trusted issuers. It is safe for
// concurrent use.
type Verifier struct {
	issuers map[string]*trustedKeys // by iss; read-only once built
	fetch   KeySetFetcher
	now     func() time.Time
	log     *slog.Logger
	flights singleflight.Group // JWKS fetches, by iss
}

// trustedKeys is one trusted issuer with its cached JWKS.
type trustedKeys struct {
	TrustedIssuer

	mu        sync.Mutex
	set       jwk.Set   // nil until a fetch succeeds
	fetchedAt time.Time // of the last fetch that succeeded
	triedAt   time.Time // of the last fetch, failed or not
	tries     uint64    // fetches ended
}

// NewVerifier checks every issuer and builds a verifier for them. fetch
// may be nil when no issuer has a JWKS URL; now nil means time.Now, log
// nil discards.
func NewVerifier(issuers []TrustedIssuer, fetch KeySetFetcher, now func() time.Time,
	log *slog.Logger) (*Verifier, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{issuers: map[string]*trustedKeys{}, fetch: fetch, now: now, log: log}

	for _, t := range issuers {
		if err := v.add(t); err != nil {
			return nil, fmt.Errorf("trusted_issuers[%s]: %w", t.Issuer, err)
		}
	}
	return v, nil
}

// add checks t and adds it.
func (v *Verifier) add(t TrustedIssuer) error {
	if err := t.Check(); err != nil {
		return err
	}
	if _, dup := v.issuers[t.Issuer]; dup {
		return errors.New("issuer: is listed twice")
	}
	if t.JWKSURL != "" && v.fetch == nil {
		return errors.New("jwks_url: no key set fetcher is configured")
	}
	v.issuers[t.Issuer] = &trustedKeys{TrustedIssuer: t.withDefaults()}
	return nil
}

// KeepKeySets takes over the JWKS that old holds for each issuer that has
// the same JWKS URL here, with the time it was fetched: a reload of the
// settings then neither waits for the issuers nor fails while one is
// unreachable. Call it before v verifies anything.
func (v *Verifier) KeepKeySets(old *Verifier) {
	if old == nil {
		return
	}
	for name, t := range v.issuers {
		prev, ok := old.issuers[name]
		if !ok || t.JWKSURL == "" || prev.JWKSURL != t.JWKSURL {
			continue
		}
		prev.mu.Lock()
		t.set, t.fetchedAt, t.triedAt, t.tries = prev.set, prev.fetchedAt, prev.triedAt, prev.tries
		prev.mu.Unlock()
	}
}

// Prefetch fetches the JWKS of every issuer that has one, unless it is
// fresh, in parallel, and returns when all are done. Failures are logged,
// not returned: Verify fetches again on use.
func (v *Verifier) Prefetch(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range v.issuers {
		if t.JWKSURL != "" {
			wg.Go(func() { v.keySet(ctx, t, false) })
		}
	}
	wg.Wait()
}

// Verify checks a compact JWS from a trusted issuer: its header, its
// signature with the issuer's keys, and its claims on the injected clock.
// Every refusal wraps ErrSubjectToken.
func (v *Verifier) Verify(ctx context.Context, compact string) (VerifiedToken, error) {
	tok, err := parseSubjectToken(compact)
	if err != nil {
		return VerifiedToken{}, err
	}
	t, err := v.issuerOf(tok)
	if err != nil {
		return VerifiedToken{}, err
	}

	keys, err := v.keysFor(ctx, t, tok.alg, tok.kid)
	if err != nil {
		return VerifiedToken{}, err
	}
	payload, err := verifySignature(compact, tok.alg, keys)
	if err != nil {
		return VerifiedToken{}, err
	}

	claims, err := t.validate(payload, v.now)
	if err != nil {
		return VerifiedToken{}, err
	}
	return t.verified(compact, tok, claims)
}

// subjectToken is a subject token read before any trust: enough to refuse
// early and to pick the issuer.
type subjectToken struct {
	alg, kid, iss string
	claims        map[string]json.RawMessage
}

// parseSubjectToken reads the header and the claims of a compact JWS.
func parseSubjectToken(compact string) (*subjectToken, error) {
	if len(compact) > MaxSubjectToken {
		return nil, refuse("longer than %d bytes", MaxSubjectToken)
	}
	if strings.HasPrefix(compact, "{") {
		return nil, refuse("JSON serialization is not accepted; send the compact form")
	}
	parts := strings.Split(compact, ".")
	if len(parts) != 3 || !allBase64URL(parts) {
		return nil, refuse("not a compact JWS of three base64url parts")
	}

	tok := &subjectToken{}
	if err := tok.readHeader(parts[0]); err != nil {
		return nil, err
	}
	if err := tok.readClaims(parts[1]); err != nil {
		return nil, err
	}
	return tok, nil
}

// allBase64URL reports whether every part holds only the base64url
// alphabet, without padding. Go's decoder would skip line breaks, and jwx
// also takes the standard alphabet.
func allBase64URL(parts []string) bool {
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			c := p[i]
			alpha := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			if !alpha && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// readHeader reads alg and kid, and refuses what jwt-up never accepts:
// no alg, alg none, and the crit and b64 extensions. jku, x5u and jwk are
// ignored: keys come from the settings, never from the token.
func (tok *subjectToken) readHeader(part string) error {
	var h map[string]json.RawMessage
	if decodePart(part, &h) != nil {
		return refuse("header cannot be read")
	}
	if json.Unmarshal(h["alg"], &tok.alg) != nil || tok.alg == "" {
		return refuse("header has no alg")
	}

	switch {
	case strings.EqualFold(tok.alg, "none"):
		return refuse("algorithm none is never accepted")
	case h["crit"] != nil:
		return refuse("header crit is not accepted")
	case h["b64"] != nil:
		return refuse("header b64 is not accepted")
	}
	if raw, ok := h["kid"]; ok && json.Unmarshal(raw, &tok.kid) != nil {
		return refuse("header kid is not a string")
	}
	return nil
}

// readClaims reads the claims and the iss among them.
func (tok *subjectToken) readClaims(part string) error {
	if decodePart(part, &tok.claims) != nil || tok.claims == nil {
		return refuse("claims are not a JSON object")
	}
	raw, ok := tok.claims["iss"]
	if !ok {
		return refuse("iss is missing")
	}
	if json.Unmarshal(raw, &tok.iss) != nil || tok.iss == "" {
		return refuse("iss is not a string")
	}
	return nil
}

// decodePart decodes one base64url part of a token as JSON into v.
func decodePart(part string, v any) error {
	data, err := base64.RawURLEncoding.Strict().DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// issuerOf picks the issuer by exact iss and checks it pins the token's
// algorithm.
func (v *Verifier) issuerOf(tok *subjectToken) (*trustedKeys, error) {
	t, ok := v.issuers[tok.iss]
	if !ok {
		return nil, refuse("issuer %s is not trusted", QuoteText(tok.iss))
	}
	if !slices.Contains(t.Algorithms, tok.alg) {
		return nil, refuse("algorithm %s is not accepted from issuer %s",
			QuoteText(tok.alg), t.Issuer)
	}
	return t, nil
}

// keysFor returns the keys to try on a token of t signed with alg. Check
// made sure an HMAC algorithm is pinned only with a secret and the
// others only without one, so a secret meets HMAC and nothing else.
func (v *Verifier) keysFor(ctx context.Context, t *trustedKeys, alg, kid string) ([]any, error) {
	switch {
	case len(t.Secret) > 0:
		return []any{t.Secret}, nil
	case len(t.Keys) > 0:
		return t.staticKeys(alg)
	}
	return v.jwksKeys(ctx, t, alg, kid)
}

// staticKeys returns the configured keys that fit alg.
func (t *trustedKeys) staticKeys(alg string) ([]any, error) {
	var keys []any
	for _, k := range t.Keys {
		if keyFits(alg, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, refuse("no key of issuer %s fits algorithm %s", t.Issuer, alg)
	}
	return keys, nil
}

// jwksKeys returns the keys of t's JWKS that fit alg and have the kid, if
// any. An unknown kid may mean the issuer rotated: the set is fetched
// again, no more often than JWKSMinRefetch.
func (v *Verifier) jwksKeys(ctx context.Context, t *trustedKeys, alg, kid string) ([]any, error) {
	set := v.keySet(ctx, t, false)
	if set == nil {
		return nil, fmt.Errorf("%w: the keys of issuer %s could not be fetched; try again later",
			ErrIssuerUnavailable, t.Issuer)
	}
	keys := keysOf(set, alg, kid)
	if len(keys) == 0 && kid != "" {
		keys = keysOf(v.keySet(ctx, t, true), alg, kid)
	}

	switch {
	case len(keys) > 0:
		return keys, nil
	case kid != "":
		return nil, refuse("no key of issuer %s has kid %s", t.Issuer, QuoteText(kid))
	}
	return nil, refuse("no key of issuer %s fits algorithm %s", t.Issuer, alg)
}

// keysOf returns up to maxTrialKeys keys of set that may verify alg, only
// those with the kid when it is not empty.
func keysOf(set jwk.Set, alg, kid string) []any {
	var keys []any
	for i := 0; set != nil && i < set.Len() && len(keys) < maxTrialKeys; i++ {
		k, _ := set.Key(i)
		if kid != "" && k.KeyID() != kid {
			continue
		}
		if raw, ok := usableKey(k, alg); ok {
			keys = append(keys, raw)
		}
	}
	return keys
}

// usableKey returns the raw public key of k when it may verify alg: not an
// encryption key, not meant for another algorithm, of a type that fits.
// An oct key never fits: a secret published in a JWKS is no secret.
func usableKey(k jwk.Key, alg string) (crypto.PublicKey, bool) {
	if k.KeyUsage() == string(jwk.ForEncryption) {
		return nil, false
	}
	if a := k.Algorithm().String(); a != "" && a != alg {
		return nil, false
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil, false
	}
	return raw, keyFits(alg, raw)
}

// keySet returns t's cached JWKS, fetching it first when it is due.
func (v *Verifier) keySet(ctx context.Context, t *trustedKeys, unknownKID bool) jwk.Set {
	t.mu.Lock()
	set, tries := t.set, t.tries
	due := t.due(v.now(), unknownKID)
	t.mu.Unlock()
	if !due {
		return set
	}

	v.refetch(ctx, t, tries)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.set
}

// due reports whether the set should be fetched: there is none, it is
// older than JWKSRefresh, or a kid is unknown. Never sooner than
// JWKSMinRefetch after the last try, so that neither made-up kids nor an
// issuer that is down turn every request into a fetch. t.mu is held.
func (t *trustedKeys) due(now time.Time, unknownKID bool) bool {
	if t.tries > 0 && now.Sub(t.triedAt) < t.JWKSMinRefetch {
		return false
	}
	return t.set == nil || unknownKID || now.Sub(t.fetchedAt) >= t.JWKSRefresh
}

// refetch fetches t's set and waits for it, or for ctx. Concurrent callers
// share one flight. A caller that saw the tries count before another
// flight ended finds it moved on and fetches nothing: it uses the set that
// flight brought.
func (v *Verifier) refetch(ctx context.Context, t *trustedKeys, seen uint64) {
	done := v.flights.DoChan(t.Issuer, func() (any, error) {
		return nil, v.fetchSet(ctx, t, seen)
	})
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// fetchSet fetches t's set unless a fetch ended since seen. A failure
// keeps the old set. tries moves only once the fetch is over, so that a
// caller arriving meanwhile finds the set due and joins the flight rather
// than going on without a set.
func (v *Verifier) fetchSet(ctx context.Context, t *trustedKeys, seen uint64) error {
	t.mu.Lock()
	moved := t.tries != seen
	t.mu.Unlock()
	if moved {
		return nil
	}

	set, err := v.fetchOnce(ctx, t.JWKSURL)
	t.mu.Lock()
	t.tries++
	t.triedAt = v.now()
	if err == nil {
		t.set, t.fetchedAt = set, t.triedAt
	}
	t.mu.Unlock()

	if err != nil {
		v.log.WarnContext(ctx, "fetch jwks failed", "issuer", t.Issuer, "err", err)
	}
	return err
}

// fetchOnce gets the set at url. Others may wait on the flight it runs in:
// the caller that started it leaving must not fail it for them.
func (v *Verifier) fetchOnce(ctx context.Context, url string) (jwk.Set, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	set, err := v.fetch.FetchKeySet(ctx, url)
	if err == nil && (set == nil || set.Len() == 0) {
		err = errors.New("the key set is empty")
	}
	return set, err
}

// verifySignature verifies the token with each key until one fits, and
// returns the signed payload.
func verifySignature(compact, alg string, keys []any) ([]byte, error) {
	opts := []jws.VerifyOption{jws.WithCompact()}
	for _, k := range keys {
		opts = append(opts, jws.WithKey(jwa.SignatureAlgorithm(alg), k))
	}
	payload, err := jws.Verify([]byte(compact), opts...)
	if err != nil {
		return nil, refuse("signature does not verify")
	}
	return payload, nil
}

// validate checks the verified claims on the clock: exp required and
// ahead, nbf and iat not ahead, each within Leeway; iss exact; aud one of
// Audiences.
func (t *trustedKeys) validate(payload []byte, now func() time.Time) (jwt.Token, error) {
	claims, err := jwt.Parse(payload,
		jwt.WithVerify(false),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(now)),
		jwt.WithAcceptableSkew(t.Leeway),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithIssuer(t.Issuer))
	if err != nil {
		return nil, claimsFault(err)
	}

	// jwx lets an exp of 0 pass as if it were absent.
	if !now().Before(claims.Expiration().Add(t.Leeway)) {
		return nil, refuse("expired")
	}
	ours := func(aud string) bool { return slices.Contains(t.Audiences, aud) }
	if !slices.ContainsFunc(claims.Audience(), ours) {
		return nil, refuse("audience does not match")
	}
	return claims, nil
}

// claimsFault turns a jwx validation error into a refusal.
func claimsFault(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		return refuse("expired")
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		return refuse("not valid yet")
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		return refuse("issued in the future")
	case errors.Is(err, jwt.ErrRequiredClaim()):
		return refuse("exp is missing")
	case errors.Is(err, jwt.ErrInvalidIssuer()):
		return refuse("issuer does not match")
	}
	return refuse("claims cannot be read")
}

// verified builds the result. tok.claims were read from the same bytes the
// signature covers, so they are trusted now.
func (t *trustedKeys) verified(compact string, tok *subjectToken,
	claims jwt.Token) (VerifiedToken, error) {
	sub, err := t.subject(tok.claims)
	if err != nil {
		return VerifiedToken{}, err
	}
	carried, err := t.carried(tok.claims)
	if err != nil {
		return VerifiedToken{}, err
	}
	actor, err := actorOf(tok.claims)
	if err != nil {
		return VerifiedToken{}, err
	}

	sum := sha256.Sum256([]byte(compact))
	return VerifiedToken{
		Issuer:          t.Issuer,
		Subject:         sub,
		OriginalSubject: claims.Subject(),
		Identity:        base64.RawURLEncoding.EncodeToString(sum[:]),
		ExpiresAt:       claims.Expiration(),
		Carried:         carried,
		Actor:           actor,
	}, nil
}

// subject returns the value of the subject claim: a short, non-empty
// string without control characters.
func (t *trustedKeys) subject(claims map[string]json.RawMessage) (string, error) {
	name := t.SubjectClaim
	raw, ok := claims[name]
	if !ok {
		return "", refuse("claim %s is missing", name)
	}
	var sub string
	if json.Unmarshal(raw, &sub) != nil {
		return "", refuse("claim %s is not a string", name)
	}

	if sub == "" {
		return "", refuse("claim %s is empty", name)
	}
	if fault := textFault(sub, MaxTextLength); fault != "" {
		return "", refuse("claim %s %s", name, fault)
	}
	return sub, nil
}

// carried returns the Carry claims the token has, compacted; nil when it
// has none.
func (t *trustedKeys) carried(
	claims map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	var out map[string]json.RawMessage
	for _, name := range t.Carry {
		raw, ok := claims[name]
		if !ok {
			continue
		}
		value, err := compactValue(name, raw)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[name] = value
	}
	return out, nil
}

// actorOf returns the token's act claim, compacted, or nil. RFC 8693 makes
// it a JSON object.
func actorOf(claims map[string]json.RawMessage) (json.RawMessage, error) {
	raw, ok := claims["act"]
	if !ok {
		return nil, nil
	}
	act, err := compactValue("act", raw)
	if err != nil {
		return nil, err
	}
	if act[0] != '{' {
		return nil, refuse("claim act is not a JSON object")
	}
	return act, nil
}

// compactValue compacts a claim's value, refusing one over the limits a
// request's own claims have.
func compactValue(name string, raw json.RawMessage) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, refuse("claim %s is not valid JSON", name)
	}
	if buf.Len() > MaxClaimValueSize {
		return nil, refuse("claim %s is %d bytes, more than the %d allowed",
			name, buf.Len(), MaxClaimValueSize)
	}
	if d := jsonDepth(buf.Bytes()); d > MaxClaimDepth {
		return nil, refuse("claim %s nests %d levels deep, more than the %d allowed",
			name, d, MaxClaimDepth)
	}
	return buf.Bytes(), nil
}

// refuse returns ErrSubjectToken with a reason.
func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSubjectToken, fmt.Sprintf(format, args...))
}
