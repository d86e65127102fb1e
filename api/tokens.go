package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	gojson "github.com/goccy/go-json"

	"github.com/jwt-up/jwt-up/service"
)

// maxBody is the largest mint request accepted.
const maxBody = 64 << 10

// TokenResponse is the answer to a mint.
type TokenResponse struct {
	Token     string `json:"token" example:"eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9..."`
	TokenType string `json:"token_type" example:"Bearer"`
	ExpiresIn int64  `json:"expires_in" example:"299"`
	ExpiresAt string `json:"expires_at" example:"2026-12-03T17:05:00Z"`
	KID       string `json:"kid" example:"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"`
}

// postToken mints a token for the consumer the gateway describes.
//
//	@Summary		Mint a token
//	@Description	Returns a signed JWT for the consumer: the cached one while it has more than the refresh margin left, else a new one. Equal inputs give the same token. The audience's profile (docs/profiles.md) sets the token's lifetime, typ and static claims, and which custom claims a request may set. With subject_token, an incoming token from a trusted issuer is verified and re-signed (docs/exchange.md); consumer may then be left out. An audience whose profile binds tokens needs request, and its tokens are never cached.
//	@Tags			minting
//	@Accept			json
//	@Produce		json
//	@Param			request	body		service.MintRequest	true	"who the token is for"
//	@Success		200		{object}	TokenResponse
//	@Failure		400		{object}	Problem	"malformed JSON or UTF-8, unknown field, wrong type, a name given twice in one object, empty consumer, or a value over a limit"
//	@Failure		401		{object}	Problem	"missing or wrong gateway key, or a subject token that does not verify (type urn:jwt-up:problem:invalid-subject-token)"
//	@Failure		403		{object}	Problem	"an audience without a profile while unknown_audience is deny"
//	@Failure		429		{object}	Problem	"too many failed authentications from this address; see Retry-After"
//	@Failure		413		{object}	Problem	"body over 64 KiB"
//	@Failure		415		{object}	Problem	"not application/json"
//	@Failure		422		{object}	Problem	"a custom claim names a claim the token sets itself, or one the audience's profile does not allow"
//	@Failure		503		{object}	Problem	"no usable signing key, or the keys of a subject token's issuer could not be fetched"
//	@Security		GatewayKey
//	@Router			/v1/tokens [post]
func (h *handler) postToken(c *gin.Context) {
	var req service.MintRequest
	if kind, detail := decodeJSON(c.Request, &req); detail != "" {
		abortProblem(c, kind, detail)
		return
	}

	t, err := h.minter.Mint(c.Request.Context(), req)
	h.logSubject(c, req, err)
	if err != nil {
		abortError(c, err)
		return
	}
	noStore(c)
	c.Writer.Header()["Content-Type"] = jsonContentType
	c.Status(http.StatusOK)
	buf := answerBufs.Get().(*[]byte)
	*buf = appendTokenResponse((*buf)[:0], t)
	_, _ = c.Writer.Write(*buf) // a failed write is the client's loss
	if cap(*buf) <= maxPooledAnswer {
		answerBufs.Put(buf)
	}
}

// answerBufs recycles the buffers token answers are written into: Write
// copies an answer into the connection's buffer, so a buffer is free again
// once it returns. An answer is about as long as its token.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledAnswer bounds the buffers kept: the rare answer with a token of
// many claims should not keep its large buffer alive.
const maxPooledAnswer = 16 << 10

// jsonContentType is the Content-Type of a token answer, shared: net/http
// only reads it.
var jsonContentType = []string{"application/json; charset=utf-8"}

