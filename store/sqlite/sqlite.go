// Package sqlite keeps signing keys in one SQLite file, through the pure-Go
// driver modernc.org/sqlite. It suits a single instance of jwt-up; replicas
// that share keys need a server database.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/jwt-up/jwt-up/migrations"
	"github.com/jwt-up/jwt-up/store"
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

// Store is a store.KeyStore over one SQLite file. It is safe for concurrent
// use, and UpdateKeys is serialised with every other Store and process that
// opened the same file. Times are kept to the microsecond and come back in
// UTC; an empty PublicJWK or Sealed comes back nil.
type Store struct {
	db *sql.DB

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
	return &Store{db: db, writer: make(chan struct{}, 1)}, nil
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

// columns lists the key columns in the order of row's fields.
const columns = "kid, alg, state, public_jwk, sealed, created_at, " +
	"activates_at, activated_at, retired_at, remove_at, removed_at"

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]store.Key, error) {
	rows, err := listRows(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}

	keys := make([]store.Key, len(rows))
	for i, r := range rows {
		keys[i] = r.key()
	}
	return keys, nil
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

	// BEGIN IMMEDIATE (see params): from here on no other writer runs.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update keys: begin: %w", err)
	}
	defer tx.Rollback() // a no-op once committed

	old, err := listRows(ctx, tx)
	if err != nil {
		return fmt.Errorf("update keys: %w", err)
	}

	// fn gets keys of its own, so that changing them in place cannot
	// change the rows we diff against.
	keys := make([]store.Key, len(old))
	for i, r := range old {
		keys[i] = r.key()
	}
	keys, err = fn(keys)
	if err != nil {
		return err
	}

	if err := write(ctx, tx, old, keys); err != nil {
		return fmt.Errorf("update keys: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update keys: commit: %w", err)
	}
	return nil
}

// write applies the difference between the stored rows and the keys fn
// returned: it inserts new kids, updates changed ones and deletes the rest.
func write(ctx context.Context, tx *sql.Tx, old []row, keys []store.Key) error {
	stored := make(map[string]row, len(old))
	for _, r := range old {
		stored[r.kid] = r
	}

	kept := make(map[string]bool, len(keys))
	for i, k := range keys {
		if err := validate(k, kept); err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		kept[k.KID] = true

		r := newRow(k)
		prev, ok := stored[k.KID]
		var err error
		switch {
		case !ok:
			err = insert(ctx, tx, r)
		case !prev.equal(r):
			err = update(ctx, tx, r)
		}
		if err != nil {
			return err
		}
	}

	for _, r := range old {
		if kept[r.kid] {
			continue
		}
		if _, err := tx.ExecContext(ctx,
			"DELETE FROM signing_keys WHERE kid = ?", r.kid); err != nil {
			return fmt.Errorf("delete %s: %w", r.kid, err)
		}
	}
	return nil
}

// validate rejects a key that cannot be stored: one without a kid, a kid
// seen before in the same update, or no creation time to order it by.
func validate(k store.Key, seen map[string]bool) error {
	switch {
	case k.KID == "":
		return errors.New("empty kid")
	case seen[k.KID]:
		return fmt.Errorf("kid %s appears twice", k.KID)
	case k.CreatedAt.IsZero():
		return fmt.Errorf("kid %s has no creation time", k.KID)
	}
	return nil
}

// insert adds a new key after every stored one. The caller holds the write
// lock, so MAX(seq) cannot move under it.
func insert(ctx context.Context, tx *sql.Tx, r row) error {
	q := "INSERT INTO signing_keys (seq, " + columns + ") VALUES (" +
		"(SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys), " +
		"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	if _, err := tx.ExecContext(ctx, q, r.args()...); err != nil {
		return fmt.Errorf("insert %s: %w", r.kid, err)
	}
	return nil
}

// update overwrites every column of a stored key but its kid and seq.
func update(ctx context.Context, tx *sql.Tx, r row) error {
	q := "UPDATE signing_keys SET alg = ?, state = ?, public_jwk = ?, " +
		"sealed = ?, created_at = ?, activates_at = ?, activated_at = ?, " +
		"retired_at = ?, remove_at = ?, removed_at = ? WHERE kid = ?"
	args := append(r.args()[1:], r.kid)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("update %s: %w", r.kid, err)
	}
	return nil
}

