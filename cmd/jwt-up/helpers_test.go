package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is a fake environment for getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

// with returns a copy of e with the extra variables set.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// testEnv returns an environment with a fresh data dir and fast settings:
// ES256 keys, so no RSA key is generated.
func testEnv(t *testing.T) env {
	t.Helper()
	return env{
		"JWTUP_DATA_DIR":    filepath.Join(t.TempDir(), "data"),
		"JWTUP_SIGNING_ALG": "ES256",
		"JWTUP_LOG_FORMAT":  "json",
	}
}

// syncBuffer is a bytes.Buffer safe for a server goroutine to write while
// the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run executes the root command in process and returns what it printed.
func run(t *testing.T, e env, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var out, errOut bytes.Buffer
	root := newRootCmd(e.get, &out, &errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// mustRun is run for commands that must succeed.
func mustRun(t *testing.T, e env, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, e, args...)
	if err != nil {
		t.Fatalf("jwt-up %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// keyRow is one line of the keys table.
type keyRow struct {
	KID, Alg, State string
}

// parseKeyTable reads the table printKeys writes.
func parseKeyTable(t *testing.T, out string) []keyRow {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "KID") {
		t.Fatalf("keys table has no header:\n%s", out)
	}
	var rows []keyRow
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 {
			t.Fatalf("keys table row %q has %d columns, want 7", l, len(f))
		}
		rows = append(rows, keyRow{KID: f[0], Alg: f[1], State: f[2]})
	}
	return rows
}

// listKeys runs keys list and returns its rows.
func listKeys(t *testing.T, e env) []keyRow {
	t.Helper()
	return parseKeyTable(t, mustRun(t, e, "keys", "list"))
}

// inState returns the rows in state.
func inState(rows []keyRow, state string) []keyRow {
	var out []keyRow
	for _, r := range rows {
		if r.State == state {
			out = append(out, r)
		}
	}
	return out
}

// startKeys makes the first keys of a fresh store, as a first serve would:
// keys list only looks.
func startKeys(t *testing.T, e env) {
	t.Helper()
	mustRun(t, e, "token", "--consumer-id", "first-start")
}
