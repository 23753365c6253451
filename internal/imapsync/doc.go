// Package imapsync is the IMAP side of imap-fetch: it logs in to a remote
// e-mail identity's server with the identity's own credentials and reads
// its INBOX by UID without changing anything on the server.
//
// Connection and login: the identity's IMAP settings as package mailconn
// reads them (inserver, intls, authtype: LOGIN, AUTHENTICATE PLAIN or
// XOAUTH2), for imap-fetch and imap-deliver alike; Connect logs in without
// examining a mailbox.
//
// Reading: INBOX is opened with EXAMINE (read-only) and bodies are fetched
// with BODY.PEEK[], so no \Seen flag is set and nothing is expunged. The
// caller keeps a cursor (the UIDVALIDITY and the highest UID processed);
// UIDsAfter lists what lies beyond it.
//
// Failure semantics: errors are wrapped with the operation and classified
// once with package faults: permanent when the identity's settings or
// credentials are unusable (mailconn.ErrSettings) or the server refused the
// login (ErrLoginRefused), since retrying cannot help until they change;
// temporary when connecting, TLS or the connection failed. Errors never
// contain a password or a token, and never a message body.
package imapsync
