package service

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The token types jwt-up writes in a token's typ header.
const (
	// TypeJWT is a plain JWT.
	TypeJWT = "JWT"
	// TypeAccessToken is an RFC 9068 JWT access token.
	TypeAccessToken = "at+jwt"
	// TypeTxnToken is an OAuth transaction token.
	TypeTxnToken = "txntoken+jwt"
)

// TokenTypes lists the token types, the default first.
var TokenTypes = []string{TypeJWT, TypeAccessToken, TypeTxnToken}

// ErrUnknownAudience means a request names an audience that has no profile
// while the settings refuse such audiences.
var ErrUnknownAudience = errors.New("unknown audience")

// ErrClaimNotAllowed means a custom claim is not on the allow-list of the
// audience's profile.
var ErrClaimNotAllowed = errors.New("claim not allowed")

// AudienceProfile shapes the tokens of one audience.
type AudienceProfile struct {
	TTL           time.Duration // lifetime of a token
	RefreshMargin time.Duration // least lifetime left on a handed-out token
	Claims        Profile       // claim layout
	Type          string        // typ header: TypeJWT, TypeAccessToken or TypeTxnToken
	// StaticClaims are set on every token of the audience. A request may
	// not set them.
	StaticClaims map[string]json.RawMessage
	// AllowedClaims, when not nil, lists the only custom claim names a
	// request may set; an empty list allows none.
	AllowedClaims []string
	// Binding binds every token to one request (method, path and body
	// digest); bound tokens are never cached.
	Binding bool
}

// Profiles holds the profile of every configured audience, and the one of
// every other audience.
type Profiles struct {
	Default   AudienceProfile
	Audiences map[string]AudienceProfile
	// DenyUnknown refuses audiences that have no profile of their own.
	DenyUnknown bool
}

// Check reports the first fault of p, naming the field as the settings file
// spells it.
func (p AudienceProfile) Check() error {
	switch {
	case p.TTL <= 0:
		return fmt.Errorf("token_ttl: must be positive, not %s", p.TTL)
	case p.RefreshMargin < 0:
		return fmt.Errorf("refresh_margin: must not be negative, not %s", p.RefreshMargin)
	case p.RefreshMargin >= p.TTL:
		return fmt.Errorf("refresh_margin: %s must be shorter than token_ttl %s", p.RefreshMargin, p.TTL)
	case !p.Claims.Valid():
		return fmt.Errorf("claims_profile: %q is not standard or kong-headers", p.Claims)
	case !slices.Contains(TokenTypes, p.Type):
		return fmt.Errorf("typ: %q is not JWT, at+jwt or txntoken+jwt", p.Type)
	case p.Type != TypeJWT && p.Claims != ProfileStandard:
		return fmt.Errorf("typ: %s tokens need claims_profile standard, which carries sub", p.Type)
	case p.Binding && p.Claims != ProfileStandard:
		return errors.New("binding: bound tokens need claims_profile standard")
	}
	names := sortedNames(p.StaticClaims)
	for i, name := range names {
		if name == "" {
			return errors.New("static_claims: a claim name is empty")
		}
		if i > 0 && slices.ContainsFunc(names[:i], func(n string) bool { return equalFold(n, name) }) {
			return fmt.Errorf("static_claims: %q is given twice, in two cases", name)
		}
		if fault := textFault(name, MaxClaimNameLength); fault != "" {
			return fmt.Errorf("static_claims: name %s", fault)
		}
		if p.reserved(name) {
			return fmt.Errorf("static_claims: %q is set by jwt-up itself", name)
		}
		if _, err := compactClaim(name, p.StaticClaims[name]); err != nil {
			return fmt.Errorf("static_claims: %s", errorDetail(err))
		}
	}
	for i, name := range p.AllowedClaims {
		switch {
		case name == "":
			return fmt.Errorf("allowed_claims[%d]: is empty", i)
		case p.reserved(name):
			return fmt.Errorf("allowed_claims[%d]: %q is set by jwt-up itself", i, name)
		case p.static(name):
			return fmt.Errorf("allowed_claims[%d]: %q is a static claim of this audience", i, name)
		}
	}
	return nil
}

