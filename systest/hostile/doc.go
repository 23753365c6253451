// Package hostile tries the running system as an attacker would, and keeps
// each finding of the hardening rounds fixed: one test per finding, sending
// what the attacker sent, asserting it is refused with a clear answer (or,
// for the original Caliopen's own wire forms, accepted and nothing lost),
// and counting what was tried. Each case fails on the code before its fix.
//
// Files: nats_*_test.go cover NATS authentication in the local system, the
// original's wire forms, remote identities on hosted addresses and the
// data directory's lock; egress_*_test.go cover the destinations users and
// callers choose, and the quotas.
package hostile
