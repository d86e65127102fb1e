package main

import (
	"slices"
	"testing"
)

func TestCleanEnv(t *testing.T) {
	got := cleanEnv([]string{"PATH=/bin", "JWTUP_CONFIG=x.yaml", "HOME=/root", "JWTUP_LISTEN=:1"})
	if want := []string{"PATH=/bin", "HOME=/root"}; !slices.Equal(got, want) {
		t.Errorf("cleanEnv = %v, want %v", got, want)
	}
}

func TestReadinessReady(t *testing.T) {
	tests := []struct {
		rd   readiness
		want bool
	}{
		{readiness{200, map[string]string{"key_store": "ok", "cache": "ok"}}, true},
		{readiness{200, map[string]string{"key_store": "ok", "cache": "degraded"}}, false},
		{readiness{503, map[string]string{"key_store": "down", "cache": "ok"}}, false},
		{readiness{200, map[string]string{}}, false},
	}
	for _, tt := range tests {
		if got := tt.rd.ready(); got != tt.want {
			t.Errorf("%+v.ready() = %v, want %v", tt.rd, got, tt.want)
		}
	}
}
