package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Schema is a schema of one test's own in the database named by
// JWTUP_TEST_DATABASE_URL.
type Schema struct {
	Name  string
	URL   string  // the test URL with search_path set to Name
	Admin *sql.DB // on the test URL as given, outside the schema
}

// NewSchema creates a schema with a random name, drops it with all it holds
// when the test ends, and returns it. Stores opened on its url keep their
// tables, goose's version table included, in that schema alone.
func NewSchema(t testing.TB) Schema {
	t.Helper()
	base := DatabaseURL(t)
	s := Schema{Name: "jwtup_test_" + strings.ToLower(rand.Text())}
	s.URL = withSearchPath(t, base, s.Name)

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	s.Admin = admin

	ident := pgx.Identifier{s.Name}.Sanitize()
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
func withSearchPath(t testing.TB, rawURL, schema string) string {
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
