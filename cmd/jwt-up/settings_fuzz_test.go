package main

import (
	"strings"
	"testing"
)

// fuzzedSettings are the settings FuzzParseSettings sets, in the order of
// its arguments: the ones parsed most (URLs, lists, durations, numbers).
var fuzzedSettings = []string{"listen", "issuer", "database_url", "redis_url", "gateway_keys",
	"kek", "token_ttl", "refresh_margin", "cache_size", "auth_header"}

// FuzzParseSettings gives parseSettings any values for a few settings over
// the defaults. It must never panic; every line of its error must name a
// variable, since that is what an operator reads; and settings it accepts
// must hold together.
func FuzzParseSettings(f *testing.F) {
	f.Add(":8080", "http://localhost:8080", "", "", "", "", "5m", "30s", "100000", "Authorization")
	f.Add("127.0.0.1:0", "https://auth.example.com/", "postgres://u:p@db:5432/jwtup?sslmode=disable",
		"redis+sentinel://:pw@s1:26379,s2:26379/mymaster/2", "gw-0123456789abcdef, gw-fedcba9876543210",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "1h", "0s", "0", "X-Token")
	f.Add("8080", "ftp://x", "mysql://db", "http://cache", "short", "not base64!", "-5m", "10m", "-1", "X Token")
	f.Add("[::1]:80", "http://[::1", "sqlite://\x00", "redis://%zz", ",,,", "=", "1e9h", "5m1ns", "9999999999999999999", "")

	f.Fuzz(func(t *testing.T, listen, issuer, database, redis, gatewayKeys, kek,
		ttl, margin, cacheSize, authHeader string) {
		raw := map[string]string{}
		for _, s := range settingsTable {
			raw[s.key] = s.def
		}
		for i, v := range []string{listen, issuer, database, redis, gatewayKeys, kek,
			ttl, margin, cacheSize, authHeader} {
			raw[fuzzedSettings[i]] = v
		}

		s, err := parseSettings(raw)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "JWTUP_") {
					t.Fatalf("error line %q does not start with JWTUP_; whole error:\n%s", line, err)
				}
			}
			return
		}
		if s.TokenTTL <= 0 || s.RefreshMargin < 0 || s.RefreshMargin >= s.TokenTTL {
			t.Errorf("accepted TTL %s with refresh margin %s", s.TokenTTL, s.RefreshMargin)
		}
		if s.CacheSize < 0 || (s.CacheSize == 0 && s.RedisURL == "") {
			t.Errorf("accepted cache size %d with Redis URL %q", s.CacheSize, s.RedisURL)
		}
		if !validHeaderName(s.AuthHeader) {
			t.Errorf("accepted auth header %q", s.AuthHeader)
		}
		if len(s.KEK) != 0 && len(s.KEK) != 32 {
			t.Errorf("accepted a KEK of %d bytes", len(s.KEK))
		}
	})
}