// appendTokenResponse writes the TokenResponse of t as JSON without
// reflection: this answer is the hot path. A compact JWS and a kid are
// base64url and dots, so they need no escaping.
func appendTokenResponse(b []byte, t service.Minted) []byte {
	b = append(b, `{"token":"`...)
	b = append(b, t.Token...)
	b = append(b, `","token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, t.ExpiresIn, 10)
	b = append(b, `,"expires_at":"`...)
	b = t.ExpiresAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","kid":"`...)
	b = append(b, t.KID...)
	return append(b, `"}`...)
}

// logSubject records the subject for the access line, unless the request
// was refused as invalid: its subject may then be of any length and hold
// control characters or a secret pasted in the wrong field. Validate checks
// the consumer before anything else, so a later refusal (a reserved claim,
// no signing key) still names a checked subject.
func (h *handler) logSubject(c *gin.Context, req service.MintRequest, err error) {
	if err == nil && !h.cfg.Logger.Enabled(c.Request.Context(), slog.LevelInfo) {
		return // a success is logged at info: no line will carry it
	}
	if sub := req.Consumer.Subject(); sub != "" && !errors.Is(err, service.ErrInvalidRequest) {
		c.Set(subjectKey, sub)
	}
}

// decodeJSON reads a mint request, one JSON object of at most maxBody bytes,
// into req, refusing unknown fields, trailing data, invalid UTF-8 and names
// that appear twice in one object. On failure it returns the problem kind
// and a detail for the client.
func decodeJSON(r *http.Request, req *service.MintRequest) (problemKind, string) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" { // the common case needs no parsing
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return probMediaType, "the body must be application/json"
		}
	}
	if r.ContentLength > maxBody {
		return probTooLarge, fmt.Sprintf("the body must be at most %d bytes", maxBody)
	}

	// The body is read whole: the plain decoder may leave it to the general
	// path, which scans it twice, once decoded and once for repeated names,
	// which decoding cannot see.
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		return probTooLarge, fmt.Sprintf("the body must be at most %d bytes", maxBody)
	}
	if err != nil {
		return probInvalid, "the body could not be read"
	}
	// encoding/json would turn invalid UTF-8 in a string into U+FFFD, and
	// keep it as is inside a claim's raw value.
	if !utf8.Valid(data) {
		return probInvalid, "the body is not valid UTF-8"
	}

	if decodePlainMint(data, req) {
		return problemKind{}, ""
	}
	// A request of its own for the general decoders, which take it as an
	// interface and so move it to the heap: a plain body does not pay.
	general := new(service.MintRequest)
	if err := decodeBody(data, general); err != nil {
		return probInvalid, decodeDetail(err)
	}
	*req = *general
	if name, ok := duplicateName(data); ok {
		return probInvalid, fmt.Sprintf("the name %s appears twice in one object", service.QuoteText(name))
	}
	return problemKind{}, ""
}

// decodeBody decodes data, a whole body, into v, which must point to a
// struct, refusing unknown fields and trailing data.
//
// Past the plain decoder, go-json decodes a mint request in a third of the
// time encoding/json takes. But go-json is lenient where the standard is
// not (it takes a raw line break inside a string) and names a field that
// has the wrong type by its Go name. So a body goes to go-json only once
// encoding/json's scanner has found it valid, and any body go-json refuses
// is decoded again by encoding/json, whose error names the fault in the
// client's terms. FuzzDecodeBody holds the two to the same result.
func decodeBody(data []byte, v any) error {
	if json.Valid(data) {
		dec := gojson.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if dec.Decode(v) == nil {
			return nil
		}
		reflect.ValueOf(v).Elem().SetZero() // undo what go-json decoded
	}
	return decodeStandard(data, v)
}

// decodeStandard is decodeBody with encoding/json alone.
func decodeStandard(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return endOfBody(dec)
}

