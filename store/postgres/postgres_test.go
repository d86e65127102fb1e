package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/jwt-up/jwt-up/migrations"
	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/storetest"
)

// testSchema is a schema of one test's own in the database named by
// JWTUP_TEST_DATABASE_URL.
type testSchema struct {
	name  string
	url   string  // the test URL with search_path set to name
	admin *sql.DB // on the test URL as given, outside the schema
}

// newSchema creates a schema with a random name, drops it with all it holds
// when the test ends, and returns it. Stores opened on its url keep their
// tables, goose's version table included, in that schema alone.
func newSchema(t *testing.T) testSchema {
	t.Helper()
	base := storetest.DatabaseURL(t)
	s := testSchema{name: "jwtup_test_" + strings.ToLower(rand.Text())}
	s.url = withSearchPath(t, base, s.name)

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	s.admin = admin

	ident := pgx.Identifier{s.name}.Sanitize()
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is done by now.
		q := "DROP SCHEMA " + ident + " CASCADE"
		if _, err := admin.ExecContext(context.Background(), q); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return s
}

// withSearchPath returns rawURL with the search_path run-time parameter
// set to schema; pgx sends unknown URL parameters to the server as such.
func withSearchPath(t *testing.T, rawURL, schema string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("JWTUP_TEST_DATABASE_URL is not a postgres:// URL (%v)", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

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
		s, err := Open(t.Context(), newSchema(t).url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s // the suite closes it
	})
}

func TestTwoStoresSerialiseUpdates(t *testing.T) {
	schema := newSchema(t)
	stores := []*Store{open(t, schema.url), open(t, schema.url)}

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
	schema := newSchema(t)
	s := open(t, schema.url)

	// Another process holds the lock...
	tx, err := schema.admin.BeginTx(t.Context(), nil)
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
	schema := newSchema(t)

	first := open(t, schema.url)
	if err := first.UpdateKeys(t.Context(), appendKey("a")); err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	v1 := schemaVersion(t, schema.url)

	// The second Open finds every migration applied and changes nothing.
	second := open(t, schema.url)
	if v2 := schemaVersion(t, schema.url); v2 != v1 || v1 < 1 {
		t.Errorf("schema version after two Opens = %d, after one %d; want the same, at least 1",
			v2, v1)
	}
	keys, err := second.ListKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Errorf("ListKeys after the second Open = %d keys, %v; want 1, nil", len(keys), err)
	}

	// goose's version table sits in the test's schema, beside the keys.
	var n int
	err = schema.admin.QueryRowContext(t.Context(),
		"SELECT count(*) FROM pg_tables WHERE schemaname = $1 "+
			"AND tablename IN ('goose_db_version', 'signing_keys')",
		schema.name).Scan(&n)
	if err != nil || n != 2 {
		t.Errorf("tables in schema %s = %d, %v; want 2, nil", schema.name, n, err)
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
	s := open(t, newSchema(t).url)
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
