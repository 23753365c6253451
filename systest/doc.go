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
//   - scheduler: the scheduler's orders through the connector;
//   - providersys: the OpenFaaS provider of the process mode (package
//     provider) with the real cmd/function: scaling from and to zero, a
//     killed replica, the real faas-cli (and the OpenFaaS CE gateway with
//     Prometheus) for every verb and every documented command line, the
//     invocation key rotated under the connector;
//   - processsys: the connector before the gateway in process mode
//     (package provider), a replica killed under an order;
//   - natsauth: every component under its own NATS user (deploy's
//     generated authorization), what each may and may not do;
//   - imagebuild: one function image built with podman from the template's
//     Dockerfile on base images made here, its handler run under chroot;
//   - the two tracing tests (listenertest, outboundsys): one mail in and
//     one send out, each one trace in a real Jaeger.
package systest
