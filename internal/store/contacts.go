package store

import (
	"context"
	"strings"
	"time"
)

// Contact is an entry of a user's address book. Simplified from the
// original: no ims, postal addresses or organizations yet, and the
// participant lookup (the original's contact_lookup) is kept in step by the
// store rather than by the callers.
type Contact struct {
	ID         string
	UserID     string
	Title      string // display name
	GivenName  string
	FamilyName string
	Emails     []ContactEmail
	Identities []SocialIdentity
	Phones     []Phone
	Tags       []string
	PI         PrivacyIndex
	// PrivacyFeatures are what PI was computed from (contact-action's
	// message_day_total, public_key_best_size, ...); only
	// SetContactPrivacy writes them.
	PrivacyFeatures map[string]string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ContactEmail is an e-mail address of a contact.
type ContactEmail struct {
	Address   string `json:"address"`
	Label     string `json:"label,omitempty"`
	Type      string `json:"type,omitempty"` // home, work, other
	IsPrimary bool   `json:"is_primary,omitempty"`
}

// SocialIdentity is an account of a contact on a network (twitter,
// mastodon, ...).
type SocialIdentity struct {
	Type  string            `json:"type"`
	Name  string            `json:"name"`
	Infos map[string]string `json:"infos,omitempty"`
}

// Phone is a phone number of a contact.
type Phone struct {
	Number    string `json:"number"`
	Type      string `json:"type,omitempty"`
	IsPrimary bool   `json:"is_primary,omitempty"`
}

// Lookup kinds of FindContacts: "email", "phone", or a social identity's
// type ("twitter", ...).
const (
	LookupEmail = "email"
	LookupPhone = "phone"
)

// Contacts manages address books.
type Contacts interface {
	CreateContact(ctx context.Context, c Contact, orders ...Order) (Contact, error)
	GetContact(ctx context.Context, userID, id string) (Contact, error)
	UpdateContact(ctx context.Context, c Contact, orders ...Order) (Contact, error)
	DeleteContact(ctx context.Context, userID, id string) error
	ListContacts(ctx context.Context, userID string, p Page) ([]Contact, string, error)
	FindContacts(ctx context.Context, userID, kind, value string) ([]Contact, error)
}

const contactCols = `id, user_id, title, given_name, family_name, sort_key, emails, identities, phones, tags, pi,
	created_at, updated_at, privacy_features`

func scanContact(r scanner) (Contact, error) {
	var c Contact
	var sortKey string
	err := r.Scan(&c.ID, &c.UserID, &c.Title, &c.GivenName, &c.FamilyName, &sortKey, jsonCol{&c.Emails},
		jsonCol{&c.Identities}, jsonCol{&c.Phones}, jsonCol{&c.Tags}, jsonCol{&c.PI},
		timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}, jsonCol{&c.PrivacyFeatures})
	return c, err
}

// sortKey orders address books: the title, else the names, else the first
// address, lowercased.
func (c *Contact) sortKey() string {
	k := c.Title
	if k == "" {
		k = strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	}
	if k == "" && len(c.Emails) > 0 {
		k = c.Emails[0].Address
	}
	return strings.ToLower(k)
}

