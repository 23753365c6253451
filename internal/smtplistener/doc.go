// Package smtplistener is the always-on SMTP/LMTP pod in front of the MTAs
// (the original smtp-bridge listener, caliopen-original.md §4.2). It accepts
// mail only for active local identities, stores each raw message once, and
// sends process_inbound on inboundSMTP as a request for every local
// recipient, with the seed's payload.
//
// Failure semantics, answered to the sending MTA:
//   - RCPT for an address that is no active local identity: 550 5.1.1 (the
//     listener is never an open relay); the recipient lookup failing: 451
//     4.3.0.
//   - A message over the size limit: 552 5.3.4; too many recipients: 452;
//     too many connections, in all, from the client's address or from its network (IPv4 /24, IPv6 /64): 421 4.7.0
//     at connect.
//   - A session is closed with 421 at its time limit, past the limit of
//     commands that move no mail (NOOP, RSET, VRFY, HELP, repeated
//     greetings, unknown commands: counted from the command lines the
//     client sends, until STARTTLS), and past the limit of unknown
//     recipients; unknown recipients after the first few are answered
//     after a delay that doubles each time (a tarpit for harvesters).
//   - A message whose MIME structure is over the parser's limits (a
//     nesting bomb): refused permanently by inbound-email, so 554 5.0.0.
//   - Storing the raw message failing: 451 4.3.0 for every recipient.
//   - Every recipient processed (stored or found a duplicate): 250.
//   - SMTP, one answer for the whole message: any temporary failure (no
//     function, timeout, a temporary error reply, store down) gives 451
//     4.3.0 so the MTA retries the whole message; the recipients already
//     processed are found duplicates on the retry, because the raw message id
//     is the hash of its bytes and the function's message id derives from it.
//     Otherwise 250 when at least one recipient was processed (a recipient
//     refused permanently is logged, not bounced), and 554 5.0.0 only when
//     every recipient was refused permanently.
//   - LMTP: one status per recipient (250, 451 4.3.0 or 550 5.0.0).
//
// Unlike the original, nothing answers 554 for a temporary problem.
//
// The listener is tested with the whole inbound path (the connector and
// inbound-email) in systest/listenertest.
package smtplistener
