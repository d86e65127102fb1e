package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"
)

// fileName is the shape of a migration file: a five-digit number, an
// underscore, a lowercase description.
var fileName = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

// numbers returns the migration numbers found in one dialect folder, in
// file order, failing the test on a file that is not named like one.
func numbers(t *testing.T, dialect string) []string {
	t.Helper()

	entries, err := fs.ReadDir(files, dialect)
	if err != nil {
		t.Fatalf("read %s: %v", dialect, err)
	}
	var nums []string
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("%s/%s: name is not NNNNN_description.sql", dialect, e.Name())
			continue
		}
		nums = append(nums, m[1])
	}
	return nums
}

func TestDialectsHaveSameNumbers(t *testing.T) {
	want := numbers(t, SQLite)
	if len(want) == 0 {
		t.Fatal("no sqlite migrations")
	}
	for i, n := range want {
		if want := fmt.Sprintf("%05d", i+1); n != want {
			t.Errorf("sqlite migration %d is numbered %s, want %s", i, n, want)
		}
	}

	got := numbers(t, Postgres)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("postgres numbers differ from sqlite (-want +got):\n%s", diff)
	}
}

func TestEveryFileHasUpAndDown(t *testing.T) {
	for _, dialect := range []string{SQLite, Postgres} {
		paths, err := fs.Glob(files, dialect+"/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			t.Run(p, func(t *testing.T) {
				b, err := fs.ReadFile(files, p)
				if err != nil {
					t.Fatal(err)
				}
				text := string(b)
				up := strings.Index(text, "-- +goose Up")
				down := strings.Index(text, "-- +goose Down")
				switch {
				case up < 0:
					t.Error("no -- +goose Up section")
				case down < 0:
					t.Error("no -- +goose Down section")
				case down < up:
					t.Error("Down section comes before Up")
				}
			})
		}
	}
}

// openSQLite opens a fresh SQLite file in a temporary folder.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()

	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLiteUpAndDown(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)

	v, err := Version(ctx, db, SQLite)
	if err != nil || v != 0 {
		t.Fatalf("Version before Up = %d, %v; want 0, nil", v, err)
	}

	// Up twice: the second run must find nothing to do.
	for i := range 2 {
		if err := Up(ctx, db, SQLite); err != nil {
			t.Fatalf("Up #%d: %v", i+1, err)
		}
	}
	latest := int64(len(numbers(t, SQLite)))
	v, err = Version(ctx, db, SQLite)
	if err != nil || v != latest {
		t.Fatalf("Version after Up = %d, %v; want %d, nil", v, err, latest)
	}
	if _, err := db.ExecContext(ctx, "SELECT kid, seq FROM signing_keys"); err != nil {
		t.Fatalf("signing_keys after Up: %v", err)
	}

	// Every Down section must run too, back to an empty schema.
	p, err := newProvider(db, SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	if _, err := db.ExecContext(ctx, "SELECT kid FROM signing_keys"); err == nil {
		t.Error("signing_keys still exists after DownTo(0)")
	}
}

func TestUnknownDialect(t *testing.T) {
	db := openSQLite(t)
	if err := Up(context.Background(), db, "mysql"); err == nil {
		t.Error("Up with dialect mysql succeeded, want an error")
	}
}
