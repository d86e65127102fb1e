// Package migrations holds the database schema of jwt-up as numbered goose
// SQL files, one folder per dialect, and applies them.
//
// Every dialect folder holds the same numbers, and every file has an Up and a
// Down section. goose runs each file in a transaction of its own and records
// the applied versions in its goose_db_version table.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The dialects Up and Version accept. Each names a folder of migrations.
const (
	// SQLite is the dialect of the single-file store.
	SQLite = "sqlite"
	// Postgres is the dialect of the store shared by many replicas.
	Postgres = "postgres"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// gooseDialects maps our dialect names to goose's.
var gooseDialects = map[string]goose.Dialect{
	SQLite:   goose.DialectSQLite3,
	Postgres: goose.DialectPostgres,
}

// Up applies every migration of dialect that db has not seen yet.
func Up(ctx context.Context, db *sql.DB, dialect string) error {
	p, err := newProvider(db, dialect)
	if err != nil {
		return err
	}

	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s up: %w", dialect, err)
	}
	return nil
}

// Version returns the highest migration version applied to db, 0 for a
// database that has none. It creates goose's version table if it is missing.
func Version(ctx context.Context, db *sql.DB, dialect string) (int64, error) {
	p, err := newProvider(db, dialect)
	if err != nil {
		return 0, err
	}

	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read %s schema version: %w", dialect, err)
	}
	return v, nil
}

// newProvider builds a goose provider over the migrations of one dialect.
func newProvider(db *sql.DB, dialect string) (*goose.Provider, error) {
	d, ok := gooseDialects[dialect]
	if !ok {
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}

	sub, err := fs.Sub(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations: open %s folder: %w", dialect, err)
	}

	// Registered Go migrations are global to the process; we have none and
	// want no other package's to leak in.
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}

	// Replicas sharing one PostgreSQL database start together: an advisory
	// lock lets one of them migrate while the others wait, instead of all
	// racing to create the same tables.
	//
	// TODO: SQLite gets no such lock, because goose ships none for it. Two
	// processes that open the same fresh file at the same instant can both
	// plan migration 1, and the second then fails on "table already
	// exists"; opening again succeeds. A goose lock.Locker that takes
	// BEGIN IMMEDIATE on a dedicated connection would close the gap.
	if dialect == Postgres {
		l, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migrations: build postgres lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}

	p, err := goose.NewProvider(d, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: load %s: %w", dialect, err)
	}
	return p, nil
}
