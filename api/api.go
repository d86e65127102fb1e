// Package api is jwt-up's HTTP transport: the gin router, its handlers and
// middleware. Handlers decode and validate a request, call the service and
// render its answer; every error leaves as problem+json through one table.
//
//	@title						jwt-up
//	@version					1.0
//	@description				Mints short-lived JWTs for upstream APIs on behalf of an API gateway, and publishes the JWKS that upstreams verify them with.
//	@BasePath					/
//	@securityDefinitions.apikey	GatewayKey
//	@in							header
//	@name						Authorization
//	@description				"Bearer " followed by a gateway key. Over mTLS, a gateway whose client certificate is allowed needs none.
//	@securityDefinitions.apikey	AdminKey
//	@in							header
//	@name						Authorization
//	@description				"Bearer " followed by an admin key.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	swaggerfiles "github.com/swaggo/files"
	ginswagger "github.com/swaggo/gin-swagger"

	_ "github.com/jwt-up/jwt-up/docs" // the OpenAPI document served under /swagger
	"github.com/jwt-up/jwt-up/service"
	"github.com/jwt-up/jwt-up/store"
)

// Config is what the HTTP layer needs to know.
type Config struct {
	Issuer      string
	GatewayKeys []string
	AdminKeys   []string // none: the admin API is off
	AuthHeader  string   // response header of /v1/auth
	Anonymous   bool     // /v1/auth without identity passes without a token
	// SubjectTokenHeader is the /v1/auth request header that carries an
	// incoming token to re-sign; default X-Subject-Token.
	SubjectTokenHeader string
	// BodyDigestHeader is the /v1/auth request header with the SHA-256 of
	// the request's body, for tokens bound to a request; default
	// X-Body-SHA256.
	BodyDigestHeader string
	JWKSMaxAge       time.Duration
	// StoreTimeout is how long the key store may go unanswered before
	// readiness fails. Signing goes on meanwhile with the keys held.
	StoreTimeout time.Duration
	// CacheState reports the token cache's state ("ok", "degraded"); nil
	// means always ok.
	CacheState func(ctx context.Context) string
	// ClientSubjects are the subjects (common name or DNS name) of client
	// certificates that authenticate a gateway without a bearer key. Only a
	// certificate the server's TLS layer verified counts; never for the
	// admin API.
	ClientSubjects []string
	// AuthLimit bounds failed authentications per source; zero is off.
	AuthLimit AuthLimit
	// Draining reports that the server is shutting down, so /readyz
	// answers 503 and load balancers stop sending; nil means never.
	Draining func() bool
	// Now is the clock of the failure limit; nil means time.Now.
	Now      func() time.Time
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Minter mints and purges tokens. It exists so handlers can be tested
// without a key store; *service.Minter implements it.
type Minter interface {
	Mint(ctx context.Context, r service.MintRequest) (service.Minted, error)
	Purge(ctx context.Context, subject string) error
}

// Keys publishes and manages signing keys. It exists for the same reason;
// *service.KeyManager implements it.
type Keys interface {
	JWKS() (body []byte, etag string)
	Keys() []store.Key
	ActiveKID() string
	LastLoad() (at time.Time, age time.Duration)
	Rotate(ctx context.Context, immediate bool) (store.Key, error)
	Revoke(ctx context.Context, kid string) (store.Key, error)
}

var (
	_ Minter = (*service.Minter)(nil)
	_ Keys   = (*service.KeyManager)(nil)
)

// handler carries what every handler needs.
type handler struct {
	cfg        Config
	minter     Minter
	keys       Keys
	authHeader string        // cfg.AuthHeader as net/http keys it
	forwarded  forwardFields // the request headers /v1/auth reads
}

// New returns the router serving every endpoint of jwt-up.
func New(cfg Config, minter Minter, keys Keys) *gin.Engine {
	h := &handler{cfg: cfg, minter: minter, keys: keys}
	if h.cfg.AuthHeader == "" {
		h.cfg.AuthHeader = "Authorization"
	}
	h.authHeader = http.CanonicalHeaderKey(h.cfg.AuthHeader)
	if h.cfg.SubjectTokenHeader == "" {
		h.cfg.SubjectTokenHeader = "X-Subject-Token"
	}
	if h.cfg.BodyDigestHeader == "" {
		h.cfg.BodyDigestHeader = "X-Body-SHA256"
	}
	h.forwarded = newForwardFields(h.cfg.SubjectTokenHeader, h.cfg.BodyDigestHeader)

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.UseRawPath = true // a subject with a "/" arrives as %2F in one path segment
	// The access log's remote address is the peer's: X-Forwarded-For from a
	// client is not to be believed.
	_ = r.SetTrustedProxies(nil) // never fails for nil
	r.ContextWithFallback = true
	r.Use(requestID(), accessLog(cfg.Logger, newHTTPMetrics(cfg.Registry)), recovery(cfg.Logger))
	r.NoRoute(func(c *gin.Context) { abortProblem(c, probNotFound, "no such endpoint") })
	r.NoMethod(func(c *gin.Context) { abortProblem(c, probMethod, "the endpoint does not take this method") })

	guard := newAuthGuard(cfg.AuthLimit, cfg.Now, cfg.Registry)
	gateway := r.Group("/v1", gate{realm: "gateway", keys: newKeyRing(cfg.GatewayKeys),
		certs: newCertSubjects(cfg.ClientSubjects), guard: guard}.handler())
	gateway.POST("/tokens", h.postToken)
	gateway.Any("/auth", h.forwardAuth)
	gateway.Any("/auth/*path", h.forwardAuth)

	admin := r.Group("/v1")
	if len(cfg.AdminKeys) == 0 {
		admin.Use(disabled("the admin API is off: set JWTUP_ADMIN_KEYS to turn it on"))
	} else {
		admin.Use(gate{realm: "admin", keys: newKeyRing(cfg.AdminKeys), guard: guard}.handler())
	}
	admin.GET("/keys", h.listKeys)
	admin.POST("/keys/rotate", h.rotateKeys)
	admin.DELETE("/keys/:kid", h.revokeKey)
	admin.DELETE("/consumers/:id/tokens", h.purgeConsumer)

	r.GET("/.well-known/jwks.json", h.jwks)
	r.GET("/.well-known/openid-configuration", h.openIDConfiguration)
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})))
	r.GET("/swagger/*any", ginswagger.WrapHandler(swaggerfiles.Handler))
	return r
}

// Server wraps the router in an http.Server with timeouts set on purpose: a
// slow client cannot hold a connection for long.
func Server(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
