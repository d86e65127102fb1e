package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

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
//	@Description	Returns a signed JWT for the consumer: the cached one while it has more than the refresh margin left, else a new one. Equal inputs give the same token.
//	@Tags			minting
//	@Accept			json
//	@Produce		json
//	@Param			request	body		service.MintRequest	true	"who the token is for"
//	@Success		200		{object}	TokenResponse
//	@Failure		400		{object}	Problem	"malformed JSON, unknown field, wrong type or empty consumer"
//	@Failure		401		{object}	Problem	"missing or wrong gateway key"
//	@Failure		413		{object}	Problem	"body over 64 KiB"
//	@Failure		415		{object}	Problem	"not application/json"
//	@Failure		422		{object}	Problem	"a custom claim names a claim the token sets itself"
//	@Failure		503		{object}	Problem	"no usable signing key"
//	@Security		GatewayKey
//	@Router			/v1/tokens [post]
func (h *handler) postToken(c *gin.Context) {
	var req service.MintRequest
	if kind, detail := decodeJSON(c.Request, &req); detail != "" {
		abortProblem(c, kind, detail)
		return
	}
	if sub := req.Consumer.Subject(); sub != "" {
		c.Set(subjectKey, sub)
	}

	t, err := h.minter.Mint(c.Request.Context(), req)
	if err != nil {
		abortError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, TokenResponse{
		Token:     t.Token,
		TokenType: "Bearer",
		ExpiresIn: t.ExpiresIn,
		ExpiresAt: t.ExpiresAt.UTC().Format(time.RFC3339),
		KID:       t.KID,
	})
}

// decodeJSON reads one JSON object of at most maxBody bytes into v, refusing
// unknown fields and trailing data. On failure it returns the problem kind
// and a detail for the client.
func decodeJSON(r *http.Request, v any) (problemKind, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return probMediaType, "the body must be application/json"
	}
	if r.ContentLength > maxBody {
		return probTooLarge, fmt.Sprintf("the body must be at most %d bytes", maxBody)
	}

	body := http.MaxBytesReader(nil, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		return probTooLarge, fmt.Sprintf("the body must be at most %d bytes", maxBody)
	}
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return problemKind{}, ""
		}
		err = errors.New("trailing data")
	}
	return probInvalid, decodeDetail(err)
}

// decodeDetail turns a decoding error into words for the client.
func decodeDetail(err error) string {
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Sprintf("the body must be at most %d bytes", maxBody)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return "the body must be a JSON object"
		}
		return fmt.Sprintf("field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is not valid JSON"
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
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
	hdrConsumerID     = "X-Consumer-ID"
	hdrConsumerName   = "X-Consumer-Username"
	hdrConsumerCustom = "X-Consumer-Custom-ID"
	hdrGroups         = "X-Consumer-Groups"
	hdrCredential     = "X-Credential-Identifier"
	hdrCredentialOld  = "X-Credential-Username"
	hdrScope          = "X-Authenticated-Scope"
	hdrUserID         = "X-Authenticated-Userid"
	hdrAnonymous      = "X-Anonymous-Consumer"
	hdrAudience       = "X-JWT-Audience"
	hdrExpiresIn      = "X-JWT-Expires-In"
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
//	@Success		200	"token in the Authorization response header (name configurable)"
//	@Header			200	{string}	Authorization		"Bearer <token>"
//	@Header			200	{integer}	X-JWT-Expires-In	"seconds the token has left"
//	@Failure		400	{object}	Problem	"a header holds a control character"
//	@Failure		401	{object}	Problem	"missing or wrong gateway key, or no identity header"
//	@Failure		503	{object}	Problem	"no usable signing key"
//	@Security		GatewayKey
//	@Router			/v1/auth [get]
func (h *handler) forwardAuth(c *gin.Context) {
	req, err := requestFromHeaders(c.Request.Header)
	if err != nil {
		abortProblem(c, probInvalid, err.Error())
		return
	}
	if req.Consumer.Subject() == "" {
		if h.cfg.Anonymous {
			c.Status(http.StatusOK)
			return
		}
		c.Header("WWW-Authenticate", `Bearer realm="consumer"`)
		abortProblem(c, probUnauthorized, "no consumer identity header (X-Consumer-ID, X-Consumer-Username or X-Consumer-Custom-ID)")
		return
	}
	c.Set(subjectKey, req.Consumer.Subject())

	t, err := h.minter.Mint(c.Request.Context(), req)
	if err != nil {
		abortError(c, err)
		return
	}
	noStore(c)
	c.Header(h.cfg.AuthHeader, "Bearer "+t.Token)
	c.Header(hdrExpiresIn, strconv.FormatInt(t.ExpiresIn, 10))
	c.Status(http.StatusOK)
}

// requestFromHeaders builds a mint request from consumer headers.
func requestFromHeaders(hd http.Header) (service.MintRequest, error) {
	for _, name := range []string{hdrConsumerID, hdrConsumerName, hdrConsumerCustom, hdrGroups,
		hdrCredential, hdrCredentialOld, hdrScope, hdrUserID, hdrAnonymous, hdrAudience} {
		if strings.ContainsFunc(hd.Get(name), isControl) {
			return service.MintRequest{}, fmt.Errorf("header %s contains a control character", name)
		}
	}

	var req service.MintRequest
	if !strings.EqualFold(hd.Get(hdrAnonymous), "true") {
		req.Consumer = service.Consumer{
			ID:       hd.Get(hdrConsumerID),
			Username: hd.Get(hdrConsumerName),
			CustomID: hd.Get(hdrConsumerCustom),
		}
	}
	for _, g := range strings.Split(hd.Get(hdrGroups), ",") {
		if g = strings.TrimSpace(g); g != "" {
			req.Groups = append(req.Groups, g)
		}
	}
	req.Scopes = strings.Fields(hd.Get(hdrScope))

	credential := hd.Get(hdrCredential)
	if credential == "" {
		credential = hd.Get(hdrCredentialOld)
	}
	if credential != "" {
		req.Credential = &service.Credential{Identifier: credential}
	}
	req.AuthenticatedUserID = hd.Get(hdrUserID)
	req.Audience = hd.Get(hdrAudience)
	return req, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
