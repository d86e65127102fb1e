// Package sqlite keeps signing keys in one SQLite file, through the pure-Go
// driver modernc.org/sqlite. It suits a single instance of jwt-up; replicas
// that share keys need a server database.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/jwt-up/jwt-up/migrations"
	"github.com/jwt-up/jwt-up/store"
	"github.com/jwt-up/jwt-up/store/sqlkeys"
)

var _ store.KeyStore = (*Store)(nil)

// urlPrefix is the scheme of the URL form Open accepts.
const urlPrefix = "sqlite://"

// params are the connection settings every pooled connection gets.
//
//   - busy_timeout: a writer waits up to 5s for another one, in this process
//     or another, instead of failing at once with SQLITE_BUSY.
//   - journal_mode(WAL): readers do not block the writer nor it them.
//   - foreign_keys(1): SQLite leaves them off unless asked.
//   - _txlock=immediate: every transaction takes the write lock at BEGIN.
//     UpdateKeys reads, then writes; a deferred transaction would read
//     under a shared lock and could fail on upgrade with SQLITE_BUSY, which
//     the busy timeout does not retry.
const params = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_txlock=immediate"

// dialect is how the shared key table speaks SQLite. It needs no Lock:
// BEGIN IMMEDIATE (see params) already keeps every other writer out. seq
// is MAX(seq)+1, which cannot move under a writer that holds that lock.
var dialect = sqlkeys.Dialect{
	Placeholder: sqlkeys.QuestionMark,
	NextSeq:     "(SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys)",
}

// Store is a store.KeyStore over one SQLite file. It is safe for concurrent
// use, and UpdateKeys is serialised with every other Store and process that
// opened the same file. Times are kept to the microsecond and come back in
// UTC; an empty PublicJWK or Sealed comes back nil.
type Store struct {
	db   *sql.DB
	keys *sqlkeys.Table

	// writer queues this process's UpdateKeys calls. SQLite serialises
	// writers anyway, but a waiting writer polls with sleeps of growing
	// length; a channel hands the turn over at once and lets the caller's
	// context end the wait. Other processes still meet at BEGIN IMMEDIATE.
	writer chan struct{}
}

// Open opens the SQLite database at dsnOrPath, a file path or an sqlite://
// URL (see PathFromURL), creating the file with mode 0600 if it does not
// exist, and migrates it to the latest schema. The store sets its own
// connection parameters, so the path carries none.
func Open(ctx context.Context, dsnOrPath string) (*Store, error) {
	path, err := resolve(dsnOrPath)
	if err != nil {
		return nil, err
	}
	if err := create(path); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite", path+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := &Store{
		db:     db,
		keys:   sqlkeys.New(db, dialect),
		writer: make(chan struct{}, 1),
	}
	return s, nil
}

// PathFromURL returns the file path of an sqlite:// URL: what follows the
// scheme, so sqlite:///var/lib/jwt-up/keys.db names an absolute path and
// sqlite://keys.db a relative one. It rejects other schemes, an empty path
// and query parameters.
func PathFromURL(u string) (string, error) {
	path, ok := strings.CutPrefix(u, urlPrefix)
	if !ok {
		return "", fmt.Errorf("sqlite url %q: scheme is not sqlite://", u)
	}
	if err := checkPath(path); err != nil {
		return "", fmt.Errorf("sqlite url %q: %w", u, err)
	}
	return path, nil
}

// resolve turns Open's argument into a file path.
func resolve(dsnOrPath string) (string, error) {
	if strings.HasPrefix(dsnOrPath, urlPrefix) {
		return PathFromURL(dsnOrPath)
	}
	if err := checkPath(dsnOrPath); err != nil {
		return "", fmt.Errorf("sqlite path %q: %w", dsnOrPath, err)
	}
	return dsnOrPath, nil
}

// checkPath rejects the paths that the driver would read as something else.
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("empty path")
	case strings.Contains(path, "?"):
		return errors.New("query parameters are not accepted; the store sets its own")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// An in-memory database lives per pooled connection, so each
		// would see a store of its own; use the memory package instead.
		return errors.New("only a file path is accepted")
	}
	return nil
}

// create makes an empty file at path with mode 0600 unless one exists, so
// that the sealed keys are never readable by others, whatever the umask.
// SQLite gives its -wal and -shm files the mode of the database file.
func create(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create sqlite file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create sqlite file: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite store: %w", err)
	}
	return nil
}

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]store.Key, error) {
	return s.keys.List(ctx)
}

// UpdateKeys runs fn on a copy of every key inside one write transaction
// and stores the difference between what it got and what it returned. An
// error from fn is returned as it is, after a rollback. fn MUST NOT call
// UpdateKeys on the same Store: it would wait for itself.
func (s *Store) UpdateKeys(
	ctx context.Context,
	fn func([]store.Key) ([]store.Key, error),
) error {
	select {
	case s.writer <- struct{}{}:
		defer func() { <-s.writer }()
	case <-ctx.Done():
		return fmt.Errorf("update keys: %w", ctx.Err())
	}
	return s.keys.Update(ctx, fn)
}
