package main

import "testing"

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://u:p@127.0.0.1:5432/test?sslmode=disable", "127.0.0.1:40001", "s1")
	if want := "postgres://u:p@127.0.0.1:40001/s1?sslmode=disable"; err != nil || got != want {
		t.Errorf("withDatabase = %q, %v; want %q", got, err, want)
	}
}

func TestVersion(t *testing.T) {
	if got := version("/usr/lib/postgresql/15/bin/pg_ctl"); got != 15 {
		t.Errorf("version = %d, want 15", got)
	}
	if got := version("/usr/lib/postgresql/beta/bin/pg_ctl"); got != 0 {
		t.Errorf("version of a non-number = %d, want 0", got)
	}
}