// reserved reports whether a request or a static claim may not name the
// claim: the claim layout's own names, and those of the token type.
func (p AudienceProfile) reserved(name string) bool {
	return p.Claims.reserved(name) || slices.ContainsFunc(typeClaims[p.Type], func(n string) bool {
		return equalFold(n, name)
	}) || (p.Binding && slices.ContainsFunc(bindingClaims, func(n string) bool { return equalFold(n, name) }))
}

// static reports whether name is one of the static claims, ignoring case
// as encoding/json does.
func (p AudienceProfile) static(name string) bool {
	for n := range p.StaticClaims {
		if equalFold(n, name) {
			return true
		}
	}
	return false
}

// Check reports the first fault of the profiles, naming the audience.
func (p Profiles) Check() error {
	if err := p.Default.Check(); err != nil {
		return fmt.Errorf("default profile: %w", err)
	}
	for _, aud := range sortedNames(p.Audiences) {
		if aud == "" {
			return errors.New("profiles: an audience is empty")
		}
		if fault := textFault(aud, MaxTextLength); fault != "" {
			return fmt.Errorf("profiles: audience %s", fault)
		}
		if err := p.Audiences[aud].Check(); err != nil {
			return fmt.Errorf("profiles.%s.%w", aud, err)
		}
	}
	return nil
}

// MaxTTL returns the longest token lifetime of any profile: how long a
// retired key must stay published.
func (p Profiles) MaxTTL() time.Duration {
	longest := p.Default.TTL
	for _, a := range p.Audiences {
		longest = max(longest, a.TTL)
	}
	return longest
}

// profile is an AudienceProfile made ready for minting.
type profile struct {
	AudienceProfile
	staticJSON  []byte          // static claims as ,"name":value… in name order
	allowed     map[string]bool // nil: any name
	fingerprint [sha256.Size]byte
}

// profileSet is one immutable view of the profiles, swapped in whole.
type profileSet struct {
	def         *profile
	audiences   map[string]*profile
	denyUnknown bool
}

// newProfileSet checks p and prepares it for minting.
func newProfileSet(p Profiles) (*profileSet, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	set := &profileSet{def: compileProfile(p.Default), audiences: map[string]*profile{}, denyUnknown: p.DenyUnknown}
	for aud, a := range p.Audiences {
		set.audiences[aud] = compileProfile(a)
	}
	return set, nil
}

// compileProfile prepares a checked profile.
func compileProfile(a AudienceProfile) *profile {
	p := &profile{AudienceProfile: a}
	for _, name := range sortedNames(a.StaticClaims) {
		value, _ := compactClaim(name, a.StaticClaims[name]) // checked
		p.staticJSON = appendMember(p.staticJSON, name, value)
	}
	if a.AllowedClaims != nil {
		p.allowed = map[string]bool{}
		for _, n := range a.AllowedClaims {
			p.allowed[n] = true
		}
	}

	// The fingerprint joins every field that shapes a token to the cache
	// key, so that a reload that changes a profile never hands out a token
	// of the old one.
	b := binary.AppendVarint(nil, int64(a.TTL))
	b = binary.AppendVarint(b, int64(a.RefreshMargin))
	b = appendField(b, a.Claims)
	b = appendField(b, a.Type)
	b = appendField(b, p.staticJSON)
	if a.Binding {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	p.fingerprint = sha256.Sum256(b)
	return p
}

// lookup returns the profile of aud.
func (s *profileSet) lookup(aud string) (*profile, error) {
	if p, ok := s.audiences[aud]; ok {
		return p, nil
	}
	if s.denyUnknown {
		return nil, fmt.Errorf("%w: no profile is configured for audience %s", ErrUnknownAudience, QuoteText(aud))
	}
	return s.def, nil
}

// sortedNames returns the keys of m in order.
func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// errorDetail strips the sentinel prefix of an invalid-request error.
func errorDetail(err error) string {
	s := err.Error()
	prefix := ErrInvalidRequest.Error() + ": "
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}
