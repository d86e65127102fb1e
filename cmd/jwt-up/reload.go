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
		v.KeepKeySets(a.verifier)
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

// notifyReload starts catching SIGHUP, which would otherwise end the
// process: serve calls it before anything slow, so that a reload sent
// while jwt-up starts is kept for when it serves.
func notifyReload() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// watchReload applies the settings file again on every SIGHUP, until ctx
// ends.
func (a *app) watchReload(ctx context.Context) {
	if a.hup == nil {
		a.hup = notifyReload()
	}
	go func() {
		defer signal.Stop(a.hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-a.hup:
				a.reload(ctx)
			}
		}
	}()
}

// reload resolves every setting again, as a start would, and applies what
// can change while serving: the profiles (the default one included),
// unknown_audience and the trusted issuers. When any setting is bad it
// says why in one line and keeps those in use. Requests in flight finish
// with the profiles they began with.
func (a *app) reload(ctx context.Context) {
	s, err := a.reread()
	if err == nil {
		err = a.applyProfiles(s.Profiles, s.Issuers)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "reload: kept the profiles in use", "err", oneLine(err))
		return
	}
	if a.verifier != nil {
		go a.verifier.Prefetch(ctx)
	}
	a.log.InfoContext(ctx, "reload: profiles and trusted issuers in use",
		"profiles", len(s.Profiles.Audiences), "trusted_issuers", len(s.Issuers))
}
