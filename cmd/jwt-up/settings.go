package main

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/jwt-up/jwt-up/service"
	"github.com/jwt-up/jwt-up/store/redis"
)

// setting describes one setting: its YAML key, from which the variable
// (JWTUP_ + upper case) and the flag (dashes) are derived.
type setting struct {
	key    string
	def    string
	help   string
	secret bool
}

// settingsTable lists every setting. Order is the order of the start-up log
// line and of --help.
var settingsTable = []setting{
	{key: "listen", def: ":8080", help: "address to serve on"},
	{key: "tls_cert", help: "PEM certificate chain to serve HTTPS with (with tls_key; default: plain HTTP)"},
	{key: "tls_key", help: "PEM private key of tls_cert"},
	{key: "tls_client_ca", help: "PEM CA bundle that verifies gateways' client certificates (mTLS)"},
	{key: "tls_client_subjects", help: "client certificate names (CN or DNS name) that mint without a gateway key"},
	{key: "issuer", def: "http://localhost:8080", help: "iss of every token, base of jwks_uri"},
	{key: "data_dir", def: "./data", help: "where embedded state lives"},
	{key: "database_url", help: "postgres://… or sqlite://… (default: SQLite in the data dir)"},
	{key: "redis_url", help: "redis://, rediss://, redis+sentinel:// or redis+cluster:// shared token cache (default: in-process only)"},
	{key: "gateway_keys", help: "comma-separated gateway keys (default: generated, kept in the data dir)", secret: true},
	{key: "admin_keys", help: "comma-separated admin keys (default: admin API off)", secret: true},
	{key: "kek", help: "base64 key-encryption key, 32 bytes (default: generated, kept in the data dir)", secret: true},
	{key: "kek_file", help: "file holding the base64 key-encryption key"},
	{key: "signing_alg", def: "RS256", help: "RS256, PS256, ES256, ES384 or EdDSA"},
	{key: "token_ttl", def: "5m", help: "token lifetime"},
	{key: "refresh_margin", def: "30s", help: "least lifetime left on a handed-out token"},
	{key: "clock_skew", def: "0s", help: "how far nbf lies before iat"},
	{key: "jwks_max_age", def: "5m", help: "JWKS Cache-Control max-age"},
	{key: "key_rotation", def: "720h", help: "how often a new key takes over"},
	{key: "key_refresh", def: "10s", help: "how often the key set is read again from the store"},
	{key: "ready_store_timeout", help: "how long the key store may go unanswered before /readyz answers 503 (default: three key refreshes)"},
	{key: "claims_profile", def: "standard", help: "standard or kong-headers"},
	{key: "token_type", def: "JWT", help: "typ of the tokens of audiences without a profile: JWT, at+jwt or txntoken+jwt"},
	{key: "unknown_audience", def: "allow", help: "allow or deny, for audiences without a profile"},
	{key: "subject_token_header", def: "X-Subject-Token", help: "request header of /v1/auth with a token to re-sign"},
	{key: "body_digest_header", def: "X-Body-SHA256", help: "request header of /v1/auth with the SHA-256 of the body, for bound tokens"},
	{key: "default_audience", help: "aud when a request names none (default: the issuer)"},
	{key: "auth_header", def: "Authorization", help: "response header of /v1/auth"},
	{key: "anonymous", def: "deny", help: "deny or pass, for /v1/auth without identity"},
	{key: "auth_failure_limit", def: "10", help: "failed authentications per address and window before 429; 0 is off"},
	{key: "auth_failure_window", def: "1m", help: "how long an address's failed authentications are counted"},
	{key: "cache_size", def: "100000", help: "most tokens kept in process; 0 keeps none (Redis only)"},
	{key: "shutdown_delay", def: "0s", help: "after a stop signal, how long /readyz says 503 before the port closes"},
	{key: "shutdown_grace", def: "15s", help: "then, how long requests in flight may take to finish"},
	{key: "log_level", def: "info", help: "debug, info, warn or error"},
	{key: "log_format", def: "auto", help: "auto (text on a terminal, else JSON), text or json"},
}

