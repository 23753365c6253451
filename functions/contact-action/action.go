package contactaction

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/storeerr"
)

// Store is what contact-action needs of the store; *store.SQL has it.
type Store interface {
	GetUser(ctx context.Context, id string) (store.User, error)
	GetContact(ctx context.Context, userID, id string) (store.Contact, error)
	ListPublicKeys(ctx context.Context, userID, contactID string) ([]store.PublicKey, error)
	AddressExchanges(ctx context.Context, userID string, addresses []string, limit int) ([]store.Exchange, error)
	SetContactPrivacy(ctx context.Context, userID, contactID string, pi store.PrivacyIndex, features map[string]string) error
}

// Deps are contact-action's dependencies. Store is required.
type Deps struct {
	Store Store
	// Now defaults to time.Now.
	Now func() time.Time
}

type action struct {
	cfg  Config
	deps Deps
}

// New returns the core of contact-action.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil {
		return nil, errors.New("contact-action: a store is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	a := &action{cfg: cfg, deps: deps}
	return a.serve, nil
}

func (a *action) serve(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.ContactOrder)
	if !ok {
		return fnhttp.Result{}, faults.Perm(fmt.Errorf("contact-action: unexpected payload %T", call.Request.Payload))
	}
	if o.Order != contract.OrderContactUpdate {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("contact-action: order %q is not handled", o.Order)),
			contract.CodeUnknownOrder)
	}
	return a.update(ctx, o.UserID, o.ContactID)
}

// update recomputes and stores the privacy of contact contactID.
func (a *action) update(ctx context.Context, userID, contactID string) (fnhttp.Result, error) {
	if _, err := a.deps.Store.GetUser(ctx, userID); err != nil {
		return fnhttp.Result{}, storeerr.Classify("load user "+userID, "unknown_user", err)
	}
	c, err := a.deps.Store.GetContact(ctx, userID, contactID)
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("load contact "+contactID, "unknown_contact", err)
	}
	keys, err := a.deps.Store.ListPublicKeys(ctx, userID, contactID)
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("list keys of contact "+contactID, "unknown_contact", err)
	}
	addrs := make([]string, 0, len(c.Emails))
	for _, e := range c.Emails {
		addrs = append(addrs, e.Address)
	}
	exchanges, err := a.deps.Store.AddressExchanges(ctx, userID, addrs, a.cfg.MaxMessages)
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("count messages of contact "+contactID, "unknown_contact", err)
	}
	now := a.deps.Now()
	pi, features := compute(c, exchanges, keys, now)
	stored := c.PI
	stored.DateUpdate = time.Time{}
	if stored == pi && maps.Equal(c.PrivacyFeatures, features) {
		return fnhttp.Result{Message: "privacy of contact " + contactID + " unchanged"}, nil
	}
	pi.DateUpdate = now
	if err := a.deps.Store.SetContactPrivacy(ctx, userID, contactID, pi, features); err != nil {
		return fnhttp.Result{}, storeerr.Classify("store privacy of contact "+contactID, "unknown_contact", err)
	}
	return fnhttp.Result{Message: fmt.Sprintf("privacy of contact %s updated: technic %d, comportment %d, context %d",
		contactID, pi.Technic, pi.Comportment, pi.Context)}, nil
}
