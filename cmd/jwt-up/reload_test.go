package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/jwt-up/jwt-up/service"
)

// reloadApp builds an app with a minter from the settings file config,
// whose text the test changes between reloads.
func reloadApp(t *testing.T, config string) (*app, string, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt-up.yaml")
	writeConfig(t, path, config)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addSettingFlags(fs)
	logs := &syncBuffer{}
	a, err := newApp(context.Background(), fs, testEnv(t).with("JWTUP_CONFIG", path).get, logs, true)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if err := a.openMinter(); err != nil {
		t.Fatalf("openMinter: %v", err)
	}
	return a, path, logs
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mintFor mints for consumer c and audience aud, and returns the error.
func mintFor(a *app, aud string) error {
	_, err := a.minter.Mint(context.Background(), service.MintRequest{
		Consumer: service.Consumer{ID: "c"}, Audience: aud})
	return err
}

func TestReloadResolvesEverySetting(t *testing.T) {
	a, path, logs := reloadApp(t, "unknown_audience: deny\nprofiles:\n  orders: {}\n")
	ctx := context.Background()
	if err := mintFor(a, "billing"); !errors.Is(err, service.ErrUnknownAudience) {
		t.Fatalf("before the reload: %v, want ErrUnknownAudience", err)
	}

	writeConfig(t, path, "unknown_audience: allow\nprofiles:\n  orders: {}\n")
	a.reload(ctx)
	if err := mintFor(a, "billing"); err != nil {
		t.Errorf("unknown_audience allow was not applied: %v", err)
	}

	// A file that a start would refuse for a flat setting is refused by a
	// reload too, and changes nothing.
	for _, bad := range []string{
		"unknown_audience: deny\ntoken_ttl: 5 minutes\n",
		"unknown_audience: maybe\n",
		"unknown_audience: deny\nttl: 5m\n",
	} {
		writeConfig(t, path, bad)
		a.reload(ctx)
		if err := mintFor(a, "billing"); err != nil {
			t.Errorf("after the bad file %q the profiles changed: %v", bad, err)
		}
	}
	if n := strings.Count(logs.String(), "reload: kept the profiles in use"); n != 3 {
		t.Errorf("%d error lines for 3 bad files:\n%s", n, logs)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "kept the profiles") && !strings.Contains(line, "JWTUP_") && !strings.Contains(line, "unknown setting") {
			t.Errorf("the error line does not name the setting: %s", line)
		}
	}
}

func TestReloadLengthensKeyRetirement(t *testing.T) {
	a, path, _ := reloadApp(t, "profiles:\n  orders: {token_ttl: 1m, refresh_margin: 10s}\n")
	writeConfig(t, path, "profiles:\n  orders: {token_ttl: 2h, refresh_margin: 10s}\n")
	a.reload(context.Background())
	k, err := a.keys.Rotate(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	var retired bool
	for _, key := range a.keys.Keys() {
		if key.State == "retired" {
			retired = true
			if got := key.RemoveAt.Sub(key.RetiredAt); got < a.settings.JWKSMaxAge+2*60*60e9 {
				t.Errorf("a key retired after the reload stays %s, want at least 2h plus the max-age", got)
			}
		}
	}
	if !retired || k.KID == "" {
		t.Fatal("the rotation retired no key")
	}
}
