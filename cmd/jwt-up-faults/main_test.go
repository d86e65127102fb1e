package main

import (
	"testing"
	"time"
)

func TestParseOnly(t *testing.T) {
	got, err := parseOnly(" 1, 3")
	if err != nil || len(got) != 2 || !got[1] || !got[3] {
		t.Errorf("parseOnly(\" 1, 3\") = %v, %v", got, err)
	}
	if got, err := parseOnly(""); got != nil || err != nil {
		t.Errorf("parseOnly(\"\") = %v, %v; want every scenario", got, err)
	}
	for _, bad := range []string{"x", "0", "1,,2", "-1"} {
		if _, err := parseOnly(bad); err == nil {
			t.Errorf("parseOnly(%q) accepted", bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-workers", "4", "--out", "x.md", "-only", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.workers != 4 || cfg.out != "x.md" || !cfg.only[2] || cfg.outage != 5*time.Second {
		t.Errorf("config = %+v", cfg)
	}
	if _, err := parseFlags([]string{"-workers", "0"}); err == nil {
		t.Error("-workers 0 accepted")
	}
}

func TestMaskArg(t *testing.T) {
	tests := map[string]string{
		"":      "''",
		"-only": "-only",
		"1,3":   "1,3",
		"postgres://u:secret@127.0.0.1:5432/test?sslmode=disable": "postgres://u:xxxxx@127.0.0.1:5432/test?sslmode=disable",
		"postgres://u@127.0.0.1/test":                             "postgres://u@127.0.0.1/test",
	}
	for in, want := range tests {
		if got := maskArg(in); got != want {
			t.Errorf("maskArg(%q) = %q, want %q", in, got, want)
		}
	}
}
