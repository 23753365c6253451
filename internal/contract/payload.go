package contract

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The payload types below carry the seed's JSON field names exactly, in the
// order the seed lists them, so that encoding one gives the seed's bytes.
// Treat them as persisted data: add optional fields only.

// DeliverOrder is the payload of deliver and process_inbound, and of the
// orders handled by twitter-bridge DMmsgHandler. Example:
//
//	{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}
type DeliverOrder struct {
	MessageID string `json:"message_id"`
	Order     string `json:"order"`
	RemoteID  string `json:"remote_id"`
	UserID    string `json:"user_id"`
}

// RemoteOrder is the payload of sync, fullfetch and the worker orders
// (add_worker, reload_worker, remove_worker). Example:
//
//	{"order":"sync","remote_id":"i1","user_id":"u1"}
type RemoteOrder struct {
	Order    string `json:"order"`
	RemoteID string `json:"remote_id"`
	UserID   string `json:"user_id"`
}

// ContactOrder is the payload of contact_update and discover_key. Example:
//
//	{"order":"contact_update","contact_id":"c1","user_id":"u1"}
type ContactOrder struct {
	Order     string `json:"order"`
	ContactID string `json:"contact_id"`
	UserID    string `json:"user_id"`
}

// KeyOrder is the payload of publish_key and delete_key. Example:
//
//	{"key_id":"k1","order":"publish_key","resource_id":"c1","user_id":"u1"}
type KeyOrder struct {
	KeyID      string `json:"key_id"`
	Order      string `json:"order"`
	ResourceID string `json:"resource_id"`
	UserID     string `json:"user_id"`
}

// IdentityOrder is the payload of the identitiesWorker orders. The seed's
// apiv2 emitters send identity_id, order and user_id only; update_interval
// adds poll_intervall (minutes) and protocol. Example:
//
//	{"identity_id":"i1","order":"update_interval","poll_intervall":"15","protocol":"imap","user_id":"u1"}
type IdentityOrder struct {
	IdentityID    string  `json:"identity_id"`
	Order         string  `json:"order"`
	PollIntervall Minutes `json:"poll_intervall,omitempty"`
	Protocol      string  `json:"protocol,omitempty"`
	UserID        string  `json:"user_id"`
}

// Minutes is a polling interval in whole minutes. The seed writes it as a
// JSON string ("15"); a JSON number (15) is accepted too. It encodes as a
// string, as the seed shows.
type Minutes int

// MarshalJSON encodes m as a decimal string.
func (m Minutes) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.Itoa(int(m)))
}

// UnmarshalJSON accepts "15" or 15; anything else is an error.
func (m *Minutes) UnmarshalJSON(b []byte) error {
	n, err := parseMinutes(b)
	if err != nil {
		return err
	}
	*m = Minutes(n)
	return nil
}

func parseMinutes(b []byte) (int, error) {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		s = strings.TrimSpace(s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("want whole minutes, got %s", b)
	}
	if n < 0 {
		return 0, fmt.Errorf("want a positive number of minutes, got %d", n)
	}
	return n, nil
}

// DeliverReply answers deliver (outboundSMTP, outboundIMAP, twitter_dm):
// {"error":false,"message":"..."} on success, {"error":true,...} on failure.
type DeliverReply struct {
	Error   bool   `json:"error"`
	Message string `json:"message"`
}

// InboundReply answers process_inbound (inboundSMTP, inboundTwitter). On
// success it carries message_id and discussion_id and no error key; on failure
// the error key is present (a short code) with a message.
type InboundReply struct {
	Error        string `json:"error,omitempty"`
	Message      string `json:"message"`
	MessageID    string `json:"message_id,omitempty"`
	DiscussionID string `json:"discussion_id,omitempty"`
}

// The messages of a successful process_inbound reply: a message stored now,
// or one the user had already (nothing new stored).
const (
	InboundStored    = "OK : inbound email message proceeded"
	InboundDuplicate = "message already imported for this user"
)

// GetUserID returns the order's user_id; every payload type has one.
func (o *DeliverOrder) GetUserID() string { return o.UserID }

// GetUserID returns the order's user_id.
func (o *RemoteOrder) GetUserID() string { return o.UserID }

// GetUserID returns the order's user_id.
func (o *ContactOrder) GetUserID() string { return o.UserID }

// GetUserID returns the order's user_id.
func (o *KeyOrder) GetUserID() string { return o.UserID }

// GetUserID returns the order's user_id.
func (o *IdentityOrder) GetUserID() string { return o.UserID }
