package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// BoundRequest is the request a bound token is for: the upstream checks
// that the request it receives is this one.
type BoundRequest struct {
	Method     string `json:"method" example:"POST"`
	Path       string `json:"path" example:"/orders?dry_run=1"`
	BodySHA256 string `json:"body_sha256" example:"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"` // base64url, hex or base64
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
	Claims              map[string]json.RawMessage `json:"claims,omitempty" swaggertype:"object"`
	// SubjectToken is a compact JWS from a trusted issuer to re-sign; with
	// it, consumer may be left out.
	SubjectToken string `json:"subject_token,omitempty"`
	// Request binds the token to one request, for audiences whose profile
	// binds tokens.
	Request *BoundRequest `json:"request,omitempty"`
}

// Validate checks r against the rules of the claim layout p with the
// default token type, and against the limits in limits.go. Its errors wrap
// ErrInvalidRequest or ErrReservedClaim.
func (r *MintRequest) Validate(p Profile) error {
	return r.validate(&profile{AudienceProfile: AudienceProfile{Claims: p, Type: TypeJWT}})
}

// validate checks r against the audience profile p, and against the
// limits in limits.go.
func (r *MintRequest) validate(p *profile) error {
	if r.Consumer.Subject() == "" && r.SubjectToken == "" {
		return invalid("consumer needs at least one of id, username and custom_id")
	}
	if len(r.SubjectToken) > MaxSubjectToken {
		return invalid("subject_token is longer than %d bytes", MaxSubjectToken)
	}
	if err := r.checkFields(); err != nil {
		return err
	}
	if err := r.checkBinding(p); err != nil {
		return err
	}

	if err := checkList("groups", r.Groups, MaxGroups); err != nil {
		return err
	}
	if err := checkList("scopes", r.Scopes, MaxScopes); err != nil {
		return err
	}
	for i, s := range r.Scopes {
		if strings.ContainsFunc(s, unicode.IsSpace) {
			return invalid("scopes[%d] contains white space: a scope is one word", i)
		}
	}
	return r.checkClaims(p)
}

// checkBinding requires the bound request of an audience that binds tokens,
// and refuses one for an audience that does not. The body digest may come
// as base64url, base64 or hex; it is kept as base64url without padding.
func (r *MintRequest) checkBinding(p *profile) error {
	switch {
	case r.Request == nil && p.Binding:
		return invalid("audience %s binds tokens to a request: give request.method, request.path and request.body_sha256",
			QuoteText(r.Audience))
	case r.Request == nil:
		return nil
	case !p.Binding:
		return invalid("audience %s does not bind tokens to a request: leave request out", QuoteText(r.Audience))
	}
	b := *r.Request // the caller's copy stays as it was
	r.Request = &b
	if b.Method == "" || strings.ContainsFunc(b.Method, notTokenChar) || len(b.Method) > 32 {
		return invalid("request.method must be an HTTP method such as GET or POST")
	}
	if !strings.HasPrefix(b.Path, "/") {
		return invalid("request.path must start with /")
	}
	if err := checkText("request.path", b.Path, MaxPathLength); err != nil {
		return err
	}
	sum, ok := decodeSHA256(b.BodySHA256)
	if !ok {
		return invalid("request.body_sha256 must be a SHA-256 digest in base64url, base64 or hex")
	}
	b.BodySHA256 = base64.RawURLEncoding.EncodeToString(sum)
	return nil
}

// notTokenChar reports whether c may not appear in an HTTP method.
func notTokenChar(c rune) bool {
	return c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
}

// decodeSHA256 reads a SHA-256 digest in hex, base64url or base64, with or
// without padding.
func decodeSHA256(s string) ([]byte, bool) {
	if len(s) == 2*sha256.Size {
		b, err := hex.DecodeString(s)
		return b, err == nil
	}
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == sha256.Size {
			return b, true
		}
	}
	return nil, false
}

