// Package store keeps Caliopen's records (users, identities, messages, raw
// messages, discussions, contacts, public keys, tags, notifications and the
// polling schedule) in SQL, through one implementation, *SQL, on
// database/sql. SQLite (modernc.org/sqlite) is the embedded default and
// PostgreSQL (pgx) the cluster store; Open picks the driver from the DSN and
// applies the versioned migrations embedded in this package (goose).
//
// The model follows the original Caliopen one (Cassandra, caliopen-original.md
// §10), simplified where a relational store does better; each type says how.
// Consumers depend on the small role interfaces (Users, Identities, Inbox,
// Drafts, ...) rather than on *SQL.
//
// Ownership: every object but a raw message belongs to one user, and every
// read or write of such an object takes the owner's user id. An object of
// another user is indistinguishable from a missing one: ErrNotFound. The few
// cross-user reads (LookupIdentities, DueSchedules) exist for system
// functions and say so.
//
// Idempotency: writes with a natural key are upserts (tags by name, public
// keys by fingerprint, inbound messages by Message-ID, raw messages and
// discussions by their key), and a Create with a caller-chosen ID may be
// repeated: it returns the stored object. A draft moves
// draft → sending → sent (or failed) with compare-and-set updates, so it is
// sent once.
//
// Failure semantics: errors.Is(err, ErrNotFound) when the object, or an object
// it refers to, does not exist for that user; ErrConflict when a write would
// break a uniqueness rule or a state transition is not allowed; ErrInvalid
// for input the store refuses before touching the database (missing ids,
// unknown enum values, a bad page cursor). Any other error comes from the
// database (unreachable, busy, disk full) and is worth retrying; it is
// wrapped with the operation that failed. No method retries by itself.
//
// Storage notes: ids are UUID strings; timestamps are stored as microseconds
// since the Unix epoch (UTC) in both dialects, so ordering, comparisons and
// keyset pagination behave the same on both, and are returned in UTC with
// microsecond precision; list-valued fields are JSON (JSONB on PostgreSQL).
// Remote-account credentials are accepted only as secrets.Sealed values.
package store
