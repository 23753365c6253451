package store

import "time"

// SendState is where a draft stands in the outbox.
type SendState string

// Send states. A received message has none. A draft moves draft → sending →
// sent, or sending → failed → (edited or retried) sending.
const (
	SendNone    SendState = ""
	SendDraft   SendState = "draft"
	SendSending SendState = "sending"
	SendSent    SendState = "sent"
	SendFailed  SendState = "failed"
)

// Message is a received message or a draft (which becomes a sent message).
// Simplified from the original: one row per (user, message) with the
// Message-ID and content unique per user (the original's
// message_external_ref_lookup kept the Message-ID alone),
// no date_delete (deleting deletes), and the outbox state of drafts kept on
// the message itself.
type Message struct {
	ID           string
	UserID       string
	DiscussionID string   // "" when not attached to a discussion
	IdentityIDs  []string // the first one received or sends the message
	Protocol     string   // ProtocolEmail, ...
	Participants []Participant
	Subject      string
	BodyPlain    string
	BodyHTML     string
	Date         time.Time // the Date header, or the send time of a sent draft
	DateInsert   time.Time // set by the store
	// DateSort orders lists: arrival time for received messages, last
	// change for drafts, send time once sent. Zero means now.
	DateSort    time.Time
	IsDraft     bool
	IsUnread    bool
	IsReceived  bool
	IsAnswered  bool
	Importance  int
	External    ExternalRefs
	Attachments []Attachment
	RawMsgID    string // the raw message this one was parsed from, or sent as
	Tags        []string
	PI          PrivacyIndex
	Features    map[string]string // privacy features, as the original's privacy_features
	SendState   SendState
	SendError   string    // why the last send failed
	SendStarted time.Time // start of the current or last send
	// SendRawID is the raw message id of the current send attempt's
	// sent copy, while sending (see Attempted).
	SendRawID string
	UpdatedAt time.Time
	// ContentHash identifies a received message's content (the receiver
	// computes it; "" matches any content): with the Message-ID, it tells
	// a copy of a stored mail from another mail under the same id.
	ContentHash string
	// MessageIDReused marks received messages of a user that share their
	// Message-ID with another of the user's messages of other content: one
	// of them at least is not what its id claims.
	MessageIDReused bool
}

// Participant is one address of a message.
type Participant struct {
	Type       string   `json:"type"` // From, To, Cc, Bcc, Reply-To, Sender, List-ID
	Address    string   `json:"address"`
	Label      string   `json:"label,omitempty"`
	Protocol   string   `json:"protocol,omitempty"`
	ContactIDs []string `json:"contact_ids,omitempty"`
	// ID is the account's id in its protocol when it is not the address
	// (an X user id beside the username).
	ID string `json:"id,omitempty"`
}

// ExternalRefs are the message's references in its protocol.
type ExternalRefs struct {
	MessageID  string   // Message-ID, without angle brackets; the dedup key
	InReplyTo  string   // In-Reply-To (the original's parent_id)
	References []string // References (the original's ancestors_ids)
}

// Attachment describes one attachment; its bytes are in the blob store.
type Attachment struct {
	ContentType  string `json:"content_type"`
	FileName     string `json:"file_name,omitempty"`
	IsInline     bool   `json:"is_inline,omitempty"`
	Size         int64  `json:"size"`
	BlobKey      string `json:"blob_key,omitempty"`
	MIMEBoundary string `json:"mime_boundary,omitempty"`
	// URL is where the bytes are when they are not in the blob store (an
	// X direct message's media).
	URL string `json:"url,omitempty"`
}

// PrivacyIndex is Caliopen's privacy index (PI) of a message or contact.
type PrivacyIndex struct {
	Technic     int       `json:"technic"`
	Comportment int       `json:"comportment"`
	Context     int       `json:"context"`
	Version     int       `json:"version"`
	DateUpdate  time.Time `json:"date_update,omitzero"`
}

// MessageFilter narrows ListMessages; zero fields match everything.
type MessageFilter struct {
	DiscussionID string
	IsDraft      *bool
	IsUnread     *bool
}

// MessageFlags changes the flags a user sets; nil fields stay as they are.
type MessageFlags struct {
	IsUnread   *bool
	IsAnswered *bool
}

// SentInfo is what MarkSent records about a sent draft.
type SentInfo struct {
	MessageID string    // the Message-ID it was sent with
	RawMsgID  string    // the raw message stored for it, "" if none
	Date      time.Time // send time; zero means now
	// Raw, when set, is the record of that raw message (its ID is
	// RawMsgID): MarkSent writes it in its transaction, as PutRaw would
	// (an existing record is kept).
	Raw *RawMessage
	// DiscussionID, when set, is the discussion the sent message joins
	// (a direct message's conversation).
	DiscussionID string
}

// SendAttempt is what BeginSend records of a send: the raw message id its
// sent copy will be stored under and the Date it is sent with.
type SendAttempt struct {
	RawMsgID string
	Date     time.Time // zero means now
}