// endOfBody reports an error unless dec has nothing left but white space.
func endOfBody(dec *json.Decoder) error {
	if dec.More() {
		return errors.New("trailing data")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// duplicateName returns a name that appears twice in one object anywhere
// in data, which must be valid JSON. encoding/json keeps the last of two
// equal names and other parsers keep the first or refuse, so a token built
// from such a body could mean one thing here and another upstream. Names
// are compared without regard to case, the way encoding/json matches them
// to struct fields (and so does any Go upstream decoding the claims).
//
// Bodies are small and their names plain ASCII: those are compared in
// place, without an allocation; a body with an escaped or non-ASCII name,
// or with many names, goes through Unicode case folding.
func duplicateName(data []byte) (string, bool) {
	if name, dup, ok := duplicatePlainName(data); ok {
		return name, dup
	}
	return duplicateFoldedName(data)
}

// plainNames is how many names duplicatePlainName compares pairwise.
const plainNames = 32

// duplicatePlainName is duplicateName for bodies whose names are all
// unescaped ASCII, at most plainNames of them; ok is false for any other.
// For ASCII, bytes.EqualFold is the same comparison as encoding/json's.
func duplicatePlainName(data []byte) (name string, dup, ok bool) {
	type member struct {
		object  int
		literal []byte
	}
	var (
		names [plainNames]member
		n     int
	)
	ok = eachName(data, func(object int, literal []byte) bool {
		if n == plainNames || !plainASCII(literal) {
			return false
		}
		for _, m := range names[:n] {
			if m.object == object && bytes.EqualFold(m.literal, literal) {
				name, dup = string(literal[1:len(literal)-1]), true
				return false
			}
		}
		names[n] = member{object, literal}
		n++
		return true
	})
	return name, dup, ok || dup
}

// duplicateFoldedName is duplicateName for any body: it folds every name
// the way encoding/json matches names to fields.
func duplicateFoldedName(data []byte) (string, bool) {
	type member struct {
		object int // which object: its number in order of opening
		name   string
	}
	seen := map[member]bool{}
	var found string
	clean := eachName(data, func(object int, literal []byte) bool {
		name := unquote(literal)
		m := member{object, strings.Map(foldRune, name)}
		if seen[m] {
			found = name
			return false
		}
		seen[m] = true
		return true
	})
	return found, !clean
}

// eachName calls fn with every object member name in data, which must be
// valid JSON, as its quoted literal and the number of its object in order
// of opening, until fn returns false; it reports whether fn never did.
//
// Since data is valid JSON, a string that follows "{" or a "," inside an
// object is a name, and numbers and literals hold no quote or bracket: a
// single pass over the bytes finds every name.
func eachName(data []byte, fn func(object int, literal []byte) bool) bool {
	var (
		stack    [16]int
		open     = stack[:0] // the numbers of the open objects; -1 for an array
		objects  int         // objects opened so far
		wantName bool        // the next string is a name
	)
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			end := stringEnd(data, i)
			if wantName {
				if !fn(open[len(open)-1], data[i:end+1]) {
					return false
				}
				wantName = false
			}
			i = end
		case '{':
			open = append(open, objects)
			objects++
			wantName = true
		case '[':
			open = append(open, -1)
		case ',':
			wantName = open[len(open)-1] >= 0
		case '}', ']':
			open = open[:len(open)-1]
		}
	}
	return true
}

// plainASCII reports whether a quoted literal holds only ASCII and no
// escape.
func plainASCII(literal []byte) bool {
	for _, c := range literal {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// stringEnd returns the index of the quote that closes the JSON string
// starting at data[start].
func stringEnd(data []byte, start int) int {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data) - 1
}

// unquote returns the text of a JSON string literal.
func unquote(literal []byte) string {
	if !bytes.ContainsRune(literal, '\\') {
		return string(literal[1 : len(literal)-1])
	}
	var s string
	_ = json.Unmarshal(literal, &s) // valid: the body decoded already
	return s
}

// foldRune maps r to one member of its Unicode case-folding orbit, the
// same for every member, so that names strings.EqualFold holds equal map
// to one string. An orbit with an ASCII letter maps to the lower-case
// letter (K, k and the Kelvin sign all become k), so that the usual
// lower-case names map to themselves, without a copy.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return unicode.ToLower(r)
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	if least < utf8.RuneSelf {
		return unicode.ToLower(least)
	}
	return least
}