// lookups returns the (kind, value) pairs under which FindContacts finds c.
func (c *Contact) lookups() [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	add := func(kind, value string) {
		k := [2]string{kind, strings.ToLower(strings.TrimSpace(value))}
		if k[1] != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, e := range c.Emails {
		add(LookupEmail, e.Address)
	}
	for _, p := range c.Phones {
		add(LookupPhone, p.Number)
	}
	for _, i := range c.Identities {
		add(strings.ToLower(i.Type), i.Name)
	}
	return out
}

// writeLookups replaces the lookup rows of c.
func writeLookups(ctx context.Context, cn conn, c *Contact) error {
	if _, err := cn.exec(ctx, `DELETE FROM contact_lookup WHERE user_id = ? AND contact_id = ?`, c.UserID, c.ID); err != nil {
		return err
	}
	for _, l := range c.lookups() {
		if _, err := cn.exec(ctx, `INSERT INTO contact_lookup (user_id, kind, value, contact_id) VALUES (?, ?, ?, ?)`,
			c.UserID, l[0], l[1], c.ID); err != nil {
			return err
		}
	}
	return nil
}

// CreateContact stores a new contact, with the orders that announce it
// (see Order); an empty ID gets a fresh one. Repeating the call with the
// same ID returns the stored contact (and stores no second order).
func (s *SQL) CreateContact(ctx context.Context, c Contact, orders ...Order) (Contact, error) {
	const op = "create contact"
	if c.UserID == "" {
		return Contact{}, invalid(op, "user id is required")
	}
	if err := checkOrders(op, orders); err != nil {
		return Contact{}, err
	}
	c.ID = orNewID(c.ID)
	now := s.stamp()
	c.CreatedAt, c.UpdatedAt = now, now
	c.PI.DateUpdate = norm(c.PI.DateUpdate)
	err := s.tx(ctx, func(cn conn) error {
		_, err := cn.exec(ctx, `INSERT INTO contacts (`+contactCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.UserID, c.Title, c.GivenName, c.FamilyName, c.sortKey(), jsonList(c.Emails),
			jsonList(c.Identities), jsonList(c.Phones), jsonList(c.Tags), mustJSON(c.PI), micros(now), micros(now),
			jsonMap(c.PrivacyFeatures))
		if err != nil {
			return err
		}
		if err := writeLookups(ctx, cn, &c); err != nil {
			return err
		}
		return s.insertOrders(ctx, cn, orders)
	})
	if err != nil {
		return repeated(s.fail(op, err), func() (Contact, error) { return s.GetContact(ctx, c.UserID, c.ID) },
			func(Contact) bool { return true })
	}
	return c, nil
}

// GetContact returns contact id of user userID.
func (s *SQL) GetContact(ctx context.Context, userID, id string) (Contact, error) {
	return first(ctx, s, "get contact "+id, scanContact,
		`SELECT `+contactCols+` FROM contacts WHERE user_id = ? AND id = ?`,
		userID, id)
}

// UpdateContact replaces every field of contact c.ID but its dates and
// privacy features, and stores orders with the change.
func (s *SQL) UpdateContact(ctx context.Context, c Contact, orders ...Order) (Contact, error) {
	op := "update contact " + c.ID
	if err := checkOrders(op, orders); err != nil {
		return Contact{}, err
	}
	c.PI.DateUpdate = norm(c.PI.DateUpdate)
	err := s.tx(ctx, func(cn conn) error {
		err := cn.one(ctx, `UPDATE contacts SET title = ?, given_name = ?, family_name = ?, sort_key = ?, emails = ?,
			identities = ?, phones = ?, tags = ?, pi = ?, updated_at = ? WHERE user_id = ? AND id = ?`,
			c.Title, c.GivenName, c.FamilyName, c.sortKey(), jsonList(c.Emails), jsonList(c.Identities),
			jsonList(c.Phones), jsonList(c.Tags), mustJSON(c.PI), micros(s.stamp()), c.UserID, c.ID)
		if err != nil {
			return err
		}
		if err := writeLookups(ctx, cn, &c); err != nil {
			return err
		}
		return s.insertOrders(ctx, cn, orders)
	})
	if err != nil {
		return Contact{}, s.fail(op, err)
	}
	return s.GetContact(ctx, c.UserID, c.ID)
}

// DeleteContact deletes a contact and its public keys. The user's own
// contact (User.ContactID) cannot be deleted: ErrConflict.
func (s *SQL) DeleteContact(ctx context.Context, userID, id string) error {
	op := "delete contact " + id
	var own int
	if err := s.read().row(ctx, `SELECT COUNT(*) FROM users WHERE id = ? AND contact_id = ?`, userID, id).Scan(&own); err != nil {
		return s.fail(op, err)
	}
	if own > 0 {
		return conflict(op, "it is the user's own contact")
	}
	if err := s.write().one(ctx, `DELETE FROM contacts WHERE user_id = ? AND id = ?`, userID, id); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// ListContacts lists the contacts of user userID by title.
func (s *SQL) ListContacts(ctx context.Context, userID string, p Page) ([]Contact, string, error) {
	return list(ctx, s.read(), s, p, listQuery[Contact]{
		op:     "list contacts",
		query:  `SELECT ` + contactCols + ` FROM contacts WHERE user_id = ?`,
		args:   []any{userID},
		after:  `(sort_key, id) > (?, ?)`,
		order:  `ORDER BY sort_key, id`,
		scan:   scanContact,
		cursor: func(c Contact) string { return encodeCursor(c.sortKey(), c.ID) },
	})
}

// FindContacts returns the contacts of user userID that have value (compared
// lowercased) as an address of this kind: LookupEmail, LookupPhone or a
// social identity type. It resolves message participants to contacts.
func (s *SQL) FindContacts(ctx context.Context, userID, kind, value string) ([]Contact, error) {
	return findContacts(ctx, s.read(), s, userID, kind, value)
}

func findContacts(ctx context.Context, c conn, s *SQL, userID, kind, value string) ([]Contact, error) {
	return allOn(ctx, c, s, "find contacts", scanContact, `SELECT `+prefixed("c.", contactCols)+` FROM contacts c
		JOIN contact_lookup l ON l.user_id = c.user_id AND l.contact_id = c.id
		WHERE l.user_id = ? AND l.kind = ? AND l.value = ? ORDER BY c.sort_key, c.id`,
		userID, strings.ToLower(kind), strings.ToLower(strings.TrimSpace(value)))
}
