package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files kept in the data dir.
const (
	kekFileName     = "kek"
	gatewayFileName = "gateway-keys"
	dbFileName      = "jwt-up.db"
)

// ensureDataDir creates the data dir (mode 0700) and checks it is writable.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("JWTUP_DATA_DIR: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("JWTUP_DATA_DIR: %s is not writable: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// loadKEK returns the key-encryption key: from the setting, from KEKFile, or
// from the data dir, where one is generated on first start. generated tells
// whether that happened.
func loadKEK(s settings) (kek []byte, generated bool, err error) {
	if s.KEK != nil {
		return s.KEK, false, nil
	}
	path, fromSetting := s.KEKFile, s.KEKFile != ""
	if !fromSetting {
		path = filepath.Join(s.DataDir, kekFileName)
	}

	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		kek, err := decodeKEK(string(data))
		if err != nil {
			setting := "JWTUP_DATA_DIR"
			if fromSetting {
				setting = "JWTUP_KEK_FILE"
			}
			return nil, false, fmt.Errorf("%s: the key-encryption key in %s %w", setting, path, err)
		}
		return kek, false, nil
	case fromSetting:
		return nil, false, fmt.Errorf("JWTUP_KEK_FILE: %w", err)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("JWTUP_DATA_DIR: key-encryption key: %w", err)
	}

	kek = make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		return nil, false, fmt.Errorf("generate key-encryption key: %w", err)
	}
	if err := writeSecret(path, base64.StdEncoding.EncodeToString(kek)+"\n"); err != nil {
		return nil, false, err
	}
	return kek, true, nil
}

// loadGatewayKeys returns the gateway keys: from the setting, or from the
// data dir, where one is generated on first start.
func loadGatewayKeys(s settings) (keys []string, generatedAt string, err error) {
	if len(s.GatewayKeys) > 0 {
		return s.GatewayKeys, "", nil
	}
	path := filepath.Join(s.DataDir, gatewayFileName)
	data, err := os.ReadFile(path)
	if err == nil {
		keys = splitList(strings.ReplaceAll(string(data), "\n", ","))
		if len(keys) == 0 {
			return nil, "", fmt.Errorf("JWTUP_DATA_DIR: %s holds no gateway key", path)
		}
		for _, k := range keys {
			if len(k) < minKeyLength {
				return nil, "", fmt.Errorf("JWTUP_DATA_DIR: every gateway key in %s must be at least %d characters long", path, minKeyLength)
			}
		}
		return keys, "", nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("gateway keys: %w", err)
	}

	if err := ensureDataDir(s.DataDir); err != nil {
		return nil, "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", fmt.Errorf("generate gateway key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(b[:])
	if err := writeSecret(path, key+"\n"); err != nil {
		return nil, "", err
	}
	return []string{key}, path, nil
}

// writeSecret creates path with mode 0600; it never overwrites a file.
func writeSecret(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