// decodeDetail turns a decoding error into words for the client.
func decodeDetail(err error) string {
	var (
		typeErr *json.UnmarshalTypeError
		syntax  *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return "the body must be a JSON object"
		}
		return fmt.Sprintf("field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntax) && strings.Contains(syntax.Error(), "max depth"):
		return fmt.Sprintf("the body nests too deeply; a claim value may nest at most %d levels", service.MaxClaimDepth)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is not valid JSON"
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if name, uerr := strconv.Unquote(field); uerr == nil {
			field = service.QuoteText(name)
		}
		return "unknown field " + field
	case err.Error() == "trailing data":
		return "the body must hold one JSON object and nothing after it"
	}
	return "the body could not be read as a mint request"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "of another type"
}

// The headers Kong's authentication plugins set, and the ones jwt-up reads
// alongside them.
const (
	hdrConsumerID      = "X-Consumer-ID"
	hdrConsumerName    = "X-Consumer-Username"
	hdrConsumerCustom  = "X-Consumer-Custom-ID"
	hdrGroups          = "X-Consumer-Groups"
	hdrCredential      = "X-Credential-Identifier"
	hdrCredentialOld   = "X-Credential-Username"
	hdrScope           = "X-Authenticated-Scope"
	hdrUserID          = "X-Authenticated-Userid"
	hdrAnonymous       = "X-Anonymous-Consumer"
	hdrAudience        = "X-JWT-Audience"
	hdrForwardedMethod = "X-Forwarded-Method"
	hdrForwardedURI    = "X-Forwarded-Uri"
	hdrExpiresIn       = "X-JWT-Expires-In"

	// canonicalExpiresIn is hdrExpiresIn as net/http keys it.
	canonicalExpiresIn = "X-Jwt-Expires-In"
)

// forwardAuth mints a token from Kong-style consumer headers, for nginx
// auth_request, Traefik ForwardAuth, Envoy ext_authz and Kong functions.
//
//	@Summary		Forward-auth: mint from consumer headers
//	@Description	Reads the consumer from the headers Kong's authentication plugins set and answers 200 with the token in a response header (Authorization by default) and X-JWT-Expires-In. Any method is accepted, and any path below /v1/auth, so Envoy's path prefix works. A consumer Kong marked anonymous (X-Anonymous-Consumer: true) counts as no identity.
//	@Tags			minting
//	@Param			X-Consumer-ID			header	string	false	"consumer id"
//	@Param			X-Consumer-Username		header	string	false	"consumer username"
//	@Param			X-Consumer-Custom-ID	header	string	false	"consumer custom id"
//	@Param			X-Consumer-Groups		header	string	false	"comma-separated groups"
//	@Param			X-Credential-Identifier	header	string	false	"credential identifier (older Kong: X-Credential-Username)"
//	@Param			X-Authenticated-Scope	header	string	false	"space-separated scopes"
//	@Param			X-Authenticated-Userid	header	string	false	"authenticated user id"
//	@Param			X-JWT-Audience			header	string	false	"audience; default: the configured one"
//	@Param			X-Subject-Token			header	string	false	"an incoming token to re-sign, bare or after Bearer (header name configurable)"
//	@Param			X-Forwarded-Method		header	string	false	"method of the request to bind the token to"
//	@Param			X-Forwarded-Uri			header	string	false	"path and query of the request to bind the token to"
//	@Param			X-Body-SHA256			header	string	false	"SHA-256 of the body of the request to bind the token to, hex or base64url; its presence asks for a bound token (header name configurable)"
//	@Success		200	"token in the Authorization response header (name configurable)"
//	@Header			200	{string}	Authorization		"Bearer <token>"
//	@Header			200	{integer}	X-JWT-Expires-In	"seconds the token has left"
//	@Failure		400	{object}	Problem	"a header is given twice, is not UTF-8, holds a control character or is over a limit"
//	@Failure		401	{object}	Problem	"missing or wrong gateway key, no identity header, or a subject token that does not verify"
//	@Failure		403	{object}	Problem	"an audience without a profile while unknown_audience is deny"
//	@Failure		429	{object}	Problem	"too many failed authentications from this address; see Retry-After"
//	@Failure		503	{object}	Problem	"no usable signing key, or the keys of a subject token's issuer could not be fetched"
//	@Security		GatewayKey
//	@Router			/v1/auth [get]
func (h *handler) forwardAuth(c *gin.Context) {
	req, err := h.requestFromHeaders(c.Request.Header)
	if err != nil {
		abortProblem(c, probInvalid, err.Error())
		return
	}
	if req.Consumer.Subject() == "" && req.SubjectToken == "" {
		if h.cfg.Anonymous {
			c.Status(http.StatusOK)
			return
		}
		c.Header("WWW-Authenticate", `Bearer realm="consumer"`)
		abortProblem(c, probUnauthorized, "no consumer identity header (X-Consumer-ID, X-Consumer-Username or X-Consumer-Custom-ID) and no "+
			h.cfg.SubjectTokenHeader)
		return
	}

	t, err := h.minter.Mint(c.Request.Context(), req)
	h.logSubject(c, req, err)
	if err != nil {
		abortError(c, err)
		return
	}
	noStore(c)
	// One array holds both values, which net/http only reads. The names
	// are canonical already: nothing rewrites them per request.
	values := []string{"Bearer " + t.Token, strconv.FormatInt(t.ExpiresIn, 10)}
	hd := c.Writer.Header()
	hd[h.authHeader] = values[:1:1]
	hd[canonicalExpiresIn] = values[1:]
	c.Status(http.StatusOK)
}