// minKeyLength is the least length of a gateway or admin key.
const minKeyLength = 16

func envName(key string) string  { return "JWTUP_" + strings.ToUpper(key) }
func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// addSettingFlags declares a flag for every setting, plus --config.
func addSettingFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML settings file (also JWTUP_CONFIG)")
	for _, s := range settingsTable {
		fs.String(flagName(s.key), "", fmt.Sprintf("%s (%s; default %q)", s.help, envName(s.key), s.def))
	}
}

// configKey holds, in the raw settings, the path of the YAML file in use:
// parseSettings reads its profiles and trusted issuers.
const configKey = "config"

// rawSettings resolves every setting to a string: flags over JWTUP_*
// variables over the YAML file over defaults. The path of the YAML file is
// kept under configKey.
func rawSettings(fs *pflag.FlagSet, getenv func(string) string) (map[string]string, error) {
	raw := map[string]string{}
	for _, s := range settingsTable {
		raw[s.key] = s.def
	}

	path := getenv("JWTUP_CONFIG")
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path = f.Value.String()
	}
	if path != "" {
		if err := readYAML(path, raw); err != nil {
			return nil, err
		}
	}
	// Set after the file is read, so that the file cannot name itself.
	raw[configKey] = path

	for _, s := range settingsTable {
		if v, ok := lookupEnv(getenv, envName(s.key)); ok {
			raw[s.key] = v
		}
		if f := fs.Lookup(flagName(s.key)); f != nil && f.Changed {
			raw[s.key] = f.Value.String()
		}
	}
	return raw, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// readYAML lays the settings of a YAML file over raw. Unknown keys are an
// error: a typo must not pass silently. The structured keys are left to
// loadProfiles.
func readYAML(path string, raw map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return layYAML(path, data, raw)
}

// layYAML lays the settings of data, the contents of the YAML file at
// path, over raw, as readYAML does.
func layYAML(path string, data []byte, raw map[string]string) error {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config %s: %s", path, oneLine(err))
	}
	for k, v := range doc {
		if slices.Contains(structuredKeys, k) {
			continue
		}
		if _, known := raw[k]; !known {
			return fmt.Errorf("config %s: unknown setting %q", path, k)
		}
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			raw[k] = strings.Join(parts, ",")
		case map[string]any:
			return fmt.Errorf("config %s: %s must be a single value", path, k)
		case nil:
			raw[k] = ""
		default:
			raw[k] = fmt.Sprint(v)
		}
	}
	return nil
}

// settings is the typed, validated form of every setting.
type settings struct {
	Listen         string
	TLS            *tls.Config // nil: plain HTTP
	ClientSubjects []string    // client certificate names that authenticate a gateway
	Issuer         string
	DataDir        string
	DatabaseURL    string
	RedisURL       string
	GatewayKeys    []string
	AdminKeys      []string
	KEK            []byte // nil: read from KEKFile or the data dir
	KEKFile        string
	SigningAlg     string
	TokenTTL       time.Duration
	RefreshMargin  time.Duration
	ClockSkew      time.Duration
	JWKSMaxAge     time.Duration
	KeyRotation    time.Duration
	KeyRefresh     time.Duration
	// ReadyStoreTimeout is how long the key store may go unanswered
	// before readiness fails.
	ReadyStoreTimeout time.Duration
	ClaimsProfile     service.Profile
	DefaultAudience   string
	AuthHeader        string
	Anonymous         bool
	AuthFailures      int // 0: no limit
	AuthWindow        time.Duration
	CacheSize         int
	ShutdownDelay     time.Duration
	ShutdownGrace     time.Duration
	LogLevel          string
	LogFormat         string

	// TokenType is the typ of the tokens of audiences without a profile.
	TokenType string
	// SubjectTokenHeader is the request header of /v1/auth that carries a
	// token to re-sign.
	SubjectTokenHeader string
	// BodyDigestHeader is the request header of /v1/auth that carries the
	// SHA-256 of the request body, for bound tokens.
	BodyDigestHeader string
	// Profiles are the audiences' profiles. Default is made of the global
	// settings, DenyUnknown of unknown_audience, Audiences of the file.
	Profiles service.Profiles
	// Issuers are the trusted issuers whose tokens are re-signed.
	Issuers []service.TrustedIssuer
	// ConfigPath is the YAML file in use, "" for none.
	ConfigPath string
}

