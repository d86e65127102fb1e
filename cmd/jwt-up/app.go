package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"

	"github.com/jwt-up/jwt-up/service"
	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/memory"
	"github.com/jwt-up/jwt-up/store/postgres"
	"github.com/jwt-up/jwt-up/store/redis"
	"github.com/jwt-up/jwt-up/store/sqlite"
	"github.com/jwt-up/jwt-up/store/tiered"
)

// app is jwt-up wired together: settings, logger, key store, keys and
// minter. Every command builds one.
type app struct {
	settings settings
	raw      map[string]string
	log      *slog.Logger
	registry *prometheus.Registry
	store    store.KeyStore
	keys     *service.KeyManager
	minter   *service.Minter
	kek      []byte      // the key-encryption key keys opened with; set by openKeys
	draining atomic.Bool // set when serve begins to shut down

	verifier *service.Verifier // verifies subject tokens; nil without trusted issuers
	// reread resolves the settings again, as at start, for a reload.
	reread func() (settings, error)
	hup    chan os.Signal // SIGHUP, caught from before the start; nil until serve

	local  store.TokenCache // the in-process token cache
	shared *redis.Cache     // the shared token cache; nil without Redis
	tiered *tiered.Cache    // local in front of shared; nil without Redis
}

// newApp reads the settings and opens the key store, applying its
// migrations. With keys it also loads the signing keys, creating the first
// ones on an empty store.
func newApp(ctx context.Context, fs *pflag.FlagSet, getenv func(string) string, logOut io.Writer, keys bool) (*app, error) {
	raw, err := rawSettings(fs, getenv)
	if err != nil {
		return nil, err
	}
	s, err := parseSettings(raw)
	if err != nil {
		return nil, err
	}
	a := &app{settings: s, raw: raw, log: newLogger(logOut, s.LogLevel, s.LogFormat)}
	a.reread = func() (settings, error) {
		raw, err := rawSettings(fs, getenv)
		if err != nil {
			return settings{}, err
		}
		return parseSettings(raw)
	}

	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	if !keys {
		return a, nil
	}
	if err := a.openKeys(ctx, true); err != nil {
		a.store.Close()
		return nil, err
	}
	return a, nil
}

// openStore opens the key store the settings name.
func (a *app) openStore(ctx context.Context) error {
	u := a.settings.DatabaseURL
	switch {
	case a.settings.postgres():
		st, err := postgres.Open(ctx, u)
		if err != nil {
			return fmt.Errorf("JWTUP_DATABASE_URL: %w", err)
		}
		a.store = st
		return nil
	case u == "":
		if err := ensureDataDir(a.settings.DataDir); err != nil {
			return err
		}
		u = filepath.Join(a.settings.DataDir, dbFileName)
	}
	st, err := sqlite.Open(ctx, u)
	if err != nil {
		return fmt.Errorf("JWTUP_DATABASE_URL: %w", err)
	}
	a.store = st
	return nil
}

// openKeys reads the key-encryption key and loads the signing keys; with
// maintain it also applies the life-cycle steps that are due, creating the
// first keys on an empty store.
func (a *app) openKeys(ctx context.Context, maintain bool) error {
	s := a.settings
	if s.KEK == nil && s.KEKFile == "" {
		if err := ensureDataDir(s.DataDir); err != nil {
			return err
		}
	}
	kek, generated, err := loadKEK(s)
	if err != nil {
		return err
	}
	if generated {
		a.log.Info("generated a key-encryption key", "path", filepath.Join(s.DataDir, kekFileName))
	}
	sealer, err := service.NewSealer(kek)
	if err != nil {
		return fmt.Errorf("JWTUP_KEK: %w", err)
	}
	a.kek = kek

	a.keys = service.NewKeyManager(a.store, sealer, service.KeyConfig{
		Alg:        s.SigningAlg,
		Rotation:   s.KeyRotation,
		TokenTTL:   s.Profiles.MaxTTL(),
		JWKSMaxAge: s.JWKSMaxAge,
		Refresh:    s.KeyRefresh,
	}, a.log)
	load := a.keys.Load
	if maintain {
		load = a.keys.Start
	}
	if err := load(ctx); err != nil {
		if errors.Is(err, service.ErrKEKMismatch) {
			return fmt.Errorf("JWTUP_KEK: %w (is it the key these keys were stored with?)", service.ErrKEKMismatch)
		}
		return fmt.Errorf("load keys: %w", err)
	}
	return nil
}

// openMinter builds the token cache and the minter, with metrics.
func (a *app) openMinter() error {
	s := a.settings
	var cache store.TokenCache = memory.NoCache{}
	if s.CacheSize > 0 {
		local, err := memory.NewTokenCache(s.CacheSize)
		if err != nil {
			return fmt.Errorf("JWTUP_CACHE_SIZE: %w", err)
		}
		cache = local
	}

	a.local = cache
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var tokens store.TokenCache = cache
	if s.RedisURL != "" {
		shared, err := redis.Open(s.RedisURL)
		if err != nil {
			return fmt.Errorf("JWTUP_REDIS_URL: %w", err)
		}
		a.shared = shared
		a.tiered = tiered.New(cache, shared, a.log)
		tokens = a.tiered
		a.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jwtup_shared_cache_failures_total",
			Help: "Calls to the shared token cache (Redis) that failed.",
		}, func() float64 { return float64(a.tiered.Failures()) }))
	}
	metrics := service.NewMetrics(a.registry, a.keys)
	a.minter = service.NewMinter(service.MintConfig{
		Issuer:          s.Issuer,
		DefaultAudience: s.DefaultAudience,
		Profile:         s.ClaimsProfile,
		TTL:             s.TokenTTL,
		RefreshMargin:   s.RefreshMargin,
		ClockSkew:       s.ClockSkew,
	}, a.keys, tokens, metrics)
	if err := a.applyProfiles(s.Profiles, s.Issuers); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// cacheState reports the token cache's state for readiness.
func (a *app) cacheState(ctx context.Context) string {
	if a.tiered == nil {
		return "ok"
	}
	return a.tiered.State(ctx)
}

// listen carries purges and key changes between replicas until ctx ends;
// without a shared cache there is no one to tell.
func (a *app) listen(ctx context.Context) {
	if a.shared == nil {
		return
	}
	a.keys.OnChange(func() {
		if err := a.shared.PublishKeysChanged(ctx); err != nil {
			a.log.WarnContext(ctx, "tell replicas of a key change", "err", err)
		}
	})
	go a.shared.Listen(ctx,
		func(subject string) { _ = a.local.DeleteSubject(ctx, subject) },
		func() {
			if err := a.keys.Tick(ctx); err != nil {
				a.log.WarnContext(ctx, "read keys after a change", "err", err)
			}
		})
}

// Close releases the key store and the shared cache.
func (a *app) Close() error {
	if a.shared != nil {
		a.shared.Close()
	}
	return a.store.Close()
}
