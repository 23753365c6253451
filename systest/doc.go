// Package systest holds the end-to-end tests that run the whole system
// (package system, through its test harness system/systemtest): the
// connector with the functions, the SMTP listener and the scheduler. It
// sits above connector/, functions/ and internal/, none of which import
// it, so that a function image, built from functions/, internal/ and
// cmd/function alone (stack.yml's configuration.copy), compiles and tests
// without it.
//
//   - outboundsys: the outbound path (API, smtp-deliver, imap-deliver, the
//     connector, a relay);
//   - listenertest: the inbound path behind the SMTP listener, and the
//     listener's limits;
//   - scheduler: the scheduler's orders through the connector.
package systest
