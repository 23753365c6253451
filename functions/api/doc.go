// Package api is the api function: Caliopen's REST API (the original
// apiv2) under /api/v2/, with accounts, and the apiv2 emitters of the seed.
// New returns its http.Handler; LoadConfig reads its configuration.
//
// # Access
//
// POST /api/v2/authentications takes {"username","password"} and answers
// {"access_token","token_type":"Bearer","expires_at","user_id","username"}.
// Every other route wants "Authorization: Bearer <token>" (401 otherwise).
// A token is 32 random bytes in unpadded base64url; the store keeps only
// its SHA-256 (internal/accounts). Every route reads and writes the
// caller's objects only: another user's id answers exactly as a missing
// one (404, same body). Admin routes answer 403 to other users.
//
// Logins are throttled per client address and per account before any
// password is checked (accounts.LoginThrottle): 429 throttled with
// Retry-After. An address's 10 free attempts come back one per 30 s (a
// successful login gives its token back); an account's 20 free failures one
// per 10 s, and when they are spent, attempts on it are refused only from
// addresses that have failed before, so the user still logs in from a clean
// address while someone guesses from elsewhere. The client address is the
// connection's, or with Config.TrustedProxyHops the one the outermost
// trusted proxy saw.
//
// # Routes
//
//	method  path                                     body                          answer   order emitted
//	POST    /api/v2/authentications                  username, password            200      -
//	DELETE  /api/v2/authentications                  -                             204      -
//	GET     /api/v2/me                               -                             200      -
//	GET     /api/v2/identities/locals                -                             200      -
//	POST    /api/v2/identities/locals                identifier, display_name      201      -
//	GET     /api/v2/identities/locals/{id}           -                             200      -
//	PATCH   /api/v2/identities/locals/{id}           display_name                  200      -
//	DELETE  /api/v2/identities/locals/{id}           - (not the last one: 409)     204      -
//	GET     /api/v2/identities/remotes               -                             200      -
//	POST    /api/v2/identities/remotes               protocol, identifier, ...     201      add_identity on identitiesWorker
//	GET     /api/v2/identities/remotes/{id}          -                             200      -
//	PATCH   /api/v2/identities/remotes/{id}          display_name, status, ...     200      update_identity on identitiesWorker
//	DELETE  /api/v2/identities/remotes/{id}          -                             204      delete_identity on identitiesWorker
//	POST    /api/v2/contacts                         title, names, emails, ...     201      contact_update on contactAction, discover_key on keyAction (with emails or identities)
//	GET     /api/v2/contacts?limit&after             -                             200      -
//	GET     /api/v2/contacts/{id}                    -                             200      -
//	PATCH   /api/v2/contacts/{id}                    any contact field             200      contact_update on contactAction, discover_key on keyAction (emails or identities changed)
//	DELETE  /api/v2/contacts/{id}                    -                             204      -
//	POST    /api/v2/contacts/{id}/actions            {"actions":["discover_key"]}  202      discover_key on keyAction
//	GET     /api/v2/contacts/{id}/publickeys         -                             200      -
//	POST    /api/v2/contacts/{id}/publickeys         key (armored), label          201      publish_key on keyAction
//	GET     /api/v2/contacts/{id}/publickeys/{keyid} -                             200      -
//	DELETE  /api/v2/contacts/{id}/publickeys/{keyid} -                             204      delete_key on keyAction
//	POST    /api/v2/messages                         identity_id, participants,..  201      -
//	GET     /api/v2/messages?limit&after&is_draft&is_unread&discussion_id          200      -
//	GET     /api/v2/messages/{id}                    -                             200      -
//	PATCH   /api/v2/messages/{id}                    any draft field (drafts only) 200      -
//	GET     /api/v2/messages/{id}/raw                -                             200 message/rfc822
//	POST    /api/v2/messages/{id}/actions            {"actions":["send"]}          200      deliver request (see below)
//	POST    /api/v2/messages/{id}/actions            {"actions":["set_read"]}      200      - (also "set_unread")
//	GET     /api/v2/notifications?limit&after        -                             200      -
//	POST    /api/v2/admin/users                      name, password, is_admin, ... 201      deliver request on outboundSMTP
//	POST    /api/v2/admin/users/{id}/mail            subject, body                 200      deliver request on outboundSMTP
//	POST    /api/v2/admin/users/{id}/identities      identifier, display_name      201      -
//	GET     /.well-known/openpgpkey/{domain}/hu/{h}  - (no token; also /hu/{h})    200 key  -
//
// # Hosted addresses
//
// Local (hosted) addresses are assigned by rules, so that no user takes a
// role address or another person's name (and the admin's later creation of
// that person then fails). A user's first address is their user name, made
// with the account by the admin. A user who is not an admin may add only
// <name>+<tag> (RFC 5233 subaddressing: alice+shop; user names hold no '+',
// so such an address never takes a future user's). Every other address is
// the admin's to assign, to themselves through POST
// /api/v2/identities/locals or to any user through POST
// /api/v2/admin/users/{id}/identities; among them the reserved role names
// (accounts.Reserved: postmaster, abuse, hostmaster, webmaster, noreply,
// root, admin, mailer-daemon... after RFC 2142 and RFC 5321). A refused
// address answers 403 forbidden saying which addresses the user may take.
//
// A draft is {"identity_id","participants":[{"type":"To","address":
// "bob@example.org","label":"Bob"}],"subject","body_plain","body_html",
// "in_reply_to","references","tags"}, every field optional: identity_id
// defaults to the caller's first local identity, which is the sender (From);
// participant types are To, Cc and Bcc. README.md shows a draft written and
// sent with curl.
//
// Lists answer {"<items>":[...],"next":"<cursor>"}; pass next as after for
// the following page. Errors answer {"error":"<code>","message":"..."}:
// invalid_json, unknown_field, missing_field, invalid_field (400),
// unauthorized, bad_credentials (401), forbidden, quota_exceeded (403), not_found (404),
// method_not_allowed (405), conflict, not_a_draft, request_in_progress
// (409), body_too_large (413), unsupported_media_type (415), invalid_key,
// unknown_identity, no_recipient, no_route, idempotency_key_reused (422),
// throttled (429, with Retry-After), delivery_failed, no_responder, bad_reply (502), unavailable,
// no_admin_identity (503), delivery_timeout (504); invalid_idempotency_key
// (400).
//
// # Idempotency keys
//
// The POSTs that create (identities, contacts, public keys, messages,
// admin users and mails) accept an Idempotency-Key header
// (draft-ietf-httpapi-idempotency-key-header), a quoted string of 1 to 255
// printable characters, kept per user for 24 hours. The first request with
// a key runs; a request repeating it (same route and body) gets the first
// answer again, status, headers and body, and changes nothing; the key
// with another request answers 422 idempotency_key_reused, and a repeat
// while the first still runs 409 request_in_progress. Answers a client
// should retry (5xx, 408, 429) are not kept: the key is free again. A
// request that died before answering holds its key for 2 minutes; a repeat
// then runs again and creates the same object (the id is reserved under
// the key).
//
// # Orders
//
// Payloads are the seed's, byte for byte (internal/contract's types and
// golden files): contact_update and discover_key {order, contact_id,
// user_id}; publish_key and delete_key {key_id, order, resource_id,
// user_id} with resource_id the contact and key_id the stored key's id;
// add_identity, update_identity and delete_identity {identity_id, order,
// user_id}. As in the original, only remote identities emit identity
// orders (the identities worker polls remote identities only); local
// identities and contact deletion emit nothing. Key discovery is launched
// by its action, when a contact is created with addresses or identities,
// and when a PATCH changes them (as the original's PatchContact).
//
// A remote identity's status is active, inactive (the user's choice), or
// reauth_required: the remote service refused its credentials (a refused
// refresh token, revoked tokens), it is not polled, and the user has a
// reauth_required notification. A PATCH that gives new credentials makes
// it active again, and polling resumes from its cursor.
//
// # Contacts and keys
//
// A contact shows pi and privacy_features, which contact-action computes
// (message_day_total, message_day_avg, message_day_pstdev,
// public_key_best_size, address_or_phone, nb_protocols). A key shows its
// source (api for a key given here; wkd, dane, hkp or autocrypt for one
// key-action discovered) and whether the answer that gave it was
// authenticated.
//
// # Hosted Web Key Directory
//
// GET /.well-known/openpgpkey/<domain>/hu/<hash> (the advanced method) and
// /.well-known/openpgpkey/hu/<hash> (the direct method, for the request's
// host) answer, without a token, the binary keys key-action published for
// the users' own addresses (publish_key of a key of the user's own
// contact; delete_key withdraws it). The policy files answer empty. A
// cluster routes https://openpgpkey.<domain>/.well-known/openpgpkey/ and
// https://<domain>/.well-known/openpgpkey/ to this function; the local
// gateway routes /.well-known/openpgpkey/ to it.
//
// A publish/subscribe order leaves with its change or not at all: it is
// written to the store's outbox in the change's transaction (store.Order),
// then published by the API with internal/emit's acknowledged publish
// under the order's id as Nats-Msg-Id (retried for at most
// Config.PublishTimeout, even if the client has gone). An order the stream
// does not acknowledge by then stays in the outbox and the route answers
// as usual: an outbox relay (internal/outbox; the api's process and the
// scheduler pod run one) publishes it later, and the stream's duplicate
// window stores an order published twice once. The request's log line
// then says order_pending.
//
// # Sending
//
// SendDraft sends deliver {message_id, order, remote_id, user_id} as a NATS
// request, with remote_id the sender identity (the draft's first identity),
// and waits up to Config.SendTimeout (30 s). The subject follows the sender
// identity: every local identity (type local, protocol "email") goes to
// outboundSMTP, the platform's relay; a remote identity of protocol email
// or imap goes to outboundIMAP (sent through the account's server, copy
// filed in its Sent folder); a legacy remote "smtp" identity goes to
// outboundSMTP, as in the original; twitter goes to twitter_dm. The reply
// comes back: {"reply":{"error":false,...},"message":{...}} with 200;
// {"error":true,"message":M} gives 502 delivery_failed with message M, the
// reply, "reason" (the deliver function's code: recipient_refuses_dm,
// unknown_recipient, send_refused, reauth_required, x_unavailable, ...)
// and "temporary" (true: sending the draft again may succeed); no responder 502 no_responder; no reply in time 504
// delivery_timeout. The API does not mark the draft sent: the deliver
// function does, under its outbox state, so a repeated send is harmless.
//
// Notifications.SendEmailAdminToUser creates a draft owned by the admin
// user (Config.AdminName) from its first local identity to the user's
// recovery address (else the user's local address), and sends deliver on
// outboundSMTP the same way: on account creation (the account stands
// whatever becomes of the mail; the answer's welcome_mail tells) and on
// POST /api/v2/admin/users/{id}/mail.
//
// Remote-account credentials are sealed with the keyring, the identity id
// being the sealing context, and are never shown (has_credentials says
// whether there are some). Logs: one JSON line per request with the keys
// fn, method, route, user_id, corr_id, status, outcome, duration_ms, and
// subject, order, order_pending and err when they apply; never a body, a
// password or a token.
package api
