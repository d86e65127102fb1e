package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/storetest"
)

// open opens a Store on path, closing it when the test ends.
func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestKeyStore(t *testing.T) {
	storetest.RunKeyStore(t, func(t *testing.T) store.KeyStore {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s // the suite closes it
	})
}

func TestTwoStoresSerialiseUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	stores := []*Store{open(t, path), open(t, path)}

	// Each goroutine appends keys through its own Store, as two processes
	// would: only the file's write lock keeps them apart.
	const perStore = 10
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*perStore)
	for i, s := range stores {
		wg.Go(func() {
			for j := range perStore {
				errs <- s.UpdateKeys(context.Background(), func(keys []store.Key) ([]store.Key, error) {
					return append(keys, store.Key{
						KID:       fmt.Sprintf("s%d-k%d", i, j),
						Alg:       "ES256",
						State:     store.KeyNext,
						PublicJWK: []byte("{}"),
						CreatedAt: time.Now(),
					}), nil
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateKeys: %v", err)
		}
	}

	for i, s := range stores {
		keys, err := s.ListKeys(context.Background())
		if err != nil {
			t.Fatalf("store %d: ListKeys: %v", i, err)
		}
		if want := len(stores) * perStore; len(keys) != want {
			t.Errorf("store %d lists %d keys, want %d", i, len(keys), want)
		}
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	s := open(t, path)

	// Write something, so that the WAL file exists too.
	err := s.UpdateKeys(context.Background(), func([]store.Key) ([]store.Key, error) {
		return []store.Key{{KID: "a", PublicJWK: []byte("{}"), CreatedAt: time.Now()}}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}

	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestPathFromURL(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "sqlite:///var/lib/jwt-up/keys.db", want: "/var/lib/jwt-up/keys.db"},
		{in: "sqlite://keys.db", want: "keys.db"},
		{in: "sqlite://", wantErr: true},
		{in: "sqlite:///keys.db?_pragma=foo", wantErr: true},
		{in: "sqlite://:memory:", wantErr: true},
		{in: "postgres://host/db", wantErr: true},
		{in: "/var/lib/jwt-up/keys.db", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := PathFromURL(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("PathFromURL(%q) = %q, %v; want %q, error %v",
					tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOpenURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	open(t, "sqlite://"+path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Open of an sqlite:// URL made no file at its path: %v", err)
	}
}
