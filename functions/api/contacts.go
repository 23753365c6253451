package api

import (
	"net/http"
	"strings"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// maxListItems bounds the lists of a contact (addresses, identities,
// phones, tags).
const maxListItems = 100

type contactRequest struct {
	Title      *string                 `json:"title"`
	GivenName  *string                 `json:"given_name"`
	FamilyName *string                 `json:"family_name"`
	Emails     *[]store.ContactEmail   `json:"emails"`
	Identities *[]store.SocialIdentity `json:"identities"`
	Phones     *[]store.Phone          `json:"phones"`
	Tags       *[]string               `json:"tags"`
}

// empty reports whether the request sets no field.
func (in *contactRequest) empty() bool {
	return in.Title == nil && in.GivenName == nil && in.FamilyName == nil && in.Emails == nil &&
		in.Identities == nil && in.Phones == nil && in.Tags == nil
}

// apply sets the fields present in the request on ct, noting problems.
func (in *contactRequest) apply(p *problems, ct *store.Contact) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&ct.Title, in.Title)
	set(&ct.GivenName, in.GivenName)
	set(&ct.FamilyName, in.FamilyName)
	if in.Emails != nil {
		ct.Emails = *in.Emails
		for i, e := range ct.Emails {
			if err := accounts.CheckAddress(strings.TrimSpace(e.Address)); err != nil {
				p.bad("emails[%d].address: %v", i, err)
			}
			ct.Emails[i].Address = strings.TrimSpace(e.Address)
		}
	}
	if in.Identities != nil {
		ct.Identities = *in.Identities
		for i, id := range ct.Identities {
			if strings.TrimSpace(id.Type) == "" || strings.TrimSpace(id.Name) == "" {
				p.bad("identities[%d]: type and name are required", i)
			}
		}
	}
	if in.Phones != nil {
		ct.Phones = *in.Phones
		for i, ph := range ct.Phones {
			if strings.TrimSpace(ph.Number) == "" {
				p.bad("phones[%d].number is required", i)
			}
		}
	}
	if in.Tags != nil {
		ct.Tags = *in.Tags
	}
	if len(ct.Emails) > maxListItems || len(ct.Identities) > maxListItems || len(ct.Phones) > maxListItems ||
		len(ct.Tags) > maxListItems {
		p.bad("a contact holds at most %d emails, identities, phones and tags each", maxListItems)
	}
}

// named reports whether ct has something to be known by.
func named(ct store.Contact) bool {
	return ct.Title != "" || ct.GivenName != "" || ct.FamilyName != "" || len(ct.Emails) > 0 ||
		len(ct.Identities) > 0 || len(ct.Phones) > 0
}

// createContact stores a contact and publishes contact_update, then
// discover_key when it has addresses or identities.
func (s *server) createContact(w http.ResponseWriter, c *call) error {
	var in contactRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	var p problems
	ct := store.Contact{UserID: c.user.ID}
	in.apply(&p, &ct)
	if len(p.invalid) == 0 && !named(ct) {
		return badRequest("missing_field",
			`a contact needs one of "title", "given_name", "family_name", "emails", "identities", "phones"`)
	}
	if err := p.err(); err != nil {
		return err
	}
	ct.ID = c.newID()
	o, err := s.contactOrder(c, contract.SubjectContactAction, contract.OrderContactUpdate, ct.ID)
	if err != nil {
		return err
	}
	orders := []store.Order{o}
	if len(ct.Emails) > 0 || len(ct.Identities) > 0 {
		d, err := s.contactOrder(c, contract.SubjectKeyAction, contract.OrderDiscoverKey, ct.ID)
		if err != nil {
			return err
		}
		orders = append(orders, d)
	}
	if ct, err = s.st.CreateContact(c.ctx, ct, orders...); err != nil {
		return storeError("contact", err)
	}
	s.send(c, orders...)
	return reply(w, http.StatusCreated, viewContact(ct))
}

// listContacts lists the caller's contacts, a page at a time.
func (s *server) listContacts(w http.ResponseWriter, c *call) error {
	return listed(w, c, "contacts", viewContact, func(p store.Page) ([]store.Contact, string, error) {
		return s.st.ListContacts(c.ctx, c.user.ID, p)
	})
}

