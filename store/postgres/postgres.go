// Package postgres keeps signing keys in a PostgreSQL database, through the
// database/sql driver of github.com/jackc/pgx/v5. Any number of replicas of
// jwt-up can share one database: UpdateKeys takes an advisory lock, so their
// rotations never run on the same snapshot.
package postgres

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/jwt-up/jwt-up/migrations"
	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/sqlkeys"
)

var _ store.KeyStore = (*Store)(nil)

// lockID names the transaction-level advisory lock that every UpdateKeys
// takes before it reads: the ASCII bytes of "jwtupkey" read as a big-endian
// int64. It must never change, or replicas of two versions would stop
// excluding each other, and it differs from goose's migration lock.
//
// Advisory locks belong to the database, not to a schema: deployments that
// share one database in separate schemas also share this lock. They only
// wait for each other's updates, which are short.
const lockID int64 = 0x6a77_7475_706b_6579 // 7671728537995011449

// dialect is how the shared key table speaks PostgreSQL.
//
// The lock is taken inside the transaction, so it goes at COMMIT or
// ROLLBACK, and at once if the connection dies. The transaction MUST stay
// READ COMMITTED: then the read that follows the lock takes a fresh
// snapshot, which holds what the previous writer committed. Under
// REPEATABLE READ the snapshot would date from the lock statement, taken
// before the wait, and a writer would overwrite the previous one's keys.
// The level is set explicitly in case the server's default is another.
//
// seq is left to its identity column; writers hold the lock, so it grows
// in the order keys were added.
var dialect = sqlkeys.Dialect{
	Placeholder: sqlkeys.Dollar,
	Lock:        fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockID),
	Isolation:   sql.LevelReadCommitted,
}

// Store is a store.KeyStore in a PostgreSQL database. It is safe for
// concurrent use, and UpdateKeys is serialised with every other Store and
// process that uses the same database. Times are kept to the microsecond and
// come back in UTC; an empty PublicJWK or Sealed comes back nil.
type Store struct {
	db   *sql.DB
	keys *sqlkeys.Table
}

// Open connects to the database at url, a postgres:// URL or a key=value
// connection string as pgx reads them, and migrates it to the latest
// schema. The tables go in the first schema of the search path, which the
// URL may set, e.g. ?search_path=jwtup.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		// pgx masks the password in the errors it returns; never add the
		// URL to them.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}

	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &Store{db: db, keys: sqlkeys.New(db, dialect)}, nil
}

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes every connection of the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close postgres store: %w", err)
	}
	return nil
}

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]store.Key, error) {
	return s.keys.List(ctx)
}

// UpdateKeys runs fn on a copy of every key inside one transaction that
// holds the advisory lock lockID, and stores the difference between what it
// got and what it returned. An error from fn is returned as it is, after a
// rollback. While it waits for the lock it holds one connection; ctx ends
// the wait. fn MUST NOT call UpdateKeys on any Store of the same database:
// it would wait for itself.
func (s *Store) UpdateKeys(
	ctx context.Context,
	fn func([]store.Key) ([]store.Key, error),
) error {
	return s.keys.Update(ctx, fn)
}
