package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRenderTable(t *testing.T) {
	rs := []result{
		{
			name: "Redis killed", sent: 1000, failed: 0, tokens: 200,
			recovery: recovery{took: 1234567 * time.Microsecond, what: "to all /readyz ok", ok: true},
		},
		{
			name: "replica killed", sent: 400, failed: 3, tokens: 80, notVerified: 1,
			recovery: recovery{took: 45 * time.Millisecond, what: "to the last failure", ok: true},
		},
		{
			name: "PostgreSQL stopped", sent: 10, failed: 10, notVerified: -1,
			recovery: recovery{took: time.Minute, what: "to all /readyz ok"},
		},
		{name: "a | b", err: errors.New("start replica 0:\nport taken"), notVerified: -1},
		{name: "SIGTERM", sent: 5, recovery: recovery{what: "no request failed after the fault", ok: true}},
	}
	want := `| scenario | sent | failed | not verified | recovery |
|---|---:|---:|---:|---|
| Redis killed | 1000 | 0 | 0 of 200 | 1.235s to all /readyz ok |
| replica killed | 400 | 3 (0.75%) | 1 of 80 | 45ms to the last failure |
| PostgreSQL stopped | 10 | 10 (100.00%) | not checked | not within 1m0s to all /readyz ok |
| a \| b | 0 | 0 | not checked | did not complete: start replica 0: port taken |
| SIGTERM | 5 | 0 | 0 of 0 | no request failed after the fault |
`
	if got := renderTable(rs); got != want {
		t.Errorf("renderTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderTableRowsAreWhole(t *testing.T) {
	// Whatever a name or an error holds, each result is one row of five
	// cells.
	rs := []result{{name: "x\n| y |", err: errors.New("a|b\nc")}}
	lines := strings.Split(strings.TrimSuffix(renderTable(rs), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	row := strings.ReplaceAll(lines[2], `\|`, "")
	if n := strings.Count(row, "|"); n != 6 {
		t.Errorf("row %q has %d cell borders, want 6", lines[2], n)
	}
}

func TestRecoveryString(t *testing.T) {
	tests := []struct {
		r    recovery
		want string
	}{
		{recovery{}, "—"},
		{recovery{took: 300 * time.Microsecond, what: "to the last failure", ok: true}, "300µs to the last failure"},
		{recovery{took: 2 * time.Second, what: "to x", ok: true}, "2s to x"},
		{recovery{took: 30 * time.Second, what: "to x"}, "not within 30s to x"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestRenderNotes(t *testing.T) {
	rs := []result{
		{name: "one", notes: []string{"first", "second\nline"}},
		{name: "quiet"},
		{name: "two", notes: []string{"third"}},
	}
	want := "- **one**\n  - first\n  - second line\n- **two**\n  - third\n"
	if got := renderNotes(rs); got != want {
		t.Errorf("renderNotes:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderReport(t *testing.T) {
	got := renderReport("Run here.", []result{{name: "s", sent: 1, notes: []string{"n"}}})
	for _, part := range []string{"# jwt-up fault run\n\nRun here.\n\n| scenario |", "| s | 1 | 0 |", "\nNotes:\n\n- **s**\n  - n\n"} {
		if !strings.Contains(got, part) {
			t.Errorf("report lacks %q:\n%s", part, got)
		}
	}
	if strings.Contains(renderReport("h", []result{{name: "s"}}), "Notes:") {
		t.Error("a report without notes has a Notes heading")
	}
}
