// Package polling starts and stops the polling of a remote identity in the
// store, for the functions that change it (imap-worker, twitter-worker,
// twitter-dm): its status and its schedule, idempotently, store errors
// classified; and stops it until the user authorizes the account again
// (RequireReauth).
package polling

import (
	"context"
	"encoding/json"
	"time"

	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/storeerr"
)

// Store is what Start and Stop change; *store.SQL has it.
type Store interface {
	SetIdentityStatus(ctx context.Context, userID, identityID string, st store.IdentityStatus) error
	SetNextRun(ctx context.Context, userID, identityID string, at time.Time) error
	EnsureSchedule(ctx context.Context, userID, identityID string, at time.Time) (bool, error)
	DeleteSchedule(ctx context.Context, userID, identityID string) error
}

// CodeUnknownIdentity is the code of an identity the store does not have.
const CodeUnknownIdentity = "unknown_identity"

// StoreError classifies a store error of op on an identity: a missing one
// is permanent (CodeUnknownIdentity), the rest temporary.
func StoreError(op string, err error) error { return storeerr.Classify(op, CodeUnknownIdentity, err) }

// Start starts the polling of identity id (add_worker): active, with a
// sync due at now. An identity already active and scheduled is left alone
// and Start returns false, so a redelivered order sends no second sync.
func Start(ctx context.Context, st Store, id store.Identity, now time.Time) (bool, error) {
	created, err := st.EnsureSchedule(ctx, id.UserID, id.ID, now)
	if err != nil {
		return false, StoreError("schedule identity "+id.ID, err)
	}
	if id.Status == store.Active && !created {
		return false, nil
	}
	if err := st.SetIdentityStatus(ctx, id.UserID, id.ID, store.Active); err != nil {
		return false, StoreError("activate identity "+id.ID, err)
	}
	if !created {
		if err := st.SetNextRun(ctx, id.UserID, id.ID, now); err != nil {
			return false, StoreError("schedule identity "+id.ID, err)
		}
	}
	return true, nil
}

// Stop stops the polling of identity id (remove_worker): inactive, no
// schedule. A sync already sent still runs to its end.
func Stop(ctx context.Context, st Store, id store.Identity) error {
	if err := st.SetIdentityStatus(ctx, id.UserID, id.ID, store.Inactive); err != nil {
		return StoreError("deactivate identity "+id.ID, err)
	}
	if err := st.DeleteSchedule(ctx, id.UserID, id.ID); err != nil {
		return StoreError("unschedule identity "+id.ID, err)
	}
	return nil
}

// ReauthStore is what RequireReauth changes; *store.SQL has it.
type ReauthStore interface {
	RequireReauth(ctx context.Context, userID, identityID, reason string, n store.Notification) (bool, error)
}

// RequireReauth stops the polling of identity id until its user gives new
// credentials: its status becomes reauth_required (the scheduler skips it,
// its cursor stays), and the user gets a reauth_required notification
// (store.ReauthNotice) signed by emitter, once: an identity already
// waiting is left alone and RequireReauth returns false. reason says what
// the remote service refused, in the user's words; never a credential.
func RequireReauth(ctx context.Context, st ReauthStore, id store.Identity, emitter, reason string) (bool, error) {
	body, _ := json.Marshal(store.ReauthNotice{IdentityID: id.ID, Protocol: id.Protocol, Identifier: id.Identifier,
		Reason: reason}) // cannot fail: strings
	n := store.Notification{UserID: id.UserID, Type: store.ReauthNotification, Emitter: emitter, Reference: id.ID,
		Body: string(body)}
	changed, err := st.RequireReauth(ctx, id.UserID, id.ID, reason, n)
	if err != nil {
		return false, StoreError("require reauthorization of identity "+id.ID, err)
	}
	return changed, nil
}