// parseSettings types and checks raw settings. Every problem is reported,
// one line each, naming the variable.
func parseSettings(raw map[string]string) (settings, error) {
	var (
		s      settings
		errs   []error
		badKey = map[string]bool{}
	)
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", envName(key), fmt.Sprintf(format, args...)))
		badKey[key] = true
	}
	duration := func(key string, allowZero bool) time.Duration {
		d, err := time.ParseDuration(raw[key])
		switch {
		case err != nil:
			bad(key, "%q is not a duration (write e.g. 30s, 5m, 720h)", raw[key])
		case d < 0 && allowZero:
			bad(key, "must not be negative, got %s", raw[key])
		case d < 0 || (d == 0 && !allowZero):
			bad(key, "must be greater than zero, got %s", raw[key])
		}
		return d
	}

	s.Listen = raw["listen"]
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		bad("listen", "%q is not host:port (write e.g. :8080)", s.Listen)
	}
	s.Issuer = strings.TrimSuffix(raw["issuer"], "/")
	if u, err := url.Parse(s.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("issuer", "%q is not an http(s) URL", raw["issuer"])
	}
	s.DataDir = raw["data_dir"]
	if s.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	s.DatabaseURL = raw["database_url"]
	if s.DatabaseURL != "" && !strings.HasPrefix(s.DatabaseURL, "sqlite://") &&
		!strings.HasPrefix(s.DatabaseURL, "postgres://") && !strings.HasPrefix(s.DatabaseURL, "postgresql://") {
		bad("database_url", "must start with sqlite:// or postgres://")
	}
	s.RedisURL = raw["redis_url"]
	if s.RedisURL != "" {
		if _, err := redis.Options(s.RedisURL); err != nil {
			bad("redis_url", "%v", err)
		}
	}
	s.GatewayKeys = splitList(raw["gateway_keys"])
	s.AdminKeys = splitList(raw["admin_keys"])
	for _, k := range []string{"gateway_keys", "admin_keys"} {
		for _, key := range splitList(raw[k]) {
			if len(key) < minKeyLength {
				bad(k, "every key must be at least %d characters long", minKeyLength)
				break
			}
		}
	}
	for _, k := range s.AdminKeys {
		if slices.Contains(s.GatewayKeys, k) {
			bad("admin_keys", "an admin key must not also be a gateway key")
			break
		}
	}
	if raw["kek"] != "" {
		kek, err := decodeKEK(raw["kek"])
		if err != nil {
			bad("kek", "%v", err)
		}
		s.KEK = kek
	}
	s.KEKFile = raw["kek_file"]
	if s.postgres() && (len(s.GatewayKeys) == 0 || (s.KEK == nil && s.KEKFile == "")) {
		bad("database_url", "a PostgreSQL key store is shared by replicas, which must share their secrets too: "+
			"set JWTUP_GATEWAY_KEYS and JWTUP_KEK (or JWTUP_KEK_FILE)")
	}

	s.SigningAlg = raw["signing_alg"]
	if !service.ValidAlgorithm(s.SigningAlg) {
		bad("signing_alg", "%q is not one of %s", s.SigningAlg, strings.Join(service.Algorithms, ", "))
	}
	s.TokenTTL = duration("token_ttl", false)
	s.RefreshMargin = duration("refresh_margin", true)
	if s.TokenTTL > 0 && s.RefreshMargin >= s.TokenTTL {
		bad("refresh_margin", "must be less than JWTUP_TOKEN_TTL (%s), got %s", s.TokenTTL, s.RefreshMargin)
	}
	s.ClockSkew = duration("clock_skew", true)
	s.JWKSMaxAge = duration("jwks_max_age", true)
	s.KeyRotation = duration("key_rotation", false)
	if s.KeyRotation > 0 && s.KeyRotation <= s.JWKSMaxAge {
		bad("key_rotation", "must be longer than JWTUP_JWKS_MAX_AGE (%s), so a new key is published before it signs", s.JWKSMaxAge)
	}
	s.KeyRefresh = duration("key_refresh", false)
	s.ReadyStoreTimeout = 3 * s.KeyRefresh
	if raw["ready_store_timeout"] != "" {
		s.ReadyStoreTimeout = duration("ready_store_timeout", false)
	}

	s.ClaimsProfile = service.Profile(raw["claims_profile"])
	if !s.ClaimsProfile.Valid() {
		bad("claims_profile", "%q is not standard or kong-headers", raw["claims_profile"])
	}
	s.TokenType = raw["token_type"]
	if !slices.Contains(service.TokenTypes, s.TokenType) {
		bad("token_type", "%q is not %s", s.TokenType, strings.Join(service.TokenTypes, ", "))
	}
	switch raw["unknown_audience"] {
	case "allow":
	case "deny":
		s.Profiles.DenyUnknown = true
	default:
		bad("unknown_audience", "%q is not allow or deny", raw["unknown_audience"])
	}
	s.SubjectTokenHeader = requestHeader(raw, "subject_token_header", bad)
	s.BodyDigestHeader = requestHeader(raw, "body_digest_header", bad)
	if s.SubjectTokenHeader != "" && strings.EqualFold(s.SubjectTokenHeader, s.BodyDigestHeader) {
		bad("body_digest_header", "must differ from JWTUP_SUBJECT_TOKEN_HEADER, got %s", s.BodyDigestHeader)
	}
	profileKeys := []string{"token_ttl", "refresh_margin", "claims_profile", "token_type", "unknown_audience"}
	globalsOK := !slices.ContainsFunc(profileKeys, func(k string) bool { return badKey[k] })
	if globalsOK {
		globalsOK = checkDefaultProfile(s, bad)
	}

	s.DefaultAudience = raw["default_audience"]
	if s.DefaultAudience == "" {
		s.DefaultAudience = s.Issuer
	}
	s.AuthHeader = raw["auth_header"]
	if !validHeaderName(s.AuthHeader) {
		bad("auth_header", "%q is not a valid header name", s.AuthHeader)
	}
	switch raw["anonymous"] {
	case "deny":
	case "pass":
		s.Anonymous = true
	default:
		bad("anonymous", "%q is not deny or pass", raw["anonymous"])
	}
	n, err := strconv.Atoi(raw["cache_size"])
	switch {
	case err != nil || n < 0:
		bad("cache_size", "%q is not a whole number", raw["cache_size"])
	case n == 0 && s.RedisURL == "":
		bad("cache_size", "0 (no in-process cache) needs JWTUP_REDIS_URL: without either, every request would sign")
	}
	s.CacheSize = n

	s.TLS, s.ClientSubjects = parseTLS(raw, bad)
	s.AuthFailures = wholeNumber(raw, "auth_failure_limit", bad)
	s.AuthWindow = duration("auth_failure_window", false)
	s.ShutdownDelay = duration("shutdown_delay", true)
	s.ShutdownGrace = duration("shutdown_grace", false)

	s.LogLevel = raw["log_level"]
	if _, err := parseLevel(s.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	s.LogFormat = raw["log_format"]
	if s.LogFormat != "auto" && s.LogFormat != "text" && s.LogFormat != "json" {
		bad("log_format", "%q is not auto, text or json", s.LogFormat)
	}

	// The file's profiles inherit the globals, so they are read only when
	// the globals are good: a bad token_ttl is then reported once.
	s.ConfigPath = raw[configKey]
	if globalsOK {
		var err error
		if s.Profiles, s.Issuers, err = loadProfiles(s.ConfigPath, s); err != nil {
			errs = append(errs, err)
		}
	}
	return s, errors.Join(errs...)
}