// The request headers /v1/auth reads, by their place in forwardFields and
// forwardValues.
const (
	fwdConsumerID = iota
	fwdConsumerName
	fwdConsumerCustom
	fwdGroups
	fwdCredential
	fwdCredentialOld
	fwdScope
	fwdUserID
	fwdAnonymous
	fwdAudience
	fwdForwardedMethod
	fwdForwardedURI
	fwdSubjectToken // its name is a setting
	fwdBodyDigest   // so is this one's
	numForwarded
)

// forwardHeaders names the request headers /v1/auth reads, but for the
// subject token and body digest headers, whose names are settings.
var forwardHeaders = [numForwarded]string{
	fwdConsumerID:      hdrConsumerID,
	fwdConsumerName:    hdrConsumerName,
	fwdConsumerCustom:  hdrConsumerCustom,
	fwdGroups:          hdrGroups,
	fwdCredential:      hdrCredential,
	fwdCredentialOld:   hdrCredentialOld,
	fwdScope:           hdrScope,
	fwdUserID:          hdrUserID,
	fwdAnonymous:       hdrAnonymous,
	fwdAudience:        hdrAudience,
	fwdForwardedMethod: hdrForwardedMethod,
	fwdForwardedURI:    hdrForwardedURI,
}

// textHeaders are the headers held to service.MaxTextLength here; lists
// are held to their own limits, and the service checks the rest.
var textHeaders = []string{hdrConsumerID, hdrConsumerName, hdrConsumerCustom, hdrCredential,
	hdrCredentialOld, hdrUserID, hdrAnonymous, hdrAudience, hdrForwardedMethod}

// forwardField is a request header /v1/auth reads.
type forwardField struct {
	name string // as the client is told of it
	key  string // name as net/http keys it; canonicalising anew allocates
	text bool   // held to service.MaxTextLength
}

// forwardFields are the request headers /v1/auth reads, in the order they
// are checked.
type forwardFields [numForwarded]forwardField

// newForwardFields returns the headers /v1/auth reads, with the subject
// token and body digest headers named as set.
func newForwardFields(subjectToken, bodyDigest string) forwardFields {
	names := forwardHeaders
	names[fwdSubjectToken], names[fwdBodyDigest] = subjectToken, bodyDigest
	var f forwardFields
	for i, name := range names {
		f[i] = forwardField{name: name, key: http.CanonicalHeaderKey(name),
			text: slices.Contains(textHeaders, name)}
	}
	return f
}

// forwardValues holds the first value of each header /v1/auth reads, in
// the places of forwardFields; "" for a header not given.
type forwardValues [numForwarded]string

