package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/service"
)

// checkMode fails unless path has the permission bits want.
func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestSecretsGeneratedOnFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	if err := ensureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	checkMode(t, dir, 0o700)
	s := settings{DataDir: dir}

	kek, generated, err := loadKEK(s)
	if err != nil {
		t.Fatal(err)
	}
	if !generated || len(kek) != service.KEKSize {
		t.Fatalf("first loadKEK: generated %v, %d bytes; want a new key of %d bytes", generated, len(kek), service.KEKSize)
	}
	kekPath := filepath.Join(dir, kekFileName)
	checkMode(t, kekPath, 0o600)
	data, err := os.ReadFile(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := decodeKEK(string(data)); err != nil || !bytes.Equal(stored, kek) {
		t.Errorf("kek file holds %q (%v), want the returned key in base64", data, err)
	}

	keys, generatedAt, err := loadGatewayKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	gwPath := filepath.Join(dir, gatewayFileName)
	if generatedAt != gwPath || len(keys) != 1 || len(keys[0]) < 16 {
		t.Fatalf("first loadGatewayKeys: %d keys, generatedAt %q; want one long key, generated at %s",
			len(keys), generatedAt, gwPath)
	}
	checkMode(t, gwPath, 0o600)

	// A second start reads what the first wrote.
	kek2, generated, err := loadKEK(s)
	if err != nil || generated || !bytes.Equal(kek2, kek) {
		t.Errorf("second loadKEK: generated %v, same key %v, err %v; want the stored key",
			generated, bytes.Equal(kek2, kek), err)
	}
	keys2, generatedAt, err := loadGatewayKeys(s)
	if err != nil || generatedAt != "" || !slices.Equal(keys2, keys) {
		t.Errorf("second loadGatewayKeys: generatedAt %q, same keys %v, err %v; want the stored key",
			generatedAt, slices.Equal(keys2, keys), err)
	}

	// The writability probe leaves nothing behind.
	if err := ensureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{gatewayFileName, kekFileName}, names); diff != "" {
		t.Errorf("data dir files (-want +got):\n%s", diff)
	}
}

func TestGatewayKeysFileHoldsSeveralKeys(t *testing.T) {
	dir := t.TempDir()
	content := "gateway-key-number-1\n\ngateway-key-number-2,gateway-key-number-3\n"
	if err := os.WriteFile(filepath.Join(dir, gatewayFileName), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, generatedAt, err := loadGatewayKeys(settings{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"gateway-key-number-1", "gateway-key-number-2", "gateway-key-number-3"}
	if diff := cmp.Diff(want, keys); diff != "" || generatedAt != "" {
		t.Errorf("keys (-want +got):\n%s\ngeneratedAt %q", diff, generatedAt)
	}
}

func TestGatewayKeysFileEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, gatewayFileName), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadGatewayKeys(settings{DataDir: dir}); err == nil {
		t.Error("an empty gateway-keys file: no error")
	}
}

func TestGatewayKeysFromSettingWriteNoFile(t *testing.T) {
	dir := t.TempDir()
	want := []string{"gateway-key-number-1"}
	keys, generatedAt, err := loadGatewayKeys(settings{DataDir: dir, GatewayKeys: want})
	if err != nil || generatedAt != "" || !slices.Equal(keys, want) {
		t.Errorf("loadGatewayKeys = %q, %q, %v; want the setting's keys", keys, generatedAt, err)
	}
	if _, err := os.Stat(filepath.Join(dir, gatewayFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a gateway-keys file was written (stat: %v)", err)
	}
}

func TestKEKFromSettingWritesNoFile(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte{7}, service.KEKSize)
	kek, generated, err := loadKEK(settings{DataDir: dir, KEK: want})
	if err != nil || generated || !bytes.Equal(kek, want) {
		t.Errorf("loadKEK = %x, %v, %v; want the setting's key as is", kek, generated, err)
	}
	if _, err := os.Stat(filepath.Join(dir, kekFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a kek file was written (stat: %v)", err)
	}
}

func TestKEKFromSettingThroughCommand(t *testing.T) {
	e := testEnv(t).with("JWTUP_KEK", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	startKeys(t, e)
	rows := listKeys(t, e)
	if len(rows) != 2 {
		t.Errorf("keys list: %d keys, want 2", len(rows))
	}
	if _, err := os.Stat(filepath.Join(e["JWTUP_DATA_DIR"], kekFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a kek file was written although JWTUP_KEK is set (stat: %v)", err)
	}
}

func TestKEKFile(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte{9}, service.KEKSize)
	path := filepath.Join(dir, "kek.b64")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(want)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")

	t.Run("present", func(t *testing.T) {
		kek, generated, err := loadKEK(settings{DataDir: dataDir, KEKFile: path})
		if err != nil || generated || !bytes.Equal(kek, want) {
			t.Errorf("loadKEK = %x, %v, %v; want the file's key", kek, generated, err)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the data dir was touched (stat: %v)", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, _, err := loadKEK(settings{DataDir: dataDir, KEKFile: filepath.Join(dir, "absent")})
		if err == nil || !strings.Contains(err.Error(), "JWTUP_KEK_FILE") {
			t.Errorf("err = %v, want one naming JWTUP_KEK_FILE", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a missing kek_file was created (stat: %v)", err)
		}
	})
	t.Run("not a key", func(t *testing.T) {
		if _, _, err := loadKEK(settings{DataDir: dataDir, KEKFile: garbage}); err == nil {
			t.Error("no error")
		}
	})
	t.Run("missing, through a command", func(t *testing.T) {
		e := testEnv(t).with("JWTUP_KEK_FILE", filepath.Join(dir, "absent"))
		_, _, err := run(t, e, "keys", "list")
		if err == nil || !strings.Contains(err.Error(), "JWTUP_KEK_FILE") {
			t.Errorf("err = %v, want one naming JWTUP_KEK_FILE", err)
		}
	})
}

// uncreatableDir returns a data dir path that cannot be created: it lies
// under a regular file. (Tests may run as root, which a mode of 0500 does not
// stop.)
func uncreatableDir(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(file, "data")
}

func TestUnwritableDataDir(t *testing.T) {
	dir := uncreatableDir(t)
	if err := ensureDataDir(dir); err == nil || !strings.HasPrefix(err.Error(), "JWTUP_DATA_DIR") {
		t.Errorf("ensureDataDir: err = %v, want one naming JWTUP_DATA_DIR", err)
	}

	for _, args := range [][]string{{"migrate"}, {"keys", "list"}, {"serve", "--listen", "127.0.0.1:0"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			e := testEnv(t).with("JWTUP_DATA_DIR", dir)
			_, _, err := run(t, e, args...)
			if err == nil || !strings.Contains(err.Error(), "JWTUP_DATA_DIR") {
				t.Errorf("err = %v, want one naming JWTUP_DATA_DIR", err)
			}
		})
	}
}
