package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwt-up/jwt-up/migrations"
	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/storetest"
)

// open opens a Store on url, closing it when the test ends.
func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendCounted appends a key named after the number of keys it got.
func appendCounted(keys []store.Key) ([]store.Key, error) {
	return appendKey(fmt.Sprintf("k%d", len(keys)))(keys)
}

// appendKey returns an UpdateKeys function that adds one key named kid.
func appendKey(kid string) func([]store.Key) ([]store.Key, error) {
	return func(keys []store.Key) ([]store.Key, error) {
		return append(keys, store.Key{
			KID:       kid,
			Alg:       "ES256",
			State:     store.KeyNext,
			PublicJWK: []byte("{}"),
			CreatedAt: time.Now(),
		}), nil
	}
}

func TestKeyStore(t *testing.T) {
	storetest.DatabaseURL(t) // skip or fail once, not in every subtest
	storetest.RunKeyStore(t, func(t *testing.T) store.KeyStore {
		s, err := Open(t.Context(), storetest.NewSchema(t).URL)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s // the suite closes it
	})
}

func TestTwoStoresSerialiseUpdates(t *testing.T) {
	schema := storetest.NewSchema(t)
	stores := []*Store{open(t, schema.URL), open(t, schema.URL)}

	// Each goroutine appends one key through its own connection, and each
	// Store has a pool of its own, as two replicas would: only the
	// advisory lock keeps them apart. Keys are named after the number of
	// keys read, so two updates run on one snapshot would clash on a kid.
	const perStore = 8
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*perStore)
	for _, s := range stores {
		for range perStore {
			wg.Go(func() { errs <- s.UpdateKeys(t.Context(), appendCounted) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateKeys: %v", err)
		}
	}

	for _, s := range stores {
		checkCounted(t, s, len(stores)*perStore)
	}
}

// checkCounted fails the test unless s lists the keys k0 … k<n-1> that n
// calls of appendCounted add, in that order.
func checkCounted(t *testing.T, s *Store, n int) {
	t.Helper()
	keys, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	got := make([]string, len(keys))
	for i, k := range keys {
		got[i] = k.KID
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("k%d", i)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kids (-want +got):\n%s", diff)
	}
}

func TestUpdateWaitsForLock(t *testing.T) {
	schema := storetest.NewSchema(t)
	s := open(t, schema.URL)

	// Another process holds the lock...
	tx, err := schema.Admin.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), dialect.Lock); err != nil {
		t.Fatalf("take the lock: %v", err)
	}

	// ...so UpdateKeys waits until its context ends, having written nothing.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = s.UpdateKeys(ctx, appendKey("blocked"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UpdateKeys while the lock is held = %v, want %v",
			err, context.DeadlineExceeded)
	}

	// Once it is released, UpdateKeys goes through.
	if err := tx.Rollback(); err != nil {
		t.Fatalf("release the lock: %v", err)
	}
	if err := s.UpdateKeys(t.Context(), appendKey("after")); err != nil {
		t.Fatalf("UpdateKeys after the lock was released: %v", err)
	}
	keys, err := s.ListKeys(t.Context())
	if err != nil || len(keys) != 1 || keys[0].KID != "after" {
		t.Errorf("ListKeys = %v, %v; want the key \"after\" alone", keys, err)
	}
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	schema := storetest.NewSchema(t)

	first := open(t, schema.URL)
	if err := first.UpdateKeys(t.Context(), appendKey("a")); err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	v1 := schemaVersion(t, schema.URL)

	// The second Open finds every migration applied and changes nothing.
	second := open(t, schema.URL)
	if v2 := schemaVersion(t, schema.URL); v2 != v1 || v1 < 1 {
		t.Errorf("schema version after two Opens = %d, after one %d; want the same, at least 1",
			v2, v1)
	}
	keys, err := second.ListKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Errorf("ListKeys after the second Open = %d keys, %v; want 1, nil", len(keys), err)
	}

	// goose's version table sits in the test's schema, beside the keys.
	var n int
	err = schema.Admin.QueryRowContext(t.Context(),
		"SELECT count(*) FROM pg_tables WHERE schemaname = $1 "+
			"AND tablename IN ('goose_db_version', 'signing_keys')",
		schema.Name).Scan(&n)
	if err != nil || n != 2 {
		t.Errorf("tables in schema %s = %d, %v; want 2, nil", schema.Name, n, err)
	}
}

// schemaVersion returns the migration version of the database at url.
func schemaVersion(t *testing.T, url string) int64 {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer db.Close()

	v, err := migrations.Version(t.Context(), db, migrations.Postgres)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return v
}

func TestPing(t *testing.T) {
	s := open(t, storetest.NewSchema(t).URL)
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	// Nothing listens on port 1; no test database is needed.
	const secret = "s3cret-pw"
	u := "postgres://jwtup:" + secret + "@127.0.0.1:1/jwtup?connect_timeout=2"
	s, err := Open(t.Context(), u)
	if err == nil {
		s.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("Open error shows the password: %v", err)
	}
}
