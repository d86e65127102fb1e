package service

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Profile names a claim layout.
type Profile string

// The claim profiles.
const (
	// ProfileStandard carries registered claims and the consumer as objects.
	ProfileStandard Profile = "standard"
	// ProfileKongHeaders names claims after Kong's consumer headers, for
	// upstreams written against the original gateway plugin.
	ProfileKongHeaders Profile = "kong-headers"
)

// kongNBFLead is how far nbf lies before iat in the kong-headers profile,
// as the original plugin had it.
const kongNBFLead = 5 * time.Minute

// registeredClaims are set by every profile, or mean too much to a verifier
// to be set by a request: act names who acts for the subject (RFC 8693).
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "act"}

// typeClaims are the claims a token type adds: RFC 9068 access tokens name
// the client, transaction tokens the transaction.
var typeClaims = map[string][]string{
	TypeAccessToken: {"client_id"},
	TypeTxnToken:    {"txn"},
}

// bindingClaims are the claims of a bound token.
var bindingClaims = []string{"request"}

var profileClaims = map[Profile][]string{
	ProfileStandard: {"consumer", "groups", "scope", "credential", "authenticated_userid"},
	ProfileKongHeaders: {"X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username",
		"X-Credential-Username", "X-Consumer-Groups", "X-Authenticated-Scope",
		"X-Authenticated-Userid"},
}

// Valid reports whether p is a known profile.
func (p Profile) Valid() bool {
	_, ok := profileClaims[p]
	return ok
}

// reserved reports whether a request may not set the claim name. Case is
// ignored: a verifier that decodes claims the way encoding/json does would
// let a custom "ISS", which comes later in the payload, override "iss".
func (p Profile) reserved(name string) bool {
	for _, list := range [][]string{registeredClaims, profileClaims[p]} {
		for _, n := range list {
			if equalFold(n, name) {
				return true
			}
		}
	}
	return false
}

// equalFold compares claim names the way encoding/json matches them.
func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

// claimTimes are the time claims of one token.
type claimTimes struct {
	iat, nbf, exp time.Time
}

type standardClaims struct {
	Iss                 string        `json:"iss"`
	Sub                 string        `json:"sub"`
	Aud                 string        `json:"aud"`
	Iat                 int64         `json:"iat"`
	Nbf                 int64         `json:"nbf"`
	Exp                 int64         `json:"exp"`
	Jti                 string        `json:"jti"`
	ClientID            string        `json:"client_id,omitempty"`
	Txn                 string        `json:"txn,omitempty"`
	Consumer            Consumer      `json:"consumer"`
	Groups              []string      `json:"groups,omitempty"`
	Scope               string        `json:"scope,omitempty"`
	Credential          *Credential   `json:"credential,omitempty"`
	AuthenticatedUserID string        `json:"authenticated_userid,omitempty"`
	Request             *BoundRequest `json:"request,omitempty"`
}

type kongClaims struct {
	Iss                 string `json:"iss"`
	Aud                 string `json:"aud"`
	Iat                 int64  `json:"iat"`
	Nbf                 int64  `json:"nbf"`
	Exp                 int64  `json:"exp"`
	Jti                 string `json:"jti"`
	ConsumerID          string `json:"X-Consumer-ID"`
	ConsumerCustomID    string `json:"X-Consumer-Custom-ID"`
	ConsumerUsername    string `json:"X-Consumer-Username"`
	CredentialUsername  string `json:"X-Credential-Username"`
	ConsumerGroups      string `json:"X-Consumer-Groups"`
	AuthenticatedScope  string `json:"X-Authenticated-Scope"`
	AuthenticatedUserID string `json:"X-Authenticated-Userid"`
}

// tokenSpec is everything one token's claims are built from.
type tokenSpec struct {
	p        *profile
	r        *MintRequest
	iss, jti string
	times    claimTimes
	act      json.RawMessage            // nil: the token names no actor
	carried  map[string]json.RawMessage // claims from a subject token
}

// claims returns the JSON payload of the token s describes.
func (s tokenSpec) claims() ([]byte, error) {
	body, err := json.Marshal(s.layout())
	if err != nil {
		return nil, fmt.Errorf("encode claims: %w", err)
	}
	return s.appendExtras(body), nil
}

// layout returns the claims of the profile's layout and token type.
func (s tokenSpec) layout() any {
	r, t := s.r, s.times
	if s.p.Claims == ProfileKongHeaders {
		var credential string
		if r.Credential != nil {
			credential = r.Credential.Identifier
		}
		return kongClaims{
			Iss: s.iss, Aud: r.Audience, Jti: s.jti,
			Iat: t.iat.Unix(), Nbf: t.iat.Add(-kongNBFLead).Unix(), Exp: t.exp.Unix(),
			ConsumerID:          orNone(r.Consumer.ID),
			ConsumerCustomID:    orNone(r.Consumer.CustomID),
			ConsumerUsername:    orNone(r.Consumer.Username),
			CredentialUsername:  orNone(credential),
			ConsumerGroups:      orNone(strings.Join(r.Groups, ",")),
			AuthenticatedScope:  orNone(strings.Join(r.Scopes, " ")),
			AuthenticatedUserID: orNone(r.AuthenticatedUserID),
		}
	}
	c := standardClaims{
		Iss: s.iss, Sub: r.Consumer.Subject(), Aud: r.Audience, Jti: s.jti,
		Iat: t.iat.Unix(), Nbf: t.nbf.Unix(), Exp: t.exp.Unix(),
		Consumer:            r.Consumer,
		Groups:              r.Groups,
		Scope:               strings.Join(r.Scopes, " "),
		Credential:          r.Credential,
		AuthenticatedUserID: r.AuthenticatedUserID,
		Request:             r.Request,
	}
	switch s.p.Type {
	case TypeAccessToken:
		c.ClientID = clientID(r)
	case TypeTxnToken:
		c.Txn = s.jti
	}
	return c
}

// clientID is the client_id of an RFC 9068 access token: the credential
// the consumer authenticated with, else the consumer itself.
func clientID(r *MintRequest) string {
	if c := r.Credential; c != nil && c.Identifier != "" {
		return c.Identifier
	}
	if c := r.Credential; c != nil && c.ID != "" {
		return c.ID
	}
	return r.Consumer.Subject()
}

// appendExtras adds to a JSON object the actor, the profile's static
// claims, the claims carried from a subject token and the request's custom
// claims. Names were checked against each other, so none repeats; a
// carried claim the profile sets statically is left out.
func (s tokenSpec) appendExtras(obj []byte) []byte {
	if s.act == nil && len(s.p.staticJSON) == 0 && len(s.carried) == 0 && len(s.r.Claims) == 0 {
		return obj
	}
	b := obj[:len(obj)-1] // drop the closing brace
	if s.act != nil {
		b = appendMember(b, "act", s.act)
	}
	b = append(b, s.p.staticJSON...)
	for _, name := range sortedNames(s.carried) {
		if !s.p.static(name) {
			b = appendMember(b, name, s.carried[name])
		}
	}
	var buf [fewClaims]string
	for _, name := range s.r.sortedClaimNames(buf[:]) {
		b = appendMember(b, name, s.r.Claims[name])
	}
	return append(b, '}')
}

// appendMember appends ,"name":value to the members of a JSON object.
func appendMember(b []byte, name string, value []byte) []byte {
	quoted, _ := json.Marshal(name) // a string always encodes
	b = append(append(append(b, ','), quoted...), ':')
	return append(b, value...)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// newJTI returns 128 random bits, base64url without padding.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