// checkDefaultProfile checks the profile the global settings make, naming
// the variables, and reports whether it is good.
func checkDefaultProfile(s settings, bad badFunc) bool {
	def := defaultProfile(s)
	if def.Type != service.TypeJWT && def.Claims != service.ProfileStandard {
		bad("token_type", "%s tokens need JWTUP_CLAIMS_PROFILE standard, which carries sub; got %s",
			def.Type, def.Claims)
		return false
	}
	err := def.Check()
	if err == nil {
		return true
	}
	field, detail, _ := strings.Cut(err.Error(), ": ")
	if field == "typ" {
		field = "token_type"
	}
	if !slices.ContainsFunc(settingsTable, func(st setting) bool { return st.key == field }) {
		field, detail = "token_type", err.Error()
	}
	bad(field, "%s", detail)
	return false
}

// requestHeader reads the setting key as the name of a request header of
// /v1/auth. Authorization carries the gateway key, so it is refused.
func requestHeader(raw map[string]string, key string, bad badFunc) string {
	h := raw[key]
	switch {
	case !validHeaderName(h):
		bad(key, "%q is not a valid header name", h)
		return ""
	case strings.EqualFold(h, "Authorization"):
		bad(key, "must not be Authorization, which carries the gateway key")
		return ""
	}
	return h
}

