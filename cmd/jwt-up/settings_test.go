package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/jwt-up/jwt-up/service"
)

// resolve parses args as flags and resolves the raw settings.
func resolve(t *testing.T, e env, args ...string) (map[string]string, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addSettingFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %q: %v", args, err)
	}
	return rawSettings(fs, e.get)
}

// defaultRaw returns the raw settings with nothing set.
func defaultRaw(t *testing.T) map[string]string {
	t.Helper()
	raw, err := resolve(t, env{})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDefaultsMatchSpec(t *testing.T) {
	// SPEC section 4, the table of settings every deployment touches. An
	// empty default means unset: the code fills in the documented fallback.
	want := map[string]string{
		"listen":           ":8080",
		"issuer":           "http://localhost:8080",
		"data_dir":         "./data",
		"database_url":     "",
		"redis_url":        "",
		"gateway_keys":     "",
		"admin_keys":       "",
		"kek":              "",
		"signing_alg":      "RS256",
		"token_ttl":        "5m",
		"refresh_margin":   "30s",
		"clock_skew":       "0s",
		"jwks_max_age":     "5m",
		"key_rotation":     "720h",
		"claims_profile":   "standard",
		"default_audience": "",
		"auth_header":      "Authorization",
		"anonymous":        "deny",

		"token_type":           "JWT",
		"unknown_audience":     "allow",
		"subject_token_header": "X-Subject-Token",
		"body_digest_header":   "X-Body-SHA256",
	}
	raw := defaultRaw(t)
	got := map[string]string{}
	for k := range want {
		v, ok := raw[k]
		if !ok {
			t.Errorf("setting %s (%s) is missing", k, envName(k))
			continue
		}
		got[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("raw defaults (-spec +got):\n%s", diff)
	}

	s, err := parseSettings(raw)
	if err != nil {
		t.Fatalf("the defaults do not parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Listen", s.Listen, ":8080"},
		{"Issuer", s.Issuer, "http://localhost:8080"},
		{"DataDir", s.DataDir, "./data"},
		{"DatabaseURL", s.DatabaseURL, ""},
		{"RedisURL", s.RedisURL, ""},
		{"GatewayKeys", len(s.GatewayKeys), 0},
		{"AdminKeys", len(s.AdminKeys), 0},
		{"KEK is nil", s.KEK == nil, true},
		{"SigningAlg", s.SigningAlg, "RS256"},
		{"TokenTTL", s.TokenTTL, 5 * time.Minute},
		{"RefreshMargin", s.RefreshMargin, 30 * time.Second},
		{"ClockSkew", s.ClockSkew, time.Duration(0)},
		{"JWKSMaxAge", s.JWKSMaxAge, 5 * time.Minute},
		{"KeyRotation", s.KeyRotation, 720 * time.Hour},
		{"ClaimsProfile", s.ClaimsProfile, service.Profile("standard")},
		{"DefaultAudience is the issuer", s.DefaultAudience, "http://localhost:8080"},
		{"AuthHeader", s.AuthHeader, "Authorization"},
		{"Anonymous", s.Anonymous, false},
		{"TokenType", s.TokenType, "JWT"},
		{"SubjectTokenHeader", s.SubjectTokenHeader, "X-Subject-Token"},
		{"BodyDigestHeader", s.BodyDigestHeader, "X-Body-SHA256"},
		{"ConfigPath", s.ConfigPath, ""},
		{"Issuers is nil", s.Issuers == nil, true},
		{"Profiles.Audiences is nil", s.Profiles.Audiences == nil, true},
		{"Profiles.DenyUnknown", s.Profiles.DenyUnknown, false},
	}
	wantDefault := service.AudienceProfile{TTL: 5 * time.Minute, RefreshMargin: 30 * time.Second,
		Claims: service.ProfileStandard, Type: service.TypeJWT}
	if diff := cmp.Diff(wantDefault, s.Profiles.Default); diff != "" {
		t.Errorf("default profile (-want +got):\n%s", diff)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestSettingsPrecedence(t *testing.T) {
	const (
		yamlFile  = "testdata/settings.yaml"
		otherFile = "testdata/other.yaml"
	)
	tests := []struct {
		name string
		env  env
		args []string
		want map[string]string
	}{
		{
			name: "defaults",
			want: map[string]string{"listen": ":8080", "token_ttl": "5m", "anonymous": "deny",
				"issuer": "http://localhost:8080", "cache_size": "100000"},
		},
		{
			name: "YAML file from --config over defaults",
			args: []string{"--config", yamlFile},
			want: map[string]string{"listen": "127.0.0.1:9000", "token_ttl": "10m", "anonymous": "pass",
				"issuer": "https://yaml.example", "cache_size": "50", "claims_profile": "kong-headers"},
		},
		{
			name: "YAML file from JWTUP_CONFIG over defaults",
			env:  env{"JWTUP_CONFIG": yamlFile},
			want: map[string]string{"listen": "127.0.0.1:9000", "token_ttl": "10m", "anonymous": "pass"},
		},
		{
			name: "--config over JWTUP_CONFIG",
			env:  env{"JWTUP_CONFIG": yamlFile},
			args: []string{"--config", otherFile},
			want: map[string]string{"listen": "127.0.0.1:9100", "token_ttl": "5m", "anonymous": "deny"},
		},
		{
			name: "environment over YAML",
			env: env{"JWTUP_CONFIG": yamlFile, "JWTUP_LISTEN": "127.0.0.1:9200",
				"JWTUP_TOKEN_TTL": "15m", "JWTUP_GATEWAY_KEYS": "env-gateway-key-00001"},
			want: map[string]string{"listen": "127.0.0.1:9200", "token_ttl": "15m", "anonymous": "pass",
				"gateway_keys": "env-gateway-key-00001"},
		},
		{
			name: "environment over defaults",
			env:  env{"JWTUP_ANONYMOUS": "pass", "JWTUP_ISSUER": "https://env.example"},
			want: map[string]string{"anonymous": "pass", "issuer": "https://env.example", "listen": ":8080"},
		},
		{
			name: "flags over environment over YAML",
			env: env{"JWTUP_CONFIG": yamlFile, "JWTUP_LISTEN": "127.0.0.1:9200",
				"JWTUP_TOKEN_TTL": "15m", "JWTUP_CACHE_SIZE": "70"},
			args: []string{"--listen", "127.0.0.1:9300", "--token-ttl=20m", "--anonymous", "deny"},
			want: map[string]string{"listen": "127.0.0.1:9300", "token_ttl": "20m", "anonymous": "deny",
				"cache_size": "70", "issuer": "https://yaml.example"},
		},
		{
			name: "flags over defaults",
			args: []string{"--claims-profile", "kong-headers", "--refresh-margin", "1m"},
			want: map[string]string{"claims_profile": "kong-headers", "refresh_margin": "1m", "listen": ":8080"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == nil {
				tt.env = env{}
			}
			raw, err := resolve(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k := range tt.want {
				got[k] = raw[k]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if _, err := parseSettings(raw); err != nil {
				t.Errorf("parseSettings: %v", err)
			}
		})
	}
}

func TestYAMLList(t *testing.T) {
	raw, err := resolve(t, env{"JWTUP_CONFIG": "testdata/settings.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseSettings(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"yaml-gateway-key-0001", "yaml-gateway-key-0002"}
	if diff := cmp.Diff(want, s.GatewayKeys); diff != "" {
		t.Errorf("gateway keys (-want +got):\n%s", diff)
	}
}

func TestYAMLErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // substrings of the error
	}{
		{"unknown key", "testdata/unknown.yaml", []string{"token_tll", "unknown"}},
		{"map value", "testdata/nested.yaml", []string{"gateway_keys"}},
		{"malformed", "testdata/malformed.yaml", []string{"malformed.yaml"}},
		{"missing file", "testdata/absent.yaml", []string{"absent.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolve(t, env{}, "--config", tt.file)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// The new flat settings resolve as every other: flag, variable, file,
// default.
func TestProfileSettingsPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt-up.yaml")
	text := "token_type: at+jwt\nunknown_audience: deny\nsubject_token_header: X-From-File\n" +
		"body_digest_header: X-Digest-File\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := resolve(t, env{"JWTUP_CONFIG": path, "JWTUP_TOKEN_TYPE": "txntoken+jwt",
		"JWTUP_SUBJECT_TOKEN_HEADER": "X-From-Env"}, "--subject-token-header", "X-From-Flag")
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseSettings(raw)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{s.TokenType, s.Profiles.DenyUnknown, s.SubjectTokenHeader, s.BodyDigestHeader, s.ConfigPath}
	want := []any{"txntoken+jwt", true, "X-From-Flag", "X-Digest-File", path}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestYAMLUnknownKeyStopsCommand(t *testing.T) {
	e := testEnv(t).with("JWTUP_CONFIG", "testdata/unknown.yaml")
	_, _, err := run(t, e, "migrate")
	if err == nil || !strings.Contains(err.Error(), "token_tll") {
		t.Fatalf("migrate with an unknown YAML key: err = %v, want one naming token_tll", err)
	}
}

func TestInvalidSettings(t *testing.T) {
	shortKEK := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name, key, value string
		extra            map[string]string // other settings the case needs
	}{
		{name: "unknown algorithm", key: "signing_alg", value: "HS256"},
		{name: "algorithm in lower case", key: "signing_alg", value: "es256"},
		{name: "negative TTL", key: "token_ttl", value: "-5m"},
		{name: "zero TTL", key: "token_ttl", value: "0s"},
		{name: "malformed TTL", key: "token_ttl", value: "5 minutes"},
		{name: "TTL without unit", key: "token_ttl", value: "300"},
		{name: "refresh margin equal to TTL", key: "refresh_margin", value: "5m"},
		{name: "refresh margin above TTL", key: "refresh_margin", value: "10m"},
		{name: "negative refresh margin", key: "refresh_margin", value: "-1s"},
		{name: "malformed clock skew", key: "clock_skew", value: "soon"},
		{name: "negative clock skew", key: "clock_skew", value: "-1s"},
		{name: "malformed JWKS max-age", key: "jwks_max_age", value: "five"},
		{name: "key rotation equal to JWKS max-age", key: "key_rotation", value: "5m"},
		{name: "key rotation below JWKS max-age", key: "key_rotation", value: "1h",
			extra: map[string]string{"jwks_max_age": "2h"}},
		{name: "zero key rotation", key: "key_rotation", value: "0s"},
		{name: "zero key refresh", key: "key_refresh", value: "0s"},
		{name: "KEK not base64", key: "kek", value: "not base64 at all!"},
		{name: "KEK of 16 bytes", key: "kek", value: shortKEK},
		{name: "bad claims profile", key: "claims_profile", value: "kong"},
		{name: "bad anonymous", key: "anonymous", value: "allow"},
		{name: "listen without port", key: "listen", value: "8080"},
		{name: "listen as URL", key: "listen", value: "http://0.0.0.0:8080"},
		{name: "issuer of another scheme", key: "issuer", value: "ftp://example.com"},
		{name: "issuer without scheme", key: "issuer", value: "example.com"},
		{name: "issuer without host", key: "issuer", value: "https://"},
		{name: "empty issuer", key: "issuer", value: ""},
		{name: "auth header with space", key: "auth_header", value: "X Token"},
		{name: "auth header with colon", key: "auth_header", value: "X-Token:"},
		{name: "empty auth header", key: "auth_header", value: ""},
		{name: "cache size zero", key: "cache_size", value: "0"},
		{name: "cache size negative", key: "cache_size", value: "-1"},
		{name: "cache size not a number", key: "cache_size", value: "many"},
		{name: "bad log level", key: "log_level", value: "verbose"},
		{name: "bad log format", key: "log_format", value: "xml"},
		{name: "database URL of another scheme", key: "database_url", value: "mysql://u:p@db/jwtup"},
		{name: "database URL as bare path", key: "database_url", value: "/var/lib/jwt-up.db"},
		{name: "redis URL of another scheme", key: "redis_url", value: "http://cache:6379"},
		{name: "redis URL without host", key: "redis_url", value: "redis://"},
		{name: "short gateway key", key: "gateway_keys", value: "short"},
		{name: "one short gateway key among long ones", key: "gateway_keys",
			value: "a-long-enough-gateway-key, short"},
		{name: "short admin key", key: "admin_keys", value: "admin"},
		{name: "empty data dir", key: "data_dir", value: ""},
		{name: "admin key that is also a gateway key", key: "admin_keys", value: "one-key-for-everything",
			extra: map[string]string{"gateway_keys": "one-key-for-everything"}},
		{name: "unknown token type", key: "token_type", value: "jwt"},
		{name: "empty token type", key: "token_type", value: ""},
		{name: "at+jwt with kong-headers", key: "token_type", value: "at+jwt",
			extra: map[string]string{"claims_profile": "kong-headers"}},
		{name: "txntoken+jwt with kong-headers", key: "token_type", value: "txntoken+jwt",
			extra: map[string]string{"claims_profile": "kong-headers"}},
		{name: "bad unknown audience", key: "unknown_audience", value: "refuse"},
		{name: "subject token header Authorization", key: "subject_token_header", value: "Authorization"},
		{name: "subject token header authorization", key: "subject_token_header", value: "authorization"},
		{name: "subject token header with space", key: "subject_token_header", value: "X Subject"},
		{name: "empty subject token header", key: "subject_token_header", value: ""},
		{name: "body digest header Authorization", key: "body_digest_header", value: "AUTHORIZATION"},
		{name: "body digest header with colon", key: "body_digest_header", value: "X-Body:"},
		{name: "body digest header that is the subject token header", key: "body_digest_header",
			value: "x-subject-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := defaultRaw(t)
			for k, v := range tt.extra {
				raw[k] = v
			}
			raw[tt.key] = tt.value
			_, err := parseSettings(raw)
			if err == nil {
				t.Fatalf("%s=%q: no error", envName(tt.key), tt.value)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 1 {
				t.Errorf("want one error line, got %d:\n%s", len(lines), err)
			}
			if want := envName(tt.key) + ": "; !strings.HasPrefix(lines[0], want) {
				t.Errorf("error %q does not start with %q", lines[0], want)
			}
			if strings.HasPrefix(tt.value, "-") && strings.Contains(lines[0], "greater than zero") &&
				tt.key != "token_ttl" && tt.key != "key_rotation" && tt.key != "key_refresh" {
				t.Errorf("a negative %s where zero is allowed: %q, want 'must not be negative'", tt.key, lines[0])
			}
		})
	}
}

func TestShortGatewayKeyInFile(t *testing.T) {
	e := testEnv(t)
	dir := e["JWTUP_DATA_DIR"]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, gatewayFileName), []byte("a-long-enough-gateway-key\nshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := resolve(t, e)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseSettings(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadGatewayKeys(s); err == nil || !strings.Contains(err.Error(), "JWTUP_DATA_DIR") {
		t.Errorf("a short key in the gateway-keys file: err = %v, want one naming JWTUP_DATA_DIR", err)
	}
}

func TestValidSettings(t *testing.T) {
	kek := make([]byte, service.KEKSize)
	for i := range kek {
		kek[i] = byte(250 + i) // bytes that differ between the base64 alphabets
	}
	tests := []struct {
		name, key, value string
		check            func(settings) bool
	}{
		{"KEK in standard base64", "kek", base64.StdEncoding.EncodeToString(kek) + "\n",
			func(s settings) bool { return bytes.Equal(s.KEK, kek) }},
		{"KEK in URL-safe base64 without padding", "kek", base64.RawURLEncoding.EncodeToString(kek),
			func(s settings) bool { return bytes.Equal(s.KEK, kek) }},
		{"zero refresh margin", "refresh_margin", "0s",
			func(s settings) bool { return s.RefreshMargin == 0 }},
		{"issuer with trailing slash", "issuer", "https://jwt.example/",
			func(s settings) bool { return s.Issuer == "https://jwt.example" && s.DefaultAudience == s.Issuer }},
		{"sqlite URL", "database_url", "sqlite:///var/lib/jwt-up.db",
			func(s settings) bool { return s.DatabaseURL == "sqlite:///var/lib/jwt-up.db" }},
		{"gateway keys with spaces", "gateway_keys", " gateway-key-number-1 , gateway-key-number-2 ,",
			func(s settings) bool {
				return cmp.Equal(s.GatewayKeys, []string{"gateway-key-number-1", "gateway-key-number-2"})
			}},
		{"anonymous pass", "anonymous", "pass", func(s settings) bool { return s.Anonymous }},
		{"default audience", "default_audience", "orders-api",
			func(s settings) bool { return s.DefaultAudience == "orders-api" }},
		{"every algorithm", "signing_alg", "EdDSA", func(s settings) bool { return s.SigningAlg == "EdDSA" }},
		{"token type at+jwt", "token_type", "at+jwt", func(s settings) bool {
			return s.TokenType == "at+jwt" && s.Profiles.Default.Type == "at+jwt"
		}},
		{"token type txntoken+jwt", "token_type", "txntoken+jwt",
			func(s settings) bool { return s.Profiles.Default.Type == "txntoken+jwt" }},
		{"unknown audience deny", "unknown_audience", "deny", func(s settings) bool { return s.Profiles.DenyUnknown }},
		{"subject token header", "subject_token_header", "X-Id-Token",
			func(s settings) bool { return s.SubjectTokenHeader == "X-Id-Token" }},
		{"body digest header", "body_digest_header", "Content-Digest",
			func(s settings) bool { return s.BodyDigestHeader == "Content-Digest" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := defaultRaw(t)
			raw[tt.key] = tt.value
			s, err := parseSettings(raw)
			if err != nil {
				t.Fatalf("%s=%q: %v", envName(tt.key), tt.value, err)
			}
			if !tt.check(s) {
				t.Errorf("%s=%q: parsed to %+v", envName(tt.key), tt.value, s)
			}
		})
	}
}

func TestPostgresNeedsSharedSecrets(t *testing.T) {
	kek := base64.StdEncoding.EncodeToString(make([]byte, service.KEKSize))
	tests := []struct {
		name   string
		set    map[string]string
		wantOK bool
	}{
		{"no gateway keys, no KEK", map[string]string{}, false},
		{"no KEK", map[string]string{"gateway_keys": "gateway-key-number-1"}, false},
		{"no gateway keys", map[string]string{"kek": kek}, false},
		{"gateway keys and KEK", map[string]string{"gateway_keys": "gateway-key-number-1", "kek": kek}, true},
		{"gateway keys and KEK file", map[string]string{"gateway_keys": "gateway-key-number-1",
			"kek_file": "/run/secrets/kek"}, true},
	}
	for _, scheme := range []string{"postgres", "postgresql"} {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				raw := defaultRaw(t)
				raw["database_url"] = scheme + "://jwtup@db/jwtup"
				for k, v := range tt.set {
					raw[k] = v
				}
				_, err := parseSettings(raw)
				if tt.wantOK {
					if err != nil {
						t.Errorf("err = %v, want none", err)
					}
					return
				}
				if err == nil || !strings.HasPrefix(err.Error(), "JWTUP_DATABASE_URL: ") ||
					strings.Contains(err.Error(), "\n") {
					t.Errorf("err = %v, want one line naming JWTUP_DATABASE_URL", err)
				}
			})
		}
	}
}

func TestSeveralBadSettingsAllReported(t *testing.T) {
	raw := defaultRaw(t)
	raw["signing_alg"] = "HS256"
	raw["token_ttl"] = "-1m"
	raw["anonymous"] = "maybe"
	raw["cache_size"] = "0"
	raw["kek"] = "!!!"

	_, err := parseSettings(raw)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	var got []string
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		got = append(got, name)
	}
	want := []string{"JWTUP_KEK", "JWTUP_SIGNING_ALG", "JWTUP_TOKEN_TTL", "JWTUP_ANONYMOUS", "JWTUP_CACHE_SIZE"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("variables named, one line each (-want +got):\n%s\nerror:\n%s", diff, err)
	}
}

func TestBadSettingStopsCommand(t *testing.T) {
	e := testEnv(t).with("JWTUP_TOKEN_TTL", "0s", "JWTUP_ANONYMOUS", "allow")
	_, _, err := run(t, e, "migrate")
	if err == nil {
		t.Fatal("migrate with bad settings: no error")
	}
	for _, name := range []string{"JWTUP_TOKEN_TTL", "JWTUP_ANONYMOUS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

// logged renders logValues through a JSON logger and returns the line and
// its fields.
func logged(t *testing.T, raw map[string]string) (string, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", logValues(raw)...)
	var fields map[string]any
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	return buf.String(), fields
}

func TestLogValuesMasksSecrets(t *testing.T) {
	raw := defaultRaw(t)
	raw["gateway_keys"] = "gateway-secret-number-1,gateway-secret-number-2"
	raw["admin_keys"] = "admin-secret-number-1"
	raw["kek"] = base64.StdEncoding.EncodeToString([]byte("kek-secret-kek-secret-kek-secret"))
	raw["database_url"] = "postgres://jwtup:db-secret@db.internal:5432/jwtup?sslmode=require"
	raw["redis_url"] = "redis+sentinel://:redis-secret@s1:26379,s2:26379/primary/0"

	line, fields := logged(t, raw)
	for _, secret := range []string{"gateway-secret", "admin-secret", raw["kek"], "db-secret", "redis-secret"} {
		if strings.Contains(line, secret) {
			t.Errorf("start-up line holds secret %q:\n%s", secret, line)
		}
	}
	want := map[string]any{
		"gateway_keys": "<2 set>",
		"admin_keys":   "<1 set>",
		"kek":          "<1 set>",
		"database_url": "postgres://jwtup:xxxxx@db.internal:5432/jwtup?sslmode=require",
		"redis_url":    "redis+sentinel://:xxxxx@s1:26379,s2:26379/primary/0",
		"listen":       ":8080",
		"signing_alg":  "RS256",
	}
	got := map[string]any{}
	for k := range want {
		got[k] = fields[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logged settings (-want +got):\n%s", diff)
	}
	for _, s := range settingsTable {
		if _, ok := fields[s.key]; !ok {
			t.Errorf("setting %s is not logged", s.key)
		}
	}
}

func TestLogValuesUnsetSecretsStayEmpty(t *testing.T) {
	_, fields := logged(t, defaultRaw(t))
	for _, k := range []string{"gateway_keys", "admin_keys", "kek", "database_url"} {
		if fields[k] != "" {
			t.Errorf("%s = %q, want empty", k, fields[k])
		}
	}
}

// A database password may also sit in the query (libpq and pgx read
// ?password=), and a URL that does not parse is logged as it is.
func TestLogValuesMasksEveryDatabasePassword(t *testing.T) {
	tests := []struct{ name, url string }{
		{"password in user info", "postgres://jwtup:db-secret@db/jwtup"},
		{"password in the query", "postgres://jwtup@db/jwtup?sslmode=require&password=db-secret"},
		{"URL that does not parse", "postgres://jwtup:db-secret%zz@db/jwtup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := defaultRaw(t)
			raw["database_url"] = tt.url
			line, _ := logged(t, raw)
			if strings.Contains(line, "db-secret") {
				t.Errorf("start-up line holds the database password:\n%s", line)
			}
		})
	}
}

func TestCacheSizeZeroNeedsRedis(t *testing.T) {
	raw := defaultRaw(t)
	raw["cache_size"] = "0"
	if _, err := parseSettings(raw); err == nil || !strings.Contains(err.Error(), "JWTUP_REDIS_URL") {
		t.Errorf("cache_size 0 without Redis: err = %v, want one pointing at JWTUP_REDIS_URL", err)
	}
	raw["redis_url"] = "redis://127.0.0.1:6379/0"
	s, err := parseSettings(raw)
	if err != nil || s.CacheSize != 0 {
		t.Errorf("cache_size 0 with Redis: settings %d, err %v; want 0, nil", s.CacheSize, err)
	}
}

func TestReadyStoreTimeout(t *testing.T) {
	raw := defaultRaw(t)
	raw["key_refresh"] = "5s"
	s, err := parseSettings(raw)
	if err != nil || s.ReadyStoreTimeout != 15*time.Second {
		t.Errorf("default: %v, %v; want three key refreshes, 15s", s.ReadyStoreTimeout, err)
	}
	raw["ready_store_timeout"] = "10m"
	if s, err = parseSettings(raw); err != nil || s.ReadyStoreTimeout != 10*time.Minute {
		t.Errorf("set to 10m: %v, %v", s.ReadyStoreTimeout, err)
	}
	raw["ready_store_timeout"] = "0s"
	if _, err = parseSettings(raw); err == nil || !strings.HasPrefix(err.Error(), "JWTUP_READY_STORE_TIMEOUT: ") {
		t.Errorf("set to 0s: err = %v, want one naming JWTUP_READY_STORE_TIMEOUT", err)
	}
}
