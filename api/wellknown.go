package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// jwks serves the public keys upstreams verify tokens with.
//
//	@Summary		JSON Web Key Set
//	@Description	The public parts of every published key: the signing key, the next one and retired ones whose tokens may still be live. Cacheable for the configured max-age; answers 304 to a matching If-None-Match.
//	@Tags			public
//	@Produce		json
//	@Param			If-None-Match	header	string	false	"ETag of a copy the client holds"
//	@Success		200	{object}	JWKSDoc
//	@Success		304	"not modified"
//	@Header			200	{string}	ETag			"digest of the key set"
//	@Header			200	{string}	Cache-Control	"public, max-age=<JWKS max age>"
//	@Router			/.well-known/jwks.json [get]
func (h *handler) jwks(c *gin.Context) {
	body, etag := h.keys.JWKS()
	c.Header("Cache-Control", h.publicCache())
	c.Header("ETag", etag)
	if etagMatches(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

// JWKSDoc documents the shape of the JWKS.
type JWKSDoc struct {
	Keys []JWKDoc `json:"keys"`
}

// JWKDoc documents one public key of the JWKS.
type JWKDoc struct {
	Kty string `json:"kty" example:"RSA"`
	Kid string `json:"kid" example:"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"`
	Use string `json:"use" example:"sig"`
	Alg string `json:"alg" example:"RS256"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty" example:"AQAB"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// etagMatches implements If-None-Match: a list of tags, weak or strong, or *.
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

func (h *handler) publicCache() string {
	return fmt.Sprintf("public, max-age=%d", int(h.cfg.JWKSMaxAge.Seconds()))
}

// OpenIDConfiguration is the discovery document, as much of it as a
// verifier needs.
type OpenIDConfiguration struct {
	Issuer        string   `json:"issuer" example:"http://localhost:8080"`
	JWKSURI       string   `json:"jwks_uri" example:"http://localhost:8080/.well-known/jwks.json"`
	SigningAlgs   []string `json:"id_token_signing_alg_values_supported" example:"RS256"`
	ResponseTypes []string `json:"response_types_supported" example:"id_token"`
	SubjectTypes  []string `json:"subject_types_supported" example:"public"`
}

// openIDConfiguration serves OIDC discovery, for verifiers that find the
// JWKS from the issuer.
//
//	@Summary	OpenID Connect discovery
//	@Tags		public
//	@Produce	json
//	@Success	200	{object}	OpenIDConfiguration
//	@Router		/.well-known/openid-configuration [get]
func (h *handler) openIDConfiguration(c *gin.Context) {
	var algs []string
	for _, k := range h.keys.Keys() {
		if k.State.Published() && !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	issuer := strings.TrimSuffix(h.cfg.Issuer, "/")
	doc := OpenIDConfiguration{
		Issuer:        h.cfg.Issuer,
		JWKSURI:       issuer + "/.well-known/jwks.json",
		SigningAlgs:   algs,
		ResponseTypes: []string{"id_token"},
		SubjectTypes:  []string{"public"},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		abortError(c, err)
		return
	}
	c.Header("Cache-Control", h.publicCache())
	c.Data(http.StatusOK, "application/json", body)
}
