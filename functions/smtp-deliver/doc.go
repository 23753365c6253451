// Package smtpdeliver is the smtp-deliver function: the order deliver on
// outboundSMTP (queue SMTPqueue, request/reply), the original smtp-bridge's
// natsMsgHandler. It loads the draft named by user_id/message_id, builds
// its MIME form (package outbound), hands it to an SMTP server, stores the
// sent copy (raw bytes in the blob store, a raw message record) and marks
// the message sent. The reply is {"error":false,"message":"message <id>
// has been sent."}, or {"error":true,...} with a code in
// Nats-Service-Error-Code.
//
// Routing. The sender is the draft's first identity (the order's
// remote_id is not trusted, as in the original). A local identity's mail
// goes through the platform's submission relay (Config.Relay); recipients
// whose address is an active local identity of this system (our hosted
// domains) do not go through the relay: they receive the mail as any
// inbound mail, through inbound-email. The sent copy is stored once more
// as a raw message (store.RawKey, its id the hash of the copy's bytes as
// the SMTP listener names what it receives, a Received header in front)
// and process_inbound is requested on inboundSMTP for each hosted
// recipient identity other than the author's, as the SMTP listener does
// (emit.ProcessInbound): discussion, contact resolution, privacy index
// and notification are inbound-email's. With no relay configured,
// mail to hosted addresses is still delivered and mail to any other
// address fails permanently (code no_relay). An address of the hosted
// domain (Config.HostedDomain, CALIOPEN_LOCAL_DOMAIN) that no active local
// identity has does not exist: the send fails permanently (code
// unknown_recipient) and nothing is sent. A remote identity's mail goes
// through the identity's own server with its sealed credentials, as
// package mailconn reads them (outserver, outtls, authtype: XOAUTH2, or
// PLAIN, or LOGIN when the server offers only LOGIN).
//
// Exactly once. The draft's outbox state in the store is draft → sending
// → sent (or failed, which may be sent again). A deliver takes the draft
// with store.BeginSend under a lease (Config.SendLease, above the longest
// attempt); the same write records the attempt on the draft (the raw
// message id its sent copy will be stored under, and its Date) unless an
// earlier attempt's is still there. Before the hand-off the attempt stores
// its sent copy in the blob store under that id. Then:
//   - the server accepts (250 to DATA), or no recipient is remote: the
//     hosted recipients receive the copy, then MarkSent (with the copy's
//     record). A hosted recipient not answered or refused for now leaves
//     the draft sending with its attempt (local_delivery_failed): the
//     retry after the lease finishes it with the same copy, so the same
//     raw message (stored once: the retry finds it) and the same messages
//     (inbound-email derives a message's id from the raw message id and
//     the user; the recipients that have it get a duplicate answer);
//   - the server refuses, or the connection fails before the message was
//     written: the draft is marked failed, which forgets the attempt, and
//     the copy is removed (a temporary refusal too: nothing went out, the
//     draft can be sent again at once);
//   - the connection fails after the message was written and before the
//     answer, or the function dies anywhere after taking the draft: the
//     attempt stays recorded and the draft stays sending. A later deliver
//     (another attempt or the user's retry) waits for the lease to run
//     out and finds the earlier attempt. If that attempt's copy is in the
//     blob store, the message may have been handed off: the send is
//     finished without sending (the hosted recipients receive that copy,
//     then it is marked sent with the copy and its Message-ID). If not,
//     nothing went out: the draft is sent now, as that attempt.
//
// So a retried deliver for a sent draft sends nothing and answers success,
// and a crash between the hand-off and the mark never sends twice. One
// store commit is made before the hand-off and one after. The price is
// at-most-once in one narrow window: a crash after the copy was stored and
// before the server got the whole message is finished as sent although the
// relay never accepted it (the Message-ID would have let receivers drop a
// duplicate, a lost mail cannot be seen). We prefer that to a duplicate.
//
// Failure semantics (code, class). Permanent, the draft is marked failed
// when it was taken: unknown_message, not_a_draft, unknown_identity,
// invalid_draft, attachment_missing, bad_credentials, no_relay,
// unknown_recipient, relay_rejected (a 5xx reply); a hosted recipient's
// permanent refusal fails the send with inbound-email's code
// (raw_too_large, mime_rejected, bad_identity...; local_delivery_refused
// without one), naming the recipient, and the draft is marked failed when
// the mail reached nobody, sent otherwise. Temporary: send_in_progress (another
// deliver holds the lease), relay_unavailable (a 4xx reply or a connection
// error; the draft is marked failed so that it can be sent again),
// send_unconfirmed (see above), store_unavailable, blob_unavailable,
// local_delivery_failed (inbound-email did not answer, timed out or
// answered a temporary error for a hosted recipient; the draft stays
// sending and a retry after the lease finishes the send). Nothing is
// retried inside the function.
package smtpdeliver
