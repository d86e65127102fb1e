package main

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/jwt-up/jwt-up/service"
)

// ceilingCommand is the hidden subcommand that runs a ceiling server.
const ceilingCommand = "ceiling"

// The ceiling modes.
const (
	modeConstant = "constant" // answers a token made once
	modeSign     = "sign"     // signs a fixed payload on every request
)

// tokenResponse has the shape of jwt-up's answer to POST /v1/tokens.
type tokenResponse struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	ExpiresAt string `json:"expires_at"`
	KID       string `json:"kid"`
}

// mintBody mirrors the body of a mint request. The ceiling decodes into it
// as jwt-up decodes into its own request type: encoding/json, no unknown
// fields.
type mintBody struct {
	Consumer struct {
		ID       string `json:"id,omitempty"`
		Username string `json:"username,omitempty"`
		CustomID string `json:"custom_id,omitempty"`
	} `json:"consumer"`
	Groups     []string `json:"groups,omitempty"`
	Scopes     []string `json:"scopes,omitempty"`
	Credential *struct {
		ID         string `json:"id,omitempty"`
		Identifier string `json:"identifier,omitempty"`
	} `json:"credential,omitempty"`
	AuthenticatedUserID string                     `json:"authenticated_userid,omitempty"`
	Audience            string                     `json:"audience,omitempty"`
	Claims              map[string]json.RawMessage `json:"claims,omitempty"`
}

// runCeiling serves a ceiling until SIGTERM or SIGINT.
func runCeiling(args []string) error {
	fs := flag.NewFlagSet(ceilingCommand, flag.ContinueOnError)
	mode := fs.String("mode", modeConstant, "constant or sign")
	alg := fs.String("alg", "RS256", "algorithm to sign with in mode sign")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	samplePath := fs.String("sample", "", "JSON file of the answers to imitate")
	if err := fs.Parse(args); err != nil {
		return err
	}

	s, err := readSample(*samplePath)
	if err != nil {
		return err
	}
	c, err := newCeiling(*mode, *alg, s)
	if err != nil {
		return err
	}
	return serveCeiling(*listen, c.router())
}

// readSample reads the sample file the bench wrote.
func readSample(path string) (sample, error) {
	var s sample
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read sample: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("read sample %s: %w", path, err)
	}
	return s, nil
}

// ceiling holds what its handlers answer with.
type ceiling struct {
	sample   sample
	constant []byte // the token response, encoded once

	// In mode sign only: the claims of jwt-up's sample token, and a raw
	// key. key is nil in mode constant.
	payload []byte
	alg     jwa.SignatureAlgorithm
	key     crypto.Signer
	headers jws.Headers
}

// newCeiling prepares a ceiling of mode from s, making a key for alg in
// mode sign.
func newCeiling(mode, alg string, s sample) (*ceiling, error) {
	constant, err := json.Marshal(s.Token)
	if err != nil {
		return nil, err
	}
	c := &ceiling{sample: s, constant: constant}
	switch mode {
	case modeConstant:
		return c, nil
	case modeSign:
		if err := c.prepareSigning(alg); err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("unknown mode %q", mode)
}

// prepareSigning makes a raw key for alg and takes the payload from the
// sample token, so that the tokens signed here are as long as jwt-up's.
func (c *ceiling) prepareSigning(alg string) error {
	parts := strings.Split(c.sample.Token.Token, ".")
	if len(parts) != 3 {
		return errors.New("the sample token is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("sample token payload: %w", err)
	}
	key, err := service.GenerateKey(alg)
	if err != nil {
		return err
	}

	// jws.Sign writes "alg" into these headers on every call, under their
	// own lock: sharing them between requests is safe, and as cheap as it
	// gets.
	headers := jws.NewHeaders()
	if err := headers.Set(jws.KeyIDKey, c.sample.Token.KID); err != nil {
		return err
	}
	if err := headers.Set(jws.TypeKey, "JWT"); err != nil {
		return err
	}
	c.payload, c.alg, c.key, c.headers = payload, jwa.SignatureAlgorithm(alg), key, headers
	return nil
}

// router serves the routes jwt-up's scenarios use, with no middleware.
func (c *ceiling) router() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/tokens", c.tokens)
	r.Any("/v1/auth", c.auth)
	r.GET("/.well-known/jwks.json", c.jwks)
	r.GET("/metrics", c.metrics)
	return r
}

// tokens decodes the mint request and answers with a token.
func (c *ceiling) tokens(ctx *gin.Context) {
	var body mintBody
	dec := json.NewDecoder(ctx.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Consumer.ID == "" {
		ctx.Status(http.StatusBadRequest)
		return
	}

	ctx.Header("Cache-Control", "no-store")
	ctx.Header("Pragma", "no-cache")
	if !c.signs() {
		ctx.Data(http.StatusOK, "application/json; charset=utf-8", c.constant)
		return
	}
	token, err := c.sign()
	if err != nil {
		ctx.Status(http.StatusInternalServerError)
		return
	}
	answer := c.sample.Token
	answer.Token = token
	ctx.JSON(http.StatusOK, answer)
}

// auth answers forward-auth with the token in the Authorization header.
func (c *ceiling) auth(ctx *gin.Context) {
	if ctx.GetHeader("X-Consumer-ID") == "" {
		ctx.Status(http.StatusUnauthorized)
		return
	}
	token := c.sample.Token.Token
	if c.signs() {
		var err error
		if token, err = c.sign(); err != nil {
			ctx.Status(http.StatusInternalServerError)
			return
		}
	}
	ctx.Header("Authorization", "Bearer "+token)
	ctx.Header("X-JWT-Expires-In", strconv.FormatInt(c.sample.Token.ExpiresIn, 10))
	ctx.Header("Cache-Control", "no-store")
	ctx.Header("Pragma", "no-cache")
	ctx.Status(http.StatusOK)
}

// jwks answers with jwt-up's JWKS, or 304 when the client has it.
func (c *ceiling) jwks(ctx *gin.Context) {
	ctx.Header("Cache-Control", "public, max-age=300")
	ctx.Header("ETag", c.sample.ETag)
	if ctx.GetHeader("If-None-Match") == c.sample.ETag {
		ctx.Status(http.StatusNotModified)
		return
	}
	ctx.Data(http.StatusOK, "application/json", c.sample.JWKS)
}

// signs reports whether the ceiling is in mode sign.
func (c *ceiling) signs() bool { return c.key != nil }

// sign signs the fixed payload with the raw key.
func (c *ceiling) sign() (string, error) {
	signed, err := jws.Sign(c.payload, jws.WithKey(c.alg, c.key, jws.WithProtectedHeaders(c.headers)))
	return string(signed), err
}

// metrics serves the series the bench reads, under the names jwt-up's Go
// and process collectors give them. Where the CPU time is unknown, its
// line is left out and the report shows a dash.
func (c *ceiling) metrics(ctx *gin.Context) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	text := fmt.Sprintf("%s %d\n", mallocsSeries, m.Mallocs)
	if cpu, ok := processCPU(); ok {
		text += fmt.Sprintf("%s %g\n", cpuSeries, cpu.Seconds())
	}
	ctx.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(text))
}

// serveCeiling serves h on addr until SIGTERM or SIGINT.
func serveCeiling(addr string, h http.Handler) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	failed := make(chan error, 1)
	go func() { failed <- srv.ListenAndServe() }()
	select {
	case err := <-failed:
		return err
	case <-ctx.Done():
	}

	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
