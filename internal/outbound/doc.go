// Package outbound builds the MIME form of a draft and hands it to an SMTP
// server: the platform's submission relay, or a remote identity's own
// server with its credentials.
//
// Building (Build) is deterministic: the Message-ID is derived from the
// message's id (as the original did: base64url(sha256(id))@domain) and the
// multipart boundaries from the Message-ID, so a rebuilt message is byte for
// byte the same for the same Date, and golden files can check it. Bcc
// recipients are only in the envelope. A body that the client already
// encrypted (an ASCII-armored PGP MESSAGE, or privacy feature
// message_encryption_method=pgp) becomes an RFC 3156 multipart/encrypted
// message, as the original's MarshalPGPEmail, without attachments.
//
// Sending (Send) dials one connection per message. Failure semantics: every
// error of Send is a *SendError. An SMTP reply 4xx, a network or TLS error
// and a timeout are temporary (the message was not accepted, sending it
// again is right); a 5xx reply (including a refused authentication) is
// permanent. Send reports success only after the server accepted the DATA
// (250); a failure before that point means the server did not take the
// message. An error after a 250 to DATA (QUIT failing) is ignored.
package outbound
