// Package imapdeliver is the imap-deliver function: the order deliver on
// outboundIMAP (queue IMAPworkers, request/reply), the original
// imap-bridge's Sender.SendDraft. The API sends there the drafts of remote
// e-mail identities.
//
// It loads the order's identity (remote_id), re-emits the same order as a
// request on outboundSMTP, where smtp-deliver sends the mail through the
// identity's own SMTP server and marks it sent (exactly once, see package
// smtpdeliver), and, for a remote identity, appends the sent copy (the raw
// message smtp-deliver stored) to the account's Sent folder with go-imap:
// the mailbox with the SPECIAL-USE attribute \Sent, else one named "Sent"
// (any case), else the first whose name contains "sent". It is appended
// flagged \Seen with the message's date, unless the folder already holds
// a message with the same Message-ID (a retried deliver adds no second
// copy).
//
// Failure semantics. smtp-deliver's reply is passed back unchanged when
// it reports an error (as the original did), and nothing is appended.
// Transport problems on NATS are temporary: no_responder (nothing serves
// outboundSMTP), delivery_timeout (the mail may or may not have been
// sent; a retry never sends twice), bad_reply. An unknown identity is
// permanent (unknown_identity). A failed append does not turn a sent mail
// into a failure: the reply is {"error":false} and its message says that
// the copy to the Sent folder failed and why (no credentials in it).
// Nothing is retried inside the function.
package imapdeliver
