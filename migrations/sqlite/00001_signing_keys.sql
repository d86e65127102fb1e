-- Signing keys, one row per kid. Times are unix microseconds; NULL stands
-- for a time that has not happened yet (the zero time.Time in Go). seq keeps
-- insertion order among keys created in the same microsecond.

-- +goose Up
CREATE TABLE signing_keys (
    kid          TEXT    NOT NULL PRIMARY KEY,
    seq          INTEGER NOT NULL UNIQUE,
    alg          TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    public_jwk   TEXT    NOT NULL,
    sealed       BLOB,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER,
    activated_at INTEGER,
    retired_at   INTEGER,
    remove_at    INTEGER,
    removed_at   INTEGER
);

-- +goose Down
DROP TABLE signing_keys;