// badFunc records a problem with the setting key, as parseSettings does.
type badFunc func(key, format string, args ...any)

// wholeNumber reads the setting key as a number of zero or more.
func wholeNumber(raw map[string]string, key string, bad badFunc) int {
	n, err := strconv.Atoi(raw[key])
	if err != nil || n < 0 {
		bad(key, "%q is not a whole number", raw[key])
		return 0
	}
	return n
}

// postgres reports whether the key store is PostgreSQL.
func (s settings) postgres() bool {
	return strings.HasPrefix(s.DatabaseURL, "postgres://") || strings.HasPrefix(s.DatabaseURL, "postgresql://")
}

// decodeKEK reads a base64 (standard or URL alphabet) 32-byte key.
func decodeKEK(v string) ([]byte, error) {
	b, ok := decodeBase64(v)
	if !ok {
		return nil, errors.New("is not base64 (make one with: openssl rand -base64 32)")
	}
	if len(b) != service.KEKSize {
		return nil, fmt.Errorf("must decode to %d bytes, got %d", service.KEKSize, len(b))
	}
	return b, nil
}

// decodeBase64 reads base64 in the standard or URL alphabet, padded or
// not, around spaces.
func decodeBase64(v string) ([]byte, bool) {
	v = strings.TrimSpace(v)
	encodings := []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	}
	for _, enc := range encodings {
		if b, err := enc.DecodeString(v); err == nil {
			return b, true
		}
	}
	return nil, false
}

// oneLine joins the lines of a multi-line error, as yaml.v3 writes its
// unmarshal errors, so that each problem stays one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// logValues returns the effective settings for the start-up log line, with
// secrets masked.
func logValues(raw map[string]string) []any {
	var out []any
	for _, s := range settingsTable {
		v := raw[s.key]
		if s.secret && v != "" {
			v = fmt.Sprintf("<%d set>", len(splitList(v)))
		}
		if s.key == "database_url" || s.key == "redis_url" {
			v = maskURL(v)
		}
		out = append(out, s.key, v)
	}
	return out
}

// maskURL hides the password of a connection URL, in the user part or in a
// password parameter. A URL that does not parse is hidden whole.
func maskURL(v string) string {
	if v == "" {
		return v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "<hidden: not a URL>"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