// contactOf returns the caller's contact named by the path.
func (s *server) contactOf(c *call) (store.Contact, error) {
	ct, err := s.st.GetContact(c.ctx, c.user.ID, c.r.PathValue("id"))
	if err != nil {
		return store.Contact{}, storeError("contact", err)
	}
	return ct, nil
}

// getContact returns one contact.
func (s *server) getContact(w http.ResponseWriter, c *call) error {
	ct, err := s.contactOf(c)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, viewContact(ct))
}

// patchContact changes a contact and publishes contact_update, then
// discover_key when its e-mail addresses or identities changed.
func (s *server) patchContact(w http.ResponseWriter, c *call) error {
	var in contactRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	if in.empty() {
		return badRequest("missing_field", `nothing to change: give one of "title", "given_name", "family_name", `+
			`"emails", "identities", "phones", "tags"`)
	}
	ct, err := s.contactOf(c)
	if err != nil {
		return err
	}
	var p problems
	before := addresses(ct)
	in.apply(&p, &ct)
	if len(p.invalid) == 0 && !named(ct) {
		p.bad("a contact keeps one of title, given_name, family_name, emails, identities, phones")
	}
	if err := p.err(); err != nil {
		return err
	}
	o, err := s.contactOrder(c, contract.SubjectContactAction, contract.OrderContactUpdate, ct.ID)
	if err != nil {
		return err
	}
	orders := []store.Order{o}
	if addresses(ct) != before {
		d, err := s.contactOrder(c, contract.SubjectKeyAction, contract.OrderDiscoverKey, ct.ID)
		if err != nil {
			return err
		}
		orders = append(orders, d)
	}
	if ct, err = s.st.UpdateContact(c.ctx, ct, orders...); err != nil {
		return storeError("contact", err)
	}
	s.send(c, orders...)
	return reply(w, http.StatusOK, viewContact(ct))
}

// addresses describes the e-mail addresses and identities of ct, whose
// change starts a key discovery (as the original's PatchContact did).
func addresses(ct store.Contact) string {
	var b strings.Builder
	for _, e := range ct.Emails {
		b.WriteString(strings.ToLower(e.Address) + "\n")
	}
	b.WriteString("\n")
	for _, id := range ct.Identities {
		b.WriteString(strings.ToLower(id.Type) + "\x00" + id.Name + "\n")
	}
	return b.String()
}

// deleteContact removes a contact and its keys. No order: the seed has
// none for it.
func (s *server) deleteContact(w http.ResponseWriter, c *call) error {
	if err := s.st.DeleteContact(c.ctx, c.user.ID, c.r.PathValue("id")); err != nil {
		return storeError("contact", err)
	}
	return noContent(w)
}

type actionsRequest struct {
	Actions []string `json:"actions"`
}

// actions reads {"actions":[one of allowed]}: exactly one action.
func (s *server) actions(w http.ResponseWriter, c *call, allowed ...string) (string, error) {
	var in actionsRequest
	if err := s.decode(w, c, &in); err != nil {
		return "", err
	}
	if len(in.Actions) == 0 {
		return "", badRequest("missing_field", `missing field "actions": want ["%s"]`, strings.Join(allowed, `"] or ["`))
	}
	if len(in.Actions) > 1 {
		return "", badRequest("invalid_field", "give one action at a time")
	}
	for _, a := range allowed {
		if in.Actions[0] == a {
			return a, nil
		}
	}
	return "", badRequest("unknown_action", "unknown action: want one of %s", strings.Join(allowed, ", "))
}

// contactActions runs an action on a contact: {"actions":["discover_key"]}
// publishes discover_key (the original's launchKeyDiscovery).
func (s *server) contactActions(w http.ResponseWriter, c *call) error {
	action, err := s.actions(w, c, contract.OrderDiscoverKey)
	if err != nil {
		return err
	}
	ct, err := s.contactOf(c)
	if err != nil {
		return err
	}
	o, err := s.contactOrder(c, contract.SubjectKeyAction, action, ct.ID)
	if err != nil {
		return err
	}
	if err := s.st.EnqueueOrders(c.ctx, o); err != nil {
		return storeError("order", err)
	}
	s.send(c, o)
	return reply(w, http.StatusAccepted, map[string]any{"contact_id": ct.ID, "queued": []string{action}})
}
