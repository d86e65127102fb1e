// Package sqlkeys holds what the SQL key stores share: the signing_keys
// table read and written through database/sql, the row encoding, and the
// diff that UpdateKeys applies. What differs between databases (bind
// parameters, how a new key gets its seq, how writers are serialised) comes
// in a Dialect; the backends in store/sqlite and store/postgres supply theirs.
package sqlkeys

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/jwt-up/jwt-up/store"
)

// Dialect is what one database needs said its own way.
type Dialect struct {
	// Placeholder returns the n-th bind parameter, counted from 1:
	// QuestionMark or Dollar.
	Placeholder func(n int) string

	// NextSeq is the SQL expression that orders a new key after every
	// stored one, or "" when the database fills seq in by itself.
	NextSeq string

	// Lock is run first in every update transaction, before the keys are
	// read, and MUST NOT return until no other writer holds it; "" when
	// BEGIN already serialises writers.
	Lock string

	// Isolation is the level of the update transaction. With a Lock it
	// MUST give each statement a fresh snapshot (READ COMMITTED), so that
	// the read after the lock sees what the previous writer committed.
	Isolation sql.IsolationLevel
}

// QuestionMark is the Placeholder of SQLite and MySQL: "?" whatever n.
func QuestionMark(int) string { return "?" }

// Dollar is the Placeholder of PostgreSQL: "$n".
func Dollar(n int) string { return "$" + strconv.Itoa(n) }

// columns are the key columns in the order of row's fields; kid comes first.
var columns = []string{
	"kid", "alg", "state", "public_jwk", "sealed", "created_at",
	"activates_at", "activated_at", "retired_at", "remove_at", "removed_at",
}

// selectSQL reads every key, oldest first; seq orders the keys created in
// the same microsecond.
var selectSQL = "SELECT " + strings.Join(columns, ", ") +
	" FROM signing_keys ORDER BY created_at, seq"

// Table reads and writes the signing_keys table of one database. It is
// safe for concurrent use. Times are kept to the microsecond and come back
// in UTC; an empty PublicJWK or Sealed comes back nil.
type Table struct {
	db *sql.DB
	d  Dialect

	// The writes, built once in d's words.
	insertSQL, updateSQL, deleteSQL string
}

// New returns the Table of db, spoken to in d. The schema must be migrated.
func New(db *sql.DB, d Dialect) *Table {
	return &Table{
		db:        db,
		d:         d,
		insertSQL: insertSQL(d),
		updateSQL: updateSQL(d),
		deleteSQL: "DELETE FROM signing_keys WHERE kid = " + d.Placeholder(1),
	}
}

// insertSQL builds the INSERT of one key, with seq when d sets it.
func insertSQL(d Dialect) string {
	cols, vals := columns, placeholders(d, len(columns))
	if d.NextSeq != "" {
		cols = append([]string{"seq"}, cols...)
		vals = append([]string{d.NextSeq}, vals...)
	}
	return "INSERT INTO signing_keys (" + strings.Join(cols, ", ") +
		") VALUES (" + strings.Join(vals, ", ") + ")"
}

// updateSQL builds the UPDATE of every column of one key but kid and seq.
// Its parameters are row.args without the kid, then the kid.
func updateSQL(d Dialect) string {
	set := make([]string, len(columns)-1)
	for i, c := range columns[1:] {
		set[i] = c + " = " + d.Placeholder(i+1)
	}
	return "UPDATE signing_keys SET " + strings.Join(set, ", ") +
		" WHERE kid = " + d.Placeholder(len(columns))
}

// placeholders returns the first n bind parameters of d.
func placeholders(d Dialect, n int) []string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = d.Placeholder(i + 1)
	}
	return ps
}

// List returns every key, oldest first.
func (t *Table) List(ctx context.Context) ([]store.Key, error) {
	rows, err := listRows(ctx, t.db)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys(rows), nil
}

// Update runs fn on a copy of every key inside one transaction, after the
// dialect's Lock, and stores the difference between what it got and what it
// returned. An error from fn is returned as it is, after a rollback.
func (t *Table) Update(
	ctx context.Context,
	fn func([]store.Key) ([]store.Key, error),
) error {
	tx, err := t.db.BeginTx(ctx, &sql.TxOptions{Isolation: t.d.Isolation})
	if err != nil {
		return fmt.Errorf("update keys: begin: %w", err)
	}
	defer tx.Rollback() // a no-op once committed

	if err := t.lock(ctx, tx); err != nil {
		return fmt.Errorf("update keys: %w", err)
	}
	old, err := listRows(ctx, tx)
	if err != nil {
		return fmt.Errorf("update keys: %w", err)
	}

	// fn gets keys of its own, so that changing them in place cannot
	// change the rows we diff against.
	next, err := fn(keys(old))
	if err != nil {
		return err
	}

	if err := t.write(ctx, tx, old, next); err != nil {
		return fmt.Errorf("update keys: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update keys: commit: %w", err)
	}
	return nil
}

// lock runs the dialect's Lock, if it has one.
func (t *Table) lock(ctx context.Context, tx *sql.Tx) error {
	if t.d.Lock == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, t.d.Lock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// write applies the difference between the stored rows and the keys fn
// returned: it inserts new kids, updates changed ones and deletes the rest.
func (t *Table) write(ctx context.Context, tx *sql.Tx, old []row, next []store.Key) error {
	stored := make(map[string]row, len(old))
	for _, r := range old {
		stored[r.kid] = r
	}

	kept := make(map[string]bool, len(next))
	for i, k := range next {
		if err := store.ValidateKey(k, kept); err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		kept[k.KID] = true
		if err := t.put(ctx, tx, stored, newRow(k)); err != nil {
			return err
		}
	}

	return t.drop(ctx, tx, old, kept)
}

// drop deletes the stored rows whose kid is not kept.
func (t *Table) drop(ctx context.Context, tx *sql.Tx, old []row, kept map[string]bool) error {
	for _, r := range old {
		if kept[r.kid] {
			continue
		}
		if err := t.exec(ctx, tx, "delete", r.kid, t.deleteSQL, r.kid); err != nil {
			return err
		}
	}
	return nil
}

// put inserts r when its kid is not stored yet and updates it when it
// differs from the stored row.
func (t *Table) put(ctx context.Context, tx *sql.Tx, stored map[string]row, r row) error {
	prev, ok := stored[r.kid]
	switch {
	case !ok:
		return t.exec(ctx, tx, "insert", r.kid, t.insertSQL, r.args()...)
	case !prev.equal(r):
		args := append(r.args()[1:], r.kid)
		return t.exec(ctx, tx, "update", r.kid, t.updateSQL, args...)
	}
	return nil
}

// exec runs one write of the key kid, naming it in the error by verb.
func (t *Table) exec(
	ctx context.Context, tx *sql.Tx, verb, kid, query string, args ...any,
) error {
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("%s %s: %w", verb, kid, err)
	}
	return nil
}

// querier is what listRows needs of a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// listRows reads every stored key, oldest first.
func listRows(ctx context.Context, q querier) ([]row, error) {
	rs, err := q.QueryContext(ctx, selectSQL)
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
