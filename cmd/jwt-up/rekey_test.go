package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/sqlite"
)

// kekOf returns a base64 key-encryption key of 32 bytes b.
func kekOf(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

// writeKEKFile writes kek to a fresh file and returns its path.
func writeKEKFile(t *testing.T, kek string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "new-kek")
	if err := os.WriteFile(path, []byte(kek+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runIn is run with stdin as the command's standard input.
func runIn(t *testing.T, e env, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	root := newRootCmd(e.get, &out, &errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// storedRows reads every key of the data dir's SQLite store as stored.
func storedRows(t *testing.T, e env) []store.Key {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(e["JWTUP_DATA_DIR"], dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

const wrongKEKLine = "JWTUP_KEK: the key-encryption key does not open the stored keys"

func TestKeysRekey(t *testing.T) {
	oldKEK, newKEK := kekOf(1), kekOf(2)
	e := testEnv(t).with("JWTUP_KEK", oldKEK)
	startKeys(t, e)
	before := listKeys(t, e)
	sealedBefore := storedRows(t, e)

	out := mustRun(t, e, "keys", "rekey", "--new-kek-file", writeKEKFile(t, newKEK))
	for _, want := range []string{"Sealed 2 private keys", "JWTUP_KEK", "restart"} {
		if !strings.Contains(out, want) {
			t.Errorf("rekey output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{oldKEK, newKEK} {
		if strings.Contains(out, secret) {
			t.Errorf("rekey output holds a key-encryption key:\n%s", out)
		}
	}
	for i, k := range storedRows(t, e) {
		if bytes.Equal(k.Sealed, sealedBefore[i].Sealed) {
			t.Errorf("key %s is stored sealed as before", k.KID)
		}
	}

	renewed := e.with("JWTUP_KEK", newKEK)
	if got := listKeys(t, renewed); !equalRows(got, before) {
		t.Errorf("keys under the new KEK = %+v, want %+v", got, before)
	}
	srv := mustStart(t, renewed)
	if kid := srv.mint(t, readGatewayKey(t, e), "alice").KID; kid != inState(before, "active")[0].KID {
		t.Errorf("minted with kid %s, want the active key %s", kid, inState(before, "active")[0].KID)
	}
	srv.mustStop(t)

	if _, err := startServer(t, e); err == nil || !strings.Contains(err.Error(), wrongKEKLine) {
		t.Errorf("serve with the old KEK: err = %v, want %q", err, wrongKEKLine)
	}
}

// readGatewayKey returns the gateway key generated into the data dir.
func readGatewayKey(t *testing.T, e env) string {
	t.Helper()
	return strings.TrimSpace(string(readFile(t, filepath.Join(e["JWTUP_DATA_DIR"], gatewayFileName))))
}

func TestKeysRekeyFromStdin(t *testing.T) {
	e := testEnv(t) // the KEK is the data dir's kek file
	startKeys(t, e)
	if _, err := runIn(t, e, kekOf(3)+"\n", "keys", "rekey", "--new-kek-file", "-"); err != nil {
		t.Fatalf("rekey from stdin: %v", err)
	}
	if _, _, err := run(t, e, "keys", "list"); err == nil || !strings.Contains(err.Error(), wrongKEKLine) {
		t.Errorf("keys list with the old kek file: err = %v, want %q", err, wrongKEKLine)
	}
	listKeys(t, e.with("JWTUP_KEK", kekOf(3)))
}

func TestKeysRekeyCorruptKeyChangesNothing(t *testing.T) {
	e := testEnv(t).with("JWTUP_KEK", kekOf(1))
	startKeys(t, e)

	// Flip one bit of the next key's sealed blob, behind jwt-up's back.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(e["JWTUP_DATA_DIR"], dbFileName))
	if err != nil {
		t.Fatal(err)
	}
	err = st.UpdateKeys(ctx, func(keys []store.Key) ([]store.Key, error) {
		for i, k := range keys {
			if k.State == store.KeyNext {
				keys[i].Sealed = bytes.Clone(k.Sealed)
				keys[i].Sealed[len(k.Sealed)-1] ^= 1
			}
		}
		return keys, nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	before := storedRows(t, e)

	_, _, err = run(t, e, "keys", "rekey", "--new-kek-file", writeKEKFile(t, kekOf(2)))
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("rekey over a corrupt key: err = %v, want 'nothing was changed'", err)
	}
	if diff := cmp.Diff(before, storedRows(t, e)); diff != "" {
		t.Errorf("a failed rekey changed the store (-before +after):\n%s", diff)
	}
}

func TestKeysRekeyRefused(t *testing.T) {
	started := testEnv(t).with("JWTUP_KEK", kekOf(1))
	startKeys(t, started)
	fresh := testEnv(t)

	tests := []struct {
		name  string
		e     env
		args  []string
		stdin string
		want  string
	}{
		{"no flag", started, nil, "", `"new-kek-file" not set`},
		{"missing file", started, []string{"--new-kek-file", "/nonexistent/kek"}, "", "--new-kek-file: open"},
		{"not base64", started, []string{"--new-kek-file", "-"}, "not a key!", "--new-kek-file: the new key-encryption key is not base64"},
		{"short key", started, []string{"--new-kek-file", "-"}, base64.StdEncoding.EncodeToString(make([]byte, 16)),
			"must decode to 32 bytes"},
		{"same key", started, []string{"--new-kek-file", "-"}, kekOf(1), "is the one in use"},
		{"wrong current key", started.with("JWTUP_KEK", kekOf(9)), []string{"--new-kek-file", "-"}, kekOf(2), wrongKEKLine},
		{"empty store", fresh, []string{"--new-kek-file", "-"}, kekOf(2), "nothing to rekey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := storedRows(t, started)
			_, err := runIn(t, tt.e, tt.stdin, append([]string{"keys", "rekey"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.stdin) && tt.stdin != "" {
				t.Errorf("the error quotes what was read: %v", err)
			}
			if diff := cmp.Diff(before, storedRows(t, started)); diff != "" {
				t.Errorf("a refused rekey changed the store (-before +after):\n%s", diff)
			}
		})
	}

	// The refusal of an empty store came before a KEK could be generated.
	if _, err := os.Stat(filepath.Join(fresh["JWTUP_DATA_DIR"], kekFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rekey of an empty store wrote a kek file (stat: %v)", err)
	}
}
