package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Exchange is one message of a user that has one of a set of addresses
// among its participants (AddressExchanges).
type Exchange struct {
	MessageID string
	Address   string    // the matched address, lowercased
	At        time.Time // the message's date, else its sort date
	Received  bool      // the user received it (else the user sent or drafted it)
	From      bool      // the address is the message's From participant
	Draft     bool
	RawMsgID  string // its raw message, "" if none
}

// ContactPrivacy is what contact-action reads and writes.
type ContactPrivacy interface {
	AddressExchanges(ctx context.Context, userID string, addresses []string, limit int) ([]Exchange, error)
	SetContactPrivacy(ctx context.Context, userID, contactID string, pi PrivacyIndex, features map[string]string) error
}

// AddressExchanges returns the messages of user userID that have one of
// addresses (compared lowercased) as a participant, newest first, at most
// limit messages. A message with two of the addresses gives one Exchange
// for each.
//
// Participants are a JSON list on the message, so the query narrows the
// user's messages by a text match on each address and the participants
// are then decoded to confirm it: one pass over the user's messages, the
// same on both dialects.
func (s *SQL) AddressExchanges(ctx context.Context, userID string, addresses []string, limit int) ([]Exchange, error) {
	const op = "address exchanges"
	want := map[string]bool{}
	var likes []string
	args := []any{userID}
	for _, a := range addresses {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" || want[a] {
			continue
		}
		want[a] = true
		likes = append(likes, `LOWER(CAST(participants AS TEXT)) LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(a)+"%")
	}
	if len(want) == 0 || limit <= 0 {
		return nil, nil
	}
	args = append(args, limit)
	rows, err := s.read().query(ctx, `SELECT id, participants, date_at, sort_at, is_received, is_draft, raw_msg_id
		FROM messages WHERE user_id = ? AND (`+strings.Join(likes, " OR ")+`)
		ORDER BY sort_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []Exchange
	for rows.Next() {
		var (
			id, raw           string
			parts             []byte
			date, sortAt      time.Time
			received, isDraft bool
		)
		if err := rows.Scan(&id, &parts, timeCol{&date}, timeCol{&sortAt}, &received, &isDraft, strCol{&raw}); err != nil {
			return nil, s.fail(op, err)
		}
		var ps []Participant
		if err := json.Unmarshal(parts, &ps); err != nil {
			return nil, s.fail(op, err)
		}
		if date.IsZero() {
			date = sortAt
		}
		seen := map[string]bool{}
		for _, p := range ps {
			a := strings.ToLower(strings.TrimSpace(p.Address))
			if !want[a] {
				continue
			}
			from := strings.EqualFold(p.Type, "From")
			if seen[a] && !from {
				continue
			}
			if seen[a] {
				// A From after another role of the same address: say From.
				for i := range out {
					if out[i].MessageID == id && out[i].Address == a {
						out[i].From = true
					}
				}
				continue
			}
			seen[a] = true
			out = append(out, Exchange{MessageID: id, Address: a, At: date, Received: received, From: from,
				Draft: isDraft, RawMsgID: raw})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// likeEscape escapes the LIKE wildcards of s for ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SetContactPrivacy stores the privacy index and features of a contact,
// leaving its other fields alone. An unknown contact gives ErrNotFound.
func (s *SQL) SetContactPrivacy(ctx context.Context, userID, contactID string, pi PrivacyIndex, features map[string]string) error {
	pi.DateUpdate = norm(pi.DateUpdate)
	if err := s.write().one(ctx, `UPDATE contacts SET pi = ?, privacy_features = ?, updated_at = ? WHERE user_id = ? AND id = ?`,
		mustJSON(pi), jsonMap(features), micros(s.stamp()), userID, contactID); err != nil {
		return s.fail("set privacy of contact "+contactID, err)
	}
	return nil
}
