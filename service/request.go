package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors of a mint request, mapped to statuses by the API.
var (
	// ErrInvalidRequest means the request is malformed; the wrapping error
	// says how, in words fit for the client.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrReservedClaim means a custom claim names one the token sets itself.
	ErrReservedClaim = errors.New("reserved claim")
)

// Consumer identifies who the token is for, as the gateway knows them.
type Consumer struct {
	ID       string `json:"id,omitempty"`
	Username string `json:"username,omitempty"`
	CustomID string `json:"custom_id,omitempty"`
}

// Subject is the token's sub: the id, else the username, else the custom id.
func (c Consumer) Subject() string {
	switch {
	case c.ID != "":
		return c.ID
	case c.Username != "":
		return c.Username
	}
	return c.CustomID
}

// Credential is the credential the consumer authenticated with.
type Credential struct {
	ID         string `json:"id,omitempty"`
	Identifier string `json:"identifier,omitempty"`
}

// MintRequest is everything a token is minted from. Equal requests get the
// same cached token.
type MintRequest struct {
	Consumer            Consumer                   `json:"consumer"`
	Groups              []string                   `json:"groups,omitempty"`
	Scopes              []string                   `json:"scopes,omitempty"`
	Credential          *Credential                `json:"credential,omitempty"`
	AuthenticatedUserID string                     `json:"authenticated_userid,omitempty"`
	Audience            string                     `json:"audience,omitempty"`
	Claims              map[string]json.RawMessage `json:"claims,omitempty"`
}

// Validate checks r against the rules of the profile it will be minted
// with. Its errors wrap ErrInvalidRequest or ErrReservedClaim.
func (r *MintRequest) Validate(p Profile) error {
	if r.Consumer.Subject() == "" {
		return invalid("consumer needs at least one of id, username and custom_id")
	}
	fields := []struct{ name, value string }{
		{"consumer.id", r.Consumer.ID},
		{"consumer.username", r.Consumer.Username},
		{"consumer.custom_id", r.Consumer.CustomID},
		{"authenticated_userid", r.AuthenticatedUserID},
		{"audience", r.Audience},
	}
	if r.Credential != nil {
		fields = append(fields,
			struct{ name, value string }{"credential.id", r.Credential.ID},
			struct{ name, value string }{"credential.identifier", r.Credential.Identifier})
	}
	for _, f := range fields {
		if err := checkText(f.name, f.value); err != nil {
			return err
		}
	}
	for _, list := range []struct {
		name   string
		values []string
	}{{"groups", r.Groups}, {"scopes", r.Scopes}} {
		for i, v := range list.values {
			if v == "" {
				return invalid("%s[%d] is empty", list.name, i)
			}
			if err := checkText(fmt.Sprintf("%s[%d]", list.name, i), v); err != nil {
				return err
			}
		}
	}
	for _, s := range r.Scopes {
		if strings.ContainsFunc(s, unicode.IsSpace) {
			return invalid("a scope must not contain white space: %q", s)
		}
	}
	return r.checkClaims(p)
}

// checkClaims refuses reserved names and compacts each value, so that the
// same claims written with other spacing mint the same token.
func (r *MintRequest) checkClaims(p Profile) error {
	for name, raw := range r.Claims {
		if name == "" {
			return invalid("a claim name is empty")
		}
		if err := checkText("claim name", name); err != nil {
			return err
		}
		if p.reserved(name) {
			return fmt.Errorf("%w: %q is set by jwt-up itself and cannot be overridden", ErrReservedClaim, name)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return invalid("claim %q is not valid JSON", name)
		}
		r.Claims[name] = buf.Bytes()
	}
	return nil
}

// checkText refuses invalid UTF-8 and control characters.
func checkText(name, v string) error {
	if !utf8.ValidString(v) {
		return invalid("%s is not valid UTF-8", name)
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return invalid("%s contains a control character", name)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// sortedClaimNames returns the custom claim names in a stable order.
func (r *MintRequest) sortedClaimNames() []string {
	names := make([]string, 0, len(r.Claims))
	for n := range r.Claims {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
