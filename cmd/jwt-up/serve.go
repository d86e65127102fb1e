package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jwt-up/jwt-up/api"
)

// serve runs the HTTP API until ctx ends, then drains it (see drain).
func (a *app) serve(ctx context.Context) error {
	gatewayKeys, err := a.prepare()
	if err != nil {
		return err
	}
	srv := api.Server(a.settings.Listen, a.router(gatewayKeys))
	srv.TLSConfig = a.settings.TLS
	// The server's own complaints (failed TLS handshakes, mostly) go to our
	// log, not to standard error bare.
	srv.ErrorLog = slog.NewLogLogger(a.log.Handler(), slog.LevelInfo)
	ln, err := net.Listen("tcp", a.settings.Listen)
	if err != nil {
		return fmt.Errorf("JWTUP_LISTEN: %w", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.background(runCtx)
	if os.Getenv("GOGC") == "" { // the operator's GOGC wins
		go newGCPacer(gcMinGrowth).run(runCtx, time.Second)
	}

	errc := make(chan error, 1)
	go func() { errc <- listenAndServe(srv, ln) }()
	a.log.Info("serving", "addr", ln.Addr().String(), "tls", a.settings.TLS != nil, "kid", a.keys.ActiveKID())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.draining.Store(true)
	return a.drain(srv, errc)
}

// prepare loads the gateway keys and builds the minter, logging the
// effective settings; it returns the gateway keys.
func (a *app) prepare() ([]string, error) {
	gatewayKeys, generatedAt, err := loadGatewayKeys(a.settings)
	if err != nil {
		return nil, err
	}
	if generatedAt != "" {
		a.log.Warn("generated a gateway key: send it as 'Authorization: Bearer <key>'; keep the file secret",
			"path", generatedAt)
	}
	if err := a.openMinter(); err != nil {
		return nil, err
	}
	a.log.Info("starting", append([]any{"version", buildVersion()}, logValues(a.raw)...)...)
	a.logTLS()
	return gatewayKeys, nil
}

// logTLS warns about a listener certificate that expired or soon will:
// gateways would refuse it.
func (a *app) logTLS() {
	if a.settings.TLS == nil || len(a.settings.TLS.Certificates) == 0 {
		return
	}
	leaf := a.settings.TLS.Certificates[0].Leaf
	if leaf == nil {
		return
	}
	left := time.Until(leaf.NotAfter)
	if left < 7*24*time.Hour {
		a.log.Warn("the TLS certificate (JWTUP_TLS_CERT) expires soon or has expired",
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// listenAndServe serves srv on ln, over TLS when srv has a TLS config,
// until srv shuts down. Serve sets srv.TLSConfig itself: read it nowhere
// else once this runs.
func listenAndServe(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
	}
	return srv.Serve(ln)
}

// drain stops srv after a stop signal. /readyz has answered 503 since the
// signal; for JWTUP_SHUTDOWN_DELAY the listener stays open so that load
// balancers notice without a request being refused, then it closes, and
// requests in flight get JWTUP_SHUTDOWN_GRACE to finish. Those still
// running then are cut, and drain says so with an error.
func (a *app) drain(srv *http.Server, errc <-chan error) error {
	s := a.settings
	a.log.Info("shutting down: not ready from now", "delay", s.ShutdownDelay, "grace", s.ShutdownGrace)
	if s.ShutdownDelay > 0 {
		time.Sleep(s.ShutdownDelay)
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close() // cut what is left; its error says no more than err
		return fmt.Errorf("shutdown: requests still running after JWTUP_SHUTDOWN_GRACE (%s) were cut: %w",
			s.ShutdownGrace, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.log.Info("stopped: every request finished")
	return nil
}

// router builds the HTTP API over the app's minter and keys.
func (a *app) router(gatewayKeys []string) http.Handler {
	s := a.settings
	return api.New(api.Config{
		Issuer:             s.Issuer,
		GatewayKeys:        gatewayKeys,
		AdminKeys:          s.AdminKeys,
		AuthHeader:         s.AuthHeader,
		Anonymous:          s.Anonymous,
		SubjectTokenHeader: s.SubjectTokenHeader,
		BodyDigestHeader:   s.BodyDigestHeader,
		JWKSMaxAge:         s.JWKSMaxAge,
		StoreTimeout:       s.ReadyStoreTimeout,
		CacheState:         a.cacheState,
		ClientSubjects:     s.ClientSubjects,
		AuthLimit:          api.AuthLimit{Failures: s.AuthFailures, Window: s.AuthWindow},
		Draining:           a.draining.Load,
		Registry:           a.registry,
		Logger:             a.log,
	}, a.minter, a.keys)
}

// background starts what runs beside the server until ctx ends: the key
// refresh, the first fetch of trusted issuers' keys, the reload on SIGHUP
// and, with Redis, the notices between replicas.
func (a *app) background(ctx context.Context) {
	a.listen(ctx)
	go a.keys.Run(ctx)
	if a.verifier != nil {
		go a.verifier.Prefetch(ctx)
	}
	a.watchReload(ctx)
}