// QuoteText quotes client text for an error detail, cut to a length that
// keeps the detail readable.
func QuoteText(s string) string {
	const most = 64
	if len(s) <= most {
		return strconv.Quote(s)
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// checkFields checks the single text fields.
func (r *MintRequest) checkFields() error {
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
		if err := checkText(f.name, f.value, MaxTextLength); err != nil {
			return err
		}
	}
	return nil
}

// checkList checks the groups or the scopes: at most most entries, none
// empty, each a short text.
func checkList(name string, values []string, most int) error {
	if len(values) > most {
		return invalid("%s has %d entries, more than the %d allowed", name, len(values), most)
	}
	for i, v := range values {
		if v == "" {
			return invalid("%s[%d] is empty", name, i)
		}
		if fault := textFault(v, MaxEntryLength); fault != "" {
			return invalid("%s[%d] %s", name, i, fault)
		}
	}
	return nil
}

// checkClaims refuses reserved names, names off the profile's allow-list
// and values over the limits, and compacts each value, so that the same
// claims written with other spacing mint the same token. Names are checked
// in order, so that a request with several faults always gets the same
// answer.
func (r *MintRequest) checkClaims(p *profile) error {
	if len(r.Claims) > MaxClaims {
		return invalid("claims has %d entries, more than the %d allowed", len(r.Claims), MaxClaims)
	}
	var buf [fewClaims]string
	for _, name := range r.sortedClaimNames(buf[:]) {
		if name == "" {
			return invalid("a claim name is empty")
		}
		if err := checkText("a claim name", name, MaxClaimNameLength); err != nil {
			return err
		}
		if p.reserved(name) || p.static(name) {
			return fmt.Errorf("%w: %q is set by jwt-up itself and cannot be overridden", ErrReservedClaim, name)
		}
		if p.allowed != nil && !p.allowed[name] {
			return fmt.Errorf("%w: the profile of audience %s does not let a request set %q",
				ErrClaimNotAllowed, QuoteText(r.Audience), name)
		}
		value, err := compactClaim(name, r.Claims[name])
		if err != nil {
			return err
		}
		r.Claims[name] = value
	}
	return nil
}

// fewClaims is how many custom claims a request usually has at most: their
// names are sorted without an allocation.
const fewClaims = 8

// compactClaim returns a claim's value without white space outside its
// strings, refusing one that is not JSON, too large or nested too deep.
func compactClaim(name string, raw json.RawMessage) (json.RawMessage, error) {
	if plainScalar(raw) {
		return raw, nil // compact, valid and within the limits as it is
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalid("claim %q is not valid JSON", name)
	}
	if buf.Len() > MaxClaimValueSize {
		return nil, invalid("claim %q is %d bytes, more than the %d allowed", name, buf.Len(), MaxClaimValueSize)
	}
	if d := jsonDepth(buf.Bytes()); d > MaxClaimDepth {
		return nil, invalid("claim %q nests %d levels deep, more than the %d allowed", name, d, MaxClaimDepth)
	}
	return buf.Bytes(), nil
}

// plainScalar reports whether raw is true, false, null or a string with no
// escape and no control character, of at most MaxClaimValueSize bytes: the
// usual claim value, which compacting would only copy.
func plainScalar(raw []byte) bool {
	switch string(raw) {
	case "true", "false", "null":
		return true
	}
	if len(raw) < 2 || len(raw) > MaxClaimValueSize || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '"' || c == '\\' || c < 0x20 {
			return false
		}
	}
	return true
}

// jsonDepth returns how deep arrays and objects nest in a JSON value: 0 for
// a string or number, 1 for [1] or {"a":1}. json.Compact checks the syntax
// but, like json.Unmarshal, accepts thousands of levels, so the depth is
// counted here, skipping brackets inside strings.
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// checkText refuses text longer than most bytes, invalid UTF-8 and control
// characters.
func checkText(name, v string, most int) error {
	if fault := textFault(v, most); fault != "" {
		return invalid("%s %s", name, fault)
	}
	return nil
}

// textFault says what is wrong with v, or "" when nothing is. It builds no
// string for a good value: it runs on every field of every request.
func textFault(v string, most int) string {
	switch {
	case len(v) > most:
		return fmt.Sprintf("is longer than %d bytes", most)
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	case strings.ContainsFunc(v, unicode.IsControl):
		return "contains a control character"
	}
	return ""
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// sortedClaimNames returns the custom claim names in a stable order,
// appended to buf: a caller's array of a few names keeps the usual request
// from allocating for them.
func (r *MintRequest) sortedClaimNames(buf []string) []string {
	names := buf[:0]
	for n := range r.Claims {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
