package sqlkeys

import "testing"

// The statements run against real databases in the sqlite and postgres
// tests; these pin how a dialect shapes them.
func TestStatements(t *testing.T) {
	tests := []struct {
		name                   string
		d                      Dialect
		insert, update, delete string
	}{
		{
			name: "QuestionMarkWithSeq",
			d:    Dialect{Placeholder: QuestionMark, NextSeq: "NEXT"},
			insert: "INSERT INTO signing_keys (seq, kid, alg, state, public_jwk, " +
				"sealed, created_at, activates_at, activated_at, retired_at, " +
				"remove_at, removed_at) VALUES (NEXT, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			update: "UPDATE signing_keys SET alg = ?, state = ?, public_jwk = ?, " +
				"sealed = ?, created_at = ?, activates_at = ?, activated_at = ?, " +
				"retired_at = ?, remove_at = ?, removed_at = ? WHERE kid = ?",
			delete: "DELETE FROM signing_keys WHERE kid = ?",
		},
		{
			name: "DollarWithoutSeq",
			d:    Dialect{Placeholder: Dollar},
			insert: "INSERT INTO signing_keys (kid, alg, state, public_jwk, " +
				"sealed, created_at, activates_at, activated_at, retired_at, " +
				"remove_at, removed_at) VALUES " +
				"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
			update: "UPDATE signing_keys SET alg = $1, state = $2, public_jwk = $3, " +
				"sealed = $4, created_at = $5, activates_at = $6, activated_at = $7, " +
				"retired_at = $8, remove_at = $9, removed_at = $10 WHERE kid = $11",
			delete: "DELETE FROM signing_keys WHERE kid = $1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := New(nil, tt.d)
			for _, c := range []struct{ what, got, want string }{
				{"insert", tb.insertSQL, tt.insert},
				{"update", tb.updateSQL, tt.update},
				{"delete", tb.deleteSQL, tt.delete},
			} {
				if c.got != c.want {
					t.Errorf("%s:\n got %s\nwant %s", c.what, c.got, c.want)
				}
			}
		})
	}
}
