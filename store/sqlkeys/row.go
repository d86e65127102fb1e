package sqlkeys

import (
	"bytes"
	"database/sql"
	"time"

	"github.com/jwt-up/jwt-up/store"
)

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

// newRow encodes k for the table. An empty Sealed is stored as NULL, so
// that every driver reads it back alike.
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

// keys decodes rows into keys of their own.
func keys(rows []row) []store.Key {
	ks := make([]store.Key, len(rows))
	for i, r := range rows {
		ks[i] = r.key()
	}
	return ks
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
