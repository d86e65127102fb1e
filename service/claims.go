package service

import (
	"bytes"
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
// to be set by a request.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

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
			if strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}

// claimTimes are the time claims of one token.
type claimTimes struct {
	iat, nbf, exp time.Time
}

type standardClaims struct {
	Iss                 string      `json:"iss"`
	Sub                 string      `json:"sub"`
	Aud                 string      `json:"aud"`
	Iat                 int64       `json:"iat"`
	Nbf                 int64       `json:"nbf"`
	Exp                 int64       `json:"exp"`
	Jti                 string      `json:"jti"`
	Consumer            Consumer    `json:"consumer"`
	Groups              []string    `json:"groups,omitempty"`
	Scope               string      `json:"scope,omitempty"`
	Credential          *Credential `json:"credential,omitempty"`
	AuthenticatedUserID string      `json:"authenticated_userid,omitempty"`
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

// buildClaims returns the JSON payload of a token for r.
func buildClaims(p Profile, r *MintRequest, iss, aud, jti string, t claimTimes) ([]byte, error) {
	var v any
	switch p {
	case ProfileKongHeaders:
		var credential string
		if r.Credential != nil {
			credential = r.Credential.Identifier
		}
		v = kongClaims{
			Iss: iss, Aud: aud, Jti: jti,
			Iat: t.iat.Unix(), Nbf: t.iat.Add(-kongNBFLead).Unix(), Exp: t.exp.Unix(),
			ConsumerID:          orNone(r.Consumer.ID),
			ConsumerCustomID:    orNone(r.Consumer.CustomID),
			ConsumerUsername:    orNone(r.Consumer.Username),
			CredentialUsername:  orNone(credential),
			ConsumerGroups:      orNone(strings.Join(r.Groups, ",")),
			AuthenticatedScope:  orNone(strings.Join(r.Scopes, " ")),
			AuthenticatedUserID: orNone(r.AuthenticatedUserID),
		}
	default:
		v = standardClaims{
			Iss: iss, Sub: r.Consumer.Subject(), Aud: aud, Jti: jti,
			Iat: t.iat.Unix(), Nbf: t.nbf.Unix(), Exp: t.exp.Unix(),
			Consumer:            r.Consumer,
			Groups:              r.Groups,
			Scope:               strings.Join(r.Scopes, " "),
			Credential:          r.Credential,
			AuthenticatedUserID: r.AuthenticatedUserID,
		}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode claims: %w", err)
	}
	return appendClaims(body, r), nil
}

// appendClaims adds the request's custom claims to a JSON object, in name
// order. Names were checked against the reserved ones, so none repeats.
func appendClaims(obj []byte, r *MintRequest) []byte {
	if len(r.Claims) == 0 {
		return obj
	}
	var buf bytes.Buffer
	buf.Write(obj[:len(obj)-1]) // drop the closing brace
	for _, name := range r.sortedClaimNames() {
		quoted, _ := json.Marshal(name) // a string always encodes
		buf.WriteByte(',')
		buf.Write(quoted)
		buf.WriteByte(':')
		buf.Write(r.Claims[name])
	}
	buf.WriteByte('}')
	return buf.Bytes()
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
