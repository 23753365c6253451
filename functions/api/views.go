package api

import (
	"encoding/json"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// The JSON views of the store's objects. Ids are named as in the original
// API (user_id, identity_id, contact_id, message_id, ...); credentials and
// password hashes never appear.

type userView struct {
	UserID        string    `json:"user_id"`
	Name          string    `json:"name"`
	IsAdmin       bool      `json:"is_admin"`
	RecoveryEmail string    `json:"recovery_email,omitempty"`
	GivenName     string    `json:"given_name,omitempty"`
	FamilyName    string    `json:"family_name,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

func viewUser(u store.User) userView {
	return userView{UserID: u.ID, Name: u.Name, IsAdmin: u.IsAdmin, RecoveryEmail: u.RecoveryEmail,
		GivenName: u.GivenName, FamilyName: u.FamilyName, CreatedAt: u.CreatedAt}
}

type syncView struct {
	LastSync     time.Time `json:"last_sync,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	ErrorCount   int       `json:"error_count"`
	FirstErrorAt time.Time `json:"first_error_at,omitzero"`
}

type identityView struct {
	IdentityID     string            `json:"identity_id"`
	UserID         string            `json:"user_id"`
	Type           string            `json:"type"`
	Protocol       string            `json:"protocol"`
	Identifier     string            `json:"identifier"`
	DisplayName    string            `json:"display_name"`
	Status         string            `json:"status"`
	PollInterval   int               `json:"poll_interval,omitempty"` // minutes
	Infos          map[string]string `json:"infos,omitempty"`
	HasCredentials bool              `json:"has_credentials"`
	Sync           *syncView         `json:"sync,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

func viewIdentity(i store.Identity) identityView {
	v := identityView{IdentityID: i.ID, UserID: i.UserID, Type: string(i.Type), Protocol: i.Protocol,
		Identifier: i.Identifier, DisplayName: i.DisplayName, Status: string(i.Status),
		PollInterval: int(i.PollInterval / time.Minute), Infos: i.Infos, HasCredentials: !i.Credentials.IsZero(),
		CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
	if i.Type == store.RemoteIdentity {
		v.Sync = &syncView{LastSync: i.Sync.LastSync, LastError: i.Sync.LastError, ErrorCount: i.Sync.ErrorCount,
			FirstErrorAt: i.Sync.FirstErrorAt}
	}
	return v
}

type contactView struct {
	ContactID  string                 `json:"contact_id"`
	UserID     string                 `json:"user_id"`
	Title      string                 `json:"title,omitempty"`
	GivenName  string                 `json:"given_name,omitempty"`
	FamilyName string                 `json:"family_name,omitempty"`
	Emails     []store.ContactEmail   `json:"emails"`
	Identities []store.SocialIdentity `json:"identities"`
	Phones     []store.Phone          `json:"phones"`
	Tags       []string               `json:"tags"`
	PI         store.PrivacyIndex     `json:"pi"`
	// PrivacyFeatures are what contact-action computed PI from.
	PrivacyFeatures map[string]string `json:"privacy_features"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

func viewContact(c store.Contact) contactView {
	return contactView{ContactID: c.ID, UserID: c.UserID, Title: c.Title, GivenName: c.GivenName,
		FamilyName: c.FamilyName, Emails: nonNil(c.Emails), Identities: nonNil(c.Identities),
		Phones: nonNil(c.Phones), Tags: nonNil(c.Tags), PI: c.PI, PrivacyFeatures: orEmpty(c.PrivacyFeatures),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type keyView struct {
	KeyID       string    `json:"key_id"`
	ContactID   string    `json:"contact_id"`
	Label       string    `json:"label,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	Algorithm   string    `json:"algorithm"`
	Size        int       `json:"size"`
	Emails      []string  `json:"emails"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	Key         string    `json:"key"`
	// Source says where the key came from: api, wkd, dane, hkp, autocrypt.
	Source string `json:"source"`
	// Authenticated: the answer that gave it was authenticated (DNSSEC,
	// verified TLS).
	Authenticated bool      `json:"authenticated"`
	CreatedAt     time.Time `json:"created_at"`
}

func viewKey(k store.PublicKey) keyView {
	return keyView{KeyID: k.ID, ContactID: k.ContactID, Label: k.Label, Fingerprint: k.Fingerprint,
		Algorithm: k.Algorithm, Size: k.Size, Emails: nonNil(k.Emails), ExpiresAt: k.ExpiresAt, Key: k.Armored,
		Source: k.Source, Authenticated: k.Authenticated, CreatedAt: k.CreatedAt}
}

type messageView struct {
	MessageID    string              `json:"message_id"`
	UserID       string              `json:"user_id"`
	DiscussionID string              `json:"discussion_id,omitempty"`
	IdentityIDs  []string            `json:"user_identities"`
	Protocol     string              `json:"protocol"`
	Participants []store.Participant `json:"participants"`
	Subject      string              `json:"subject"`
	BodyPlain    string              `json:"body_plain"`
	BodyHTML     string              `json:"body_html,omitempty"`
	Date         time.Time           `json:"date,omitzero"`
	DateInsert   time.Time           `json:"date_insert"`
	DateSort     time.Time           `json:"date_sort"`
	IsDraft      bool                `json:"is_draft"`
	IsUnread     bool                `json:"is_unread"`
	IsReceived   bool                `json:"is_received"`
	IsAnswered   bool                `json:"is_answered"`
	MessageIDHdr string              `json:"external_message_id,omitempty"`
	InReplyTo    string              `json:"in_reply_to,omitempty"`
	References   []string            `json:"references"`
	Attachments  []store.Attachment  `json:"attachments"`
	HasRaw       bool                `json:"has_raw"`
	Tags         []string            `json:"tags"`
	PI           store.PrivacyIndex  `json:"pi"`
	SendState    string              `json:"send_state,omitempty"`
	SendError    string              `json:"send_error,omitempty"`
	// MessageIDReused: another of the user's messages has this one's
	// Message-ID and other content; one of them is not what it claims.
	MessageIDReused bool `json:"message_id_reused,omitempty"`
}

func viewMessage(m store.Message) messageView {
	return messageView{MessageID: m.ID, UserID: m.UserID, DiscussionID: m.DiscussionID,
		IdentityIDs: nonNil(m.IdentityIDs), Protocol: m.Protocol, Participants: nonNil(m.Participants),
		Subject: m.Subject, BodyPlain: m.BodyPlain, BodyHTML: m.BodyHTML, Date: m.Date, DateInsert: m.DateInsert,
		DateSort: m.DateSort, IsDraft: m.IsDraft, IsUnread: m.IsUnread, IsReceived: m.IsReceived,
		IsAnswered: m.IsAnswered, MessageIDHdr: m.External.MessageID, InReplyTo: m.External.InReplyTo,
		References: nonNil(m.External.References), Attachments: nonNil(m.Attachments), HasRaw: m.RawMsgID != "",
		Tags: nonNil(m.Tags), PI: m.PI, SendState: string(m.SendState), SendError: m.SendError,
		MessageIDReused: m.MessageIDReused}
}

type notificationView struct {
	NotificationID string          `json:"notification_id"`
	Type           string          `json:"type"`
	Emitter        string          `json:"emitter"`
	Reference      string          `json:"reference,omitempty"`
	Body           json.RawMessage `json:"body"`
	CreatedAt      time.Time       `json:"created_at"`
	ExpiresAt      time.Time       `json:"expires_at,omitzero"`
}

func viewNotification(n store.Notification) notificationView {
	body := json.RawMessage(n.Body)
	if !json.Valid(body) {
		body, _ = json.Marshal(n.Body) // a body that is not JSON goes out as a string
	}
	return notificationView{NotificationID: n.ID, Type: n.Type, Emitter: n.Emitter, Reference: n.Reference,
		Body: body, CreatedAt: n.CreatedAt, ExpiresAt: n.ExpiresAt}
}

// mapViews applies view to every item.
func mapViews[T, V any](items []T, view func(T) V) []V {
	out := make([]V, 0, len(items))
	for _, it := range items {
		out = append(out, view(it))
	}
	return out
}

// nonNil returns s, or an empty slice, so that lists encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// orEmpty is m, or an empty map for nil (a JSON object, never null).
func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
