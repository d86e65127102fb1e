package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGatewayChannelSettingsDefaults(t *testing.T) {
	s, err := parseSettings(defaultRaw(t))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TLS off", s.TLS == nil, true},
		{"ClientSubjects", len(s.ClientSubjects), 0},
		{"AuthFailures", s.AuthFailures, 10},
		{"AuthWindow", s.AuthWindow, time.Minute},
		{"ShutdownDelay", s.ShutdownDelay, time.Duration(0)},
		{"ShutdownGrace", s.ShutdownGrace, 15 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestTLSSettings(t *testing.T) {
	p := newPKI(t)
	raw := defaultRaw(t)
	raw["tls_cert"], raw["tls_key"] = p.certFile, p.keyFile
	raw["tls_client_ca"], raw["tls_client_subjects"] = p.caFile, " kong-1 , nginx-1,"
	s, err := parseSettings(raw)
	if err != nil {
		t.Fatal(err)
	}
	if s.TLS.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %#x, want TLS 1.2", s.TLS.MinVersion)
	}
	if s.TLS.ClientAuth != tls.VerifyClientCertIfGiven || s.TLS.ClientCAs == nil {
		t.Errorf("ClientAuth = %v (CAs %v), want VerifyClientCertIfGiven with the CA", s.TLS.ClientAuth, s.TLS.ClientCAs)
	}
	if len(s.TLS.Certificates) != 1 {
		t.Errorf("%d certificates, want 1", len(s.TLS.Certificates))
	}
	if diff := cmp.Diff([]string{"kong-1", "nginx-1"}, s.ClientSubjects); diff != "" {
		t.Errorf("ClientSubjects (-want +got):\n%s", diff)
	}

	raw["tls_client_ca"], raw["tls_client_subjects"] = "", ""
	if s, err = parseSettings(raw); err != nil || s.TLS.ClientAuth != tls.NoClientCert {
		t.Errorf("TLS without a client CA: ClientAuth %v, err %v; want none asked for", s.TLS.ClientAuth, err)
	}
}

// TestInvalidGatewayChannelSettings: one line each, naming the variable.
func TestInvalidGatewayChannelSettings(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, otherKey := writePair(t, dir, "other", p.ca.leaf(t, "other", 0))
	missing := filepath.Join(dir, "missing.pem")
	tlsOn := map[string]string{"tls_cert": p.certFile, "tls_key": p.keyFile}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"tls_cert": p.certFile, "tls_key": p.keyFile}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	tests := []struct {
		name, key, value string
		extra            map[string]string
	}{
		{name: "certificate without key", key: "tls_key", value: "", extra: with("tls_key", "")},
		{name: "key without certificate", key: "tls_cert", value: "", extra: with("tls_cert", "")},
		{name: "certificate file missing", key: "tls_cert", value: missing, extra: tlsOn},
		{name: "key file missing", key: "tls_key", value: missing, extra: tlsOn},
		{name: "certificate not PEM", key: "tls_cert", value: garbage, extra: tlsOn},
		{name: "key of another certificate", key: "tls_cert", value: p.certFile,
			extra: with("tls_key", otherKey)},
		{name: "certificate is a directory", key: "tls_cert", value: dir, extra: tlsOn},
		{name: "client CA without TLS", key: "tls_client_ca", value: p.caFile},
		{name: "client CA missing", key: "tls_client_ca", value: missing,
			extra: with("tls_client_subjects", "kong-1")},
		{name: "client CA not PEM", key: "tls_client_ca", value: garbage,
			extra: with("tls_client_subjects", "kong-1")},
		{name: "client CA without subjects", key: "tls_client_subjects", value: "",
			extra: with("tls_client_ca", p.caFile)},
		{name: "subjects without client CA", key: "tls_client_subjects", value: "kong-1", extra: tlsOn},
		{name: "subjects without TLS", key: "tls_client_subjects", value: "kong-1"},
		{name: "negative failure limit", key: "auth_failure_limit", value: "-1"},
		{name: "failure limit not a number", key: "auth_failure_limit", value: "ten"},
		{name: "zero failure window", key: "auth_failure_window", value: "0s"},
		{name: "zero shutdown grace", key: "shutdown_grace", value: "0s"},
		{name: "shutdown grace without unit", key: "shutdown_grace", value: "15"},
		{name: "negative shutdown delay", key: "shutdown_delay", value: "-1s"},
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
		})
	}
}

func TestFailureLimitZeroTurnsItOff(t *testing.T) {
	raw := defaultRaw(t)
	raw["auth_failure_limit"] = "0"
	if s, err := parseSettings(raw); err != nil || s.AuthFailures != 0 {
		t.Errorf("auth_failure_limit=0: %d, %v; want 0 and no error", s.AuthFailures, err)
	}
}
