package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jwt-up/jwt-up/api"
)

// shutdownGrace bounds how long in-flight requests may take to finish after
// a stop signal.
const shutdownGrace = 15 * time.Second

// serve runs the HTTP API until ctx ends, then drains it.
func (a *app) serve(ctx context.Context) error {
	s := a.settings
	gatewayKeys, generatedAt, err := loadGatewayKeys(s)
	if err != nil {
		return err
	}
	if generatedAt != "" {
		a.log.Warn("generated a gateway key: send it as 'Authorization: Bearer <key>'; keep the file secret",
			"path", generatedAt)
	}
	if err := a.openMinter(); err != nil {
		return err
	}
	a.log.Info("starting", append([]any{"version", buildVersion()}, logValues(a.raw)...)...)
	router := a.router(gatewayKeys)

	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("JWTUP_LISTEN: %w", err)
	}
	srv := api.Server(s.Listen, router)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.background(runCtx)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("serving", "addr", ln.Addr().String(), "kid", a.keys.ActiveKID())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "grace", shutdownGrace)
	drain, cancelDrain := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancelDrain()
	if err := srv.Shutdown(drain); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// router builds the HTTP API over the app's minter and keys.
func (a *app) router(gatewayKeys []string) http.Handler {
	s := a.settings
	return api.New(api.Config{
		Issuer:      s.Issuer,
		GatewayKeys: gatewayKeys,
		AdminKeys:   s.AdminKeys,
		AuthHeader:  s.AuthHeader,
		Anonymous:   s.Anonymous,
		JWKSMaxAge:  s.JWKSMaxAge,
		KeyRefresh:  s.KeyRefresh,
		CacheState:  a.cacheState,
		Registry:    a.registry,
		Logger:      a.log,
	}, a.minter, a.keys)
}

// background starts what runs beside the server until ctx ends: the key
// refresh and, with Redis, the notices between replicas.
func (a *app) background(ctx context.Context) {
	a.listen(ctx)
	go a.keys.Run(ctx)
}
