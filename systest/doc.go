// Package systest holds the harnesses and tests that assemble several parts
// of the system in one process: the connector with the functions, the SMTP
// listener and the scheduler. It sits above connector/, functions/ and
// internal/, none of which import it, so that a function image, built from
// functions/, internal/ and cmd/function alone (stack.yml's
// configuration.copy), compiles and tests without it.
//
//   - outboundsys: the outbound path (API, smtp-deliver, imap-deliver, the
//     connector) and its end-to-end tests;
//   - listenertest: the inbound path behind the SMTP listener and the
//     listener's tests;
//   - scheduler: the scheduler's orders through the connector;
//   - processsys: the connector before the gateway in process mode
//     (package provider), a replica killed under an order.
//   - natsauth: every component under its own NATS user (internal/deploy's
//     generated authorization), what each may and may not do.
package systest
