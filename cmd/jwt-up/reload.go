package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jwt-up/jwt-up/service"
	"github.com/jwt-up/jwt-up/store/jwks"
)

// The HTTP fetcher is what the verifier fetches issuers' keys with.
var _ service.KeySetFetcher = (*jwks.Fetcher)(nil)

// applyProfiles makes the minter mint with the profiles p and re-sign the
// tokens of issuers. Nothing changes unless both are good.
func (a *app) applyProfiles(p service.Profiles, issuers []service.TrustedIssuer) error {
	var verifier *service.Verifier
	if len(issuers) > 0 {
		v, err := service.NewVerifier(issuers, &jwks.Fetcher{}, nil, a.log)
		if err != nil {
			return err
		}
		verifier = v
	}
	if err := a.minter.SetProfiles(p); err != nil {
		return err
	}
	if verifier == nil {
		a.minter.SetVerifier(nil)
	} else {
		a.minter.SetVerifier(verifier)
	}
	a.verifier = verifier
	a.keys.AllowTokenTTL(p.MaxTTL())
	return nil
}

// watchReload reads the profiles and trusted issuers again on SIGHUP, until
// ctx ends.
func (a *app) watchReload(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				a.reload(ctx)
			}
		}
	}()
}

// reload reads the settings file's profiles and trusted issuers and uses
// them from now on; when they are bad, it says why in one line and keeps
// those in use. Requests in flight finish with the profiles they began
// with.
func (a *app) reload(ctx context.Context) {
	p, issuers, err := loadProfiles(a.settings.ConfigPath, a.settings)
	if err == nil {
		err = a.applyProfiles(p, issuers)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "reload: kept the profiles in use", "err", err)
		return
	}
	if a.verifier != nil {
		go a.verifier.Prefetch(ctx)
	}
	a.log.InfoContext(ctx, "reload: profiles and trusted issuers in use",
		"profiles", len(p.Audiences), "trusted_issuers", len(issuers))
}
