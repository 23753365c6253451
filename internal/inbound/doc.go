// Package inbound turns a raw e-mail into the message Caliopen stores for one
// user: it parses MIME with enmime (Parse) and qualifies the result
// (Qualifier.Deliver): participants resolved to the user's contacts, imported
// tags, a privacy index from what the headers show, a discussion found by
// References / In-Reply-To first and the participants hash second, and a
// notification for the user.
//
// Failure semantics. Parse measures the MIME structure first (Scan: nesting
// depth, part count, header fields and header size, in one linear pass) and
// refuses a message over its Limits with ErrRejected before enmime reads it:
// enmime's time doubles with each nested level and cannot be interrupted.
// Otherwise Parse does not fail and never panics on bad input: enmime
// is lenient, and what it cannot read is left empty (a mail without a body, a
// subject or participants is still stored; the recipient identity stands in
// for missing participants). Deliver is idempotent: the message id is derived
// from (raw message id, user id), so a redelivered order finds the message it
// stored, and a second copy of a mail with the same Message-ID and the same
// content (ContentHash) for the same user is a duplicate. Both return the
// existing message with Dup set and create nothing new. Another mail under a
// Message-ID the user has is stored as well, and the messages sharing that id
// are marked MessageIDReused (a forged mail cannot suppress the real one). A message is one store.Delivery: its reads and writes
// share one transaction, so a failure stores nothing of it. An identity that
// is not the user's, or not an active e-mail identity, gives
// ErrUnknownIdentity or ErrNotEmailIdentity. Other store errors are returned
// wrapped with context and left unclassified (temporary) unless the store
// says the input is invalid.
package inbound
