package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jwt-up/jwt-up/service"
)

// Problem is an RFC 9457 problem details body, the shape of every error
// jwt-up answers with.
type Problem struct {
	Type   string `json:"type" example:"urn:jwt-up:problem:invalid-request"`
	Title  string `json:"title" example:"Invalid request"`
	Status int    `json:"status" example:"400"`
	Detail string `json:"detail,omitempty" example:"consumer needs at least one of id, username and custom_id"`
}

// problemContentType is the media type of a Problem.
const problemContentType = "application/problem+json"

// problemKind is one row of the error table: a type slug, a title and the
// status it is answered with.
type problemKind struct {
	slug   string
	title  string
	status int
}

var (
	probInvalid      = problemKind{"invalid-request", "Invalid request", http.StatusBadRequest}
	probUnauthorized = problemKind{"unauthorized", "Unauthorized", http.StatusUnauthorized}
	probNotFound     = problemKind{"not-found", "Not found", http.StatusNotFound}
	probMethod       = problemKind{"method-not-allowed", "Method not allowed", http.StatusMethodNotAllowed}
	probTooLarge     = problemKind{"too-large", "Request body too large", http.StatusRequestEntityTooLarge}
	probMediaType    = problemKind{"unsupported-media-type", "Unsupported media type", http.StatusUnsupportedMediaType}
	probReserved     = problemKind{"reserved-claim", "Reserved claim", http.StatusUnprocessableEntity}
	probNotAllowed   = problemKind{"claim-not-allowed", "Claim not allowed", http.StatusUnprocessableEntity}
	probAudience     = problemKind{"unknown-audience", "Unknown audience", http.StatusForbidden}
	probSubjectToken = problemKind{"invalid-subject-token", "Invalid subject token", http.StatusUnauthorized}
	probInternal     = problemKind{"internal", "Internal error", http.StatusInternalServerError}
	probNoKey        = problemKind{"no-signing-key", "No signing key", http.StatusServiceUnavailable}
	probUnready      = problemKind{"not-ready", "Not ready", http.StatusServiceUnavailable}
	probCacheDown    = problemKind{"cache-unavailable", "Token cache unavailable", http.StatusServiceUnavailable}
	probStoreDown    = problemKind{"key-store-unavailable", "Key store unavailable", http.StatusServiceUnavailable}
	probIssuerDown   = problemKind{"issuer-unavailable", "Trusted issuer unavailable", http.StatusServiceUnavailable}
)

// errorTable maps the service's sentinel errors to problems. The detail of
// these errors is written for clients; any other error is an internal one
// whose text stays in the log.
var errorTable = []struct {
	err  error
	kind problemKind
}{
	{service.ErrInvalidRequest, probInvalid},
	{service.ErrReservedClaim, probReserved},
	{service.ErrClaimNotAllowed, probNotAllowed},
	{service.ErrUnknownAudience, probAudience},
	{service.ErrSubjectToken, probSubjectToken},
	{service.ErrIssuerUnavailable, probIssuerDown},
	{service.ErrNoSigningKey, probNoKey},
	{service.ErrKeyNotFound, probNotFound},
	{service.ErrInvalidKey, probInvalid},
	{service.ErrCacheUnavailable, probCacheDown},
	{service.ErrKeyStoreUnavailable, probStoreDown},
}

// newProblem fills a Problem of kind k.
func newProblem(k problemKind, detail string) Problem {
	return Problem{Type: "urn:jwt-up:problem:" + k.slug, Title: k.title, Status: k.status, Detail: detail}
}

// abortProblem answers with a problem of kind k and stops the chain.
func abortProblem(c *gin.Context, k problemKind, detail string) {
	c.Header("Content-Type", problemContentType)
	c.AbortWithStatusJSON(k.status, newProblem(k, detail))
}

// abortError answers for err through the error table. Errors outside it are
// logged and answered with a bare 500.
func abortError(c *gin.Context, err error) {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			if row.kind == probSubjectToken {
				c.Header("WWW-Authenticate", `Bearer realm="subject", error="invalid_token"`)
			}
			abortProblem(c, row.kind, err.Error())
			return
		}
	}
	_ = c.Error(err) // the access log writes it once
	abortProblem(c, probInternal, "the request could not be completed; the server log has the cause")
}
