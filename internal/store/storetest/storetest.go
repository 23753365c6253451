// Package storetest is the contract suite of package store: Run checks a
// store against the behaviour every role interface promises, and SQLite and
// Postgres open fresh stores for it. A failure names the operation and the
// dialect; nothing here retries.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// Opener returns a fresh, empty store for one test; the test's cleanup
// closes and removes it.
type Opener func(t *testing.T) *store.SQL

// Run runs the contract suite against stores made by open. Subtests run in
// parallel, each on its own store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.SQL)
	}{
		{"Users", testUsers},
		{"UserConflicts", testUserConflicts},
		{"UserPagination", testUserPagination},
		{"DeleteUserCascades", testDeleteUserCascades},
		{"Identities", testIdentities},
		{"IdentityConflicts", testIdentityConflicts},
		{"IdentityValidation", testIdentityValidation},
		{"SyncState", testSyncState},
		{"SyncLease", testSyncLease},
		{"Reauth", testReauth},
		{"RemoteHandles", testRemoteHandles},
		{"Schedules", testSchedules},
		{"Polling", testPolling},
		{"ClaimDue", testClaimDue},
		{"MessageRoundTrip", testMessageRoundTrip},
		{"InboundDedup", testInboundDedup},
		{"ContentDedup", testContentDedup},
		{"ForgetRaw", testForgetRaw},
		{"MessageListing", testMessageListing},
		{"MessageEdits", testMessageEdits},
		{"Drafts", testDrafts},
		{"DraftLease", testDraftLease},
		{"Attempt", testAttempt},
		{"SentCopyRecord", testSentCopyRecord},
		{"InboundNotify", testInboundNotify},
		{"Delivery", testDelivery},
		{"RawMessages", testRawMessages},
		{"Discussions", testDiscussions},
		{"Contacts", testContacts},
		{"PublicKeys", testPublicKeys},
		{"ContactPrivacy", testContactPrivacy},
		{"HostedWKD", testHostedWKD},
		{"Tags", testTags},
		{"Notifications", testNotifications},
		{"Ownership", testOwnership},
		{"Sessions", testSessions},
		{"SessionCleanup", testSessionCleanup},
		{"Outbox", testOutbox},
		{"OutboxLeases", testOutboxLeases},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"AccountState", testAccountState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// ctx returns a context bounded by the test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// result holds the values of a call returning (T, error).
type result[T any] struct {
	v   T
	err error
}

// try captures a (T, error) call for ok.
func try[T any](v T, err error) result[T] { return result[T]{v, err} }

// ok fails the test on the call's error and returns its value.
func (r result[T]) ok(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

// pageResult holds the values of a list call.
type pageResult[T any] struct {
	items []T
	next  string
	err   error
}

// page captures a list call for ok.
func page[T any](items []T, next string, err error) pageResult[T] {
	return pageResult[T]{items, next, err}
}

// ok fails the test on the list call's error and returns its items and next
// cursor.
func (r pageResult[T]) ok(t *testing.T) ([]T, string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.items, r.next
}

// putResult holds the values of a PutInbound call.
type putResult struct {
	m   store.Message
	dup bool
	err error
}

// put captures a PutInbound call for ok.
func put(m store.Message, dup bool, err error) putResult { return putResult{m, dup, err} }

// ok fails the test on PutInbound's error and returns the message and
// whether it was a duplicate.
func (r putResult) ok(t *testing.T) (store.Message, bool) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.m, r.dup
}

// noErr fails the test on err.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

// user creates a user named name.
func user(t *testing.T, s *store.SQL, name string) store.User {
	t.Helper()
	return try(s.CreateUser(ctx(t), store.User{Name: name, PasswordHash: "$argon2id$x", RecoveryEmail: name + "@example.org"})).ok(t)
}

// remote creates an active remote e-mail identity of u.
func remote(t *testing.T, s *store.SQL, u store.User, addr string) store.Identity {
	t.Helper()
	return try(s.CreateIdentity(ctx(t), store.Identity{UserID: u.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: addr, PollInterval: 15 * time.Minute,
		Infos: map[string]string{"inserver": "imap.example.org:993", "authtype": "login-password"}})).ok(t)
}

// at returns a fixed instant plus d, in the form the store keeps.
func at(d time.Duration) time.Time {
	return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(d)
}

func ptr[T any](v T) *T { return &v }

// walk pages through a list with pages of limit items, calling between(n)
// after page n (from 1) when there is more; it returns every item and the
// number of pages.
func walk[T any](t *testing.T, limit int, list func(p store.Page) ([]T, string, error), between func(n int)) ([]T, int) {
	t.Helper()
	var all []T
	after := ""
	for n := 1; ; n++ {
		items, next := page(list(store.Page{Limit: limit, After: after})).ok(t)
		if len(items) > limit {
			t.Fatalf("page of %d items, limit %d", len(items), limit)
		}
		all = append(all, items...)
		if next == "" {
			return all, n
		}
		after = next
		if between != nil {
			between(n)
		}
	}
}