// read returns the values of the headers f names, refusing one that is
// given more than once (which of two consumer ids would be meant?), is not
// valid UTF-8, holds a control character, or is a text header longer than
// service.MaxTextLength. The first such header in f's order is the one
// named.
func (f *forwardFields) read(hd http.Header) (forwardValues, error) {
	var v forwardValues
	for i := range f {
		values := hd[f[i].key]
		switch {
		case len(values) == 0:
			continue
		case len(values) > 1:
			return v, fmt.Errorf("header %s is given %d times; send it once", f[i].name, len(values))
		case !utf8.ValidString(values[0]):
			return v, fmt.Errorf("header %s is not valid UTF-8", f[i].name)
		case strings.ContainsFunc(values[0], unicode.IsControl):
			return v, fmt.Errorf("header %s contains a control character", f[i].name)
		case f[i].text && len(values[0]) > service.MaxTextLength:
			return v, fmt.Errorf("header %s is longer than %d bytes", f[i].name, service.MaxTextLength)
		}
		v[i] = values[0]
	}
	return v, nil
}

// requestFromHeaders builds a mint request from consumer headers. Its
// errors are written for the client and name the header.
func (h *handler) requestFromHeaders(hd http.Header) (service.MintRequest, error) {
	v, err := h.forwarded.read(hd)
	if err != nil {
		return service.MintRequest{}, err
	}

	var req service.MintRequest
	if !strings.EqualFold(v[fwdAnonymous], "true") {
		req.Consumer = service.Consumer{
			ID:       v[fwdConsumerID],
			Username: v[fwdConsumerName],
			CustomID: v[fwdConsumerCustom],
		}
	}
	groups := v[fwdGroups]
	req.Groups, err = headerList(hdrGroups, strings.SplitSeq(groups, ","),
		strings.Count(groups, ",")+1, service.MaxGroups)
	if err != nil {
		return service.MintRequest{}, err
	}
	// RFC 6749 separates scopes by spaces, so counting them bounds the
	// list; other white space only costs growing it.
	scopes := v[fwdScope]
	req.Scopes, err = headerList(hdrScope, strings.FieldsSeq(scopes),
		strings.Count(scopes, " ")+1, service.MaxScopes)
	if err != nil {
		return service.MintRequest{}, err
	}

	credential := v[fwdCredential]
	if credential == "" {
		credential = v[fwdCredentialOld]
	}
	if credential != "" {
		req.Credential = &service.Credential{Identifier: credential}
	}
	req.AuthenticatedUserID = v[fwdUserID]
	req.Audience = v[fwdAudience]
	req.SubjectToken = v[fwdSubjectToken]
	if token, ok := bearer(req.SubjectToken); ok {
		req.SubjectToken = token
	}
	req.Request = boundRequest(&v)
	return req, nil
}

// boundRequest reads the request a token is to be bound to from the
// forwarded method, URI and body digest headers. The body digest header is
// the sign that binding is meant: other proxies send the forwarded method
// and URI on every request.
func boundRequest(v *forwardValues) *service.BoundRequest {
	if v[fwdBodyDigest] == "" {
		return nil
	}
	return &service.BoundRequest{
		Method:     v[fwdForwardedMethod],
		Path:       v[fwdForwardedURI],
		BodySHA256: v[fwdBodyDigest],
	}
}

// headerList collects the entries of a list header, trimmed and without
// empty ones, refusing more than most of them or one longer than
// service.MaxEntryLength. It stops at the first fault, so a long header
// costs no more than its limit. Its list, nil when there are no entries,
// is made once with room for size entries (at most most): a bound on their
// number saves growing it.
func headerList(name string, entries iter.Seq[string], size, most int) ([]string, error) {
	var out []string
	for e := range entries {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if len(out) == most {
			return nil, fmt.Errorf("header %s lists more than %d entries", name, most)
		}
		if len(e) > service.MaxEntryLength {
			return nil, fmt.Errorf("header %s holds an entry longer than %d bytes", name, service.MaxEntryLength)
		}
		if out == nil {
			out = make([]string, 0, min(size, most))
		}
		out = append(out, e)
	}
	return out, nil
}