// querier is what listRows needs of a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// listRows reads every stored key, oldest first.
func listRows(ctx context.Context, q querier) ([]row, error) {
	rs, err := q.QueryContext(ctx,
		"SELECT "+columns+" FROM signing_keys ORDER BY created_at, seq")
	if err != nil {
		return nil, fmt.Errorf("select keys: %w", err)
	}
	defer rs.Close()

	var rows []row
	for rs.Next() {
		var r row
		if err := rs.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("scan key: %w", err)
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return rows, nil
}

// row is a key as the table holds it: times as nullable unix microseconds.
type row struct {
	kid, alg, state string
	publicJWK       []byte
	sealed          []byte // nil is NULL; never empty

	createdAt   sql.NullInt64
	activatesAt sql.NullInt64
	activatedAt sql.NullInt64
	retiredAt   sql.NullInt64
	removeAt    sql.NullInt64
	removedAt   sql.NullInt64
}

// newRow encodes k for the table. An empty Sealed is stored as NULL, as the
// driver reads an empty blob back as nil anyway.
func newRow(k store.Key) row {
	r := row{
		kid:         k.KID,
		alg:         k.Alg,
		state:       string(k.State),
		publicJWK:   k.PublicJWK,
		sealed:      k.Sealed,
		createdAt:   micros(k.CreatedAt),
		activatesAt: micros(k.ActivatesAt),
		activatedAt: micros(k.ActivatedAt),
		retiredAt:   micros(k.RetiredAt),
		removeAt:    micros(k.RemoveAt),
		removedAt:   micros(k.RemovedAt),
	}
	if len(r.sealed) == 0 {
		r.sealed = nil
	}
	return r
}

// key decodes r. The byte slices are r's own, not shared with r.
func (r row) key() store.Key {
	k := store.Key{
		KID:         r.kid,
		Alg:         r.alg,
		State:       store.KeyState(r.state),
		CreatedAt:   fromMicros(r.createdAt),
		ActivatesAt: fromMicros(r.activatesAt),
		ActivatedAt: fromMicros(r.activatedAt),
		RetiredAt:   fromMicros(r.retiredAt),
		RemoveAt:    fromMicros(r.removeAt),
		RemovedAt:   fromMicros(r.removedAt),
	}
	if len(r.publicJWK) > 0 {
		k.PublicJWK = bytes.Clone(r.publicJWK)
	}
	if r.sealed != nil {
		k.Sealed = bytes.Clone(r.sealed)
	}
	return k
}

// args returns r's values in the order of columns. public_jwk is a TEXT
// column, so it goes in as a string.
func (r row) args() []any {
	return []any{
		r.kid, r.alg, r.state, string(r.publicJWK), r.sealed,
		r.createdAt, r.activatesAt, r.activatedAt,
		r.retiredAt, r.removeAt, r.removedAt,
	}
}

// dest returns pointers to r's fields in the order of columns, for Scan.
func (r *row) dest() []any {
	return []any{
		&r.kid, &r.alg, &r.state, &r.publicJWK, &r.sealed,
		&r.createdAt, &r.activatesAt, &r.activatedAt,
		&r.retiredAt, &r.removeAt, &r.removedAt,
	}
}

// equal reports whether r and o are stored alike.
func (r row) equal(o row) bool {
	return r.kid == o.kid && r.alg == o.alg && r.state == o.state &&
		bytes.Equal(r.publicJWK, o.publicJWK) &&
		bytes.Equal(r.sealed, o.sealed) &&
		r.createdAt == o.createdAt &&
		r.activatesAt == o.activatesAt &&
		r.activatedAt == o.activatedAt &&
		r.retiredAt == o.retiredAt &&
		r.removeAt == o.removeAt &&
		r.removedAt == o.removedAt
}

// micros encodes t as unix microseconds, the zero time as NULL.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicros decodes what micros encoded, in UTC.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}
