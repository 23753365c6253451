package keyaction

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/storeerr"
)

// Store is what key-action needs of the store; *store.SQL has it.
type Store interface {
	GetUser(ctx context.Context, id string) (store.User, error)
	GetContact(ctx context.Context, userID, id string) (store.Contact, error)
	ListIdentities(ctx context.Context, userID string, f store.IdentityFilter) ([]store.Identity, error)
	PublicKeyFingerprints(ctx context.Context, userID string) ([]string, error)
	GetPublicKey(ctx context.Context, userID, id string) (store.PublicKey, error)
	UpsertPublicKey(ctx context.Context, k store.PublicKey, orders ...func(store.PublicKey) store.Order) (store.PublicKey, error)
	AddressExchanges(ctx context.Context, userID string, addresses []string, limit int) ([]store.Exchange, error)
	GetRaw(ctx context.Context, id string) (store.RawMessage, error)
	PublishWKD(ctx context.Context, keys []store.WKDKey) error
	WithdrawWKD(ctx context.Context, userID, keyID string) (int, error)
}

// Blobs reads raw messages.
type Blobs interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// Emitter publishes orders (internal/emit's Emitter).
type Emitter interface {
	Publish(ctx context.Context, subject string, payload any) error
}

// Deps are key-action's dependencies; every field but Now is required.
type Deps struct {
	Store   Store
	Blobs   Blobs
	Emitter Emitter
	Logger  *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Bounds of the Autocrypt source: the received messages whose headers are
// read per address, and the bytes read of each.
const (
	autocryptMessages  = 10
	autocryptHeaderMax = 256 << 10
)

type action struct {
	cfg    Config
	deps   Deps
	disc   *keydiscovery.Discoverer
	client *http.Client
}

// New returns the core of key-action.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil || deps.Blobs == nil || deps.Emitter == nil || deps.Logger == nil {
		return nil, errors.New("key-action: store, blobs, emitter and logger are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	var resolver *net.Resolver
	if cfg.DNSServer != "" {
		server := cfg.DNSServer
		resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}}
	}
	if cfg.GuardWarning != "" {
		deps.Logger.Warn(cfg.GuardWarning, "setting", netguard.EnvLegacyAllowPrivate)
	}
	client := cfg.Guard.Client(netguard.ClientConfig{Timeout: cfg.Timeout, MaxRedirects: 3, RootCAs: cfg.RootCAs, Resolver: resolver})
	var sources, fallback []keydiscovery.Source
	for _, s := range cfg.Sources {
		switch s {
		case store.KeySourceWKD:
			sources = append(sources, &keydiscovery.WKD{Client: client, Resolver: resolver, Port: cfg.WKDPort,
				MaxBytes: int64(cfg.MaxBytes)})
		case store.KeySourceDANE:
			sources = append(sources, &keydiscovery.DANE{Server: cfg.DNSServer, Timeout: cfg.Timeout, MaxBytes: cfg.MaxBytes})
		case store.KeySourceHKP:
			for _, u := range cfg.HKPServers {
				fallback = append(fallback, &keydiscovery.HKP{Client: client, URL: u, MaxBytes: int64(cfg.MaxBytes), MaxKeys: 8})
			}
		}
	}
	a := &action{cfg: cfg, deps: deps, client: client, disc: &keydiscovery.Discoverer{Sources: sources,
		Fallback: fallback, Timeout: cfg.Timeout, Limits: keydiscovery.Limits{MaxBytes: cfg.MaxBytes, MaxKeys: 16}, Now: deps.Now}}
	return a.serve, nil
}

func (a *action) serve(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	switch o := call.Request.Payload.(type) {
	case *contract.ContactOrder:
		if o.Order == contract.OrderDiscoverKey {
			return a.discover(ctx, o)
		}
	case *contract.KeyOrder:
		switch o.Order {
		case contract.OrderPublishKey:
			return a.publish(ctx, o)
		case contract.OrderDeleteKey:
			return a.delete(ctx, o)
		}
	default:
		return fnhttp.Result{}, faults.Perm(fmt.Errorf("key-action: unexpected payload %T", call.Request.Payload))
	}
	return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("key-action: order not handled")), contract.CodeUnknownOrder)
}

// discover looks the contact's keys up, stores the new ones and publishes
// contact_update.
func (a *action) discover(ctx context.Context, o *contract.ContactOrder) (fnhttp.Result, error) {
	if _, err := a.deps.Store.GetUser(ctx, o.UserID); err != nil {
		return fnhttp.Result{}, storeerr.Classify("load user "+o.UserID, "unknown_user", err)
	}
	c, err := a.deps.Store.GetContact(ctx, o.UserID, o.ContactID)
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("load contact "+o.ContactID, "unknown_contact", err)
	}
	known, err := a.deps.Store.PublicKeyFingerprints(ctx, o.UserID)
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("list keys", "unknown_user", err)
	}
	fprs := make(map[string]bool, len(known))
	for _, f := range known {
		fprs[f] = true
	}
	var addrs []string
	seen := map[string]bool{}
	for _, e := range c.Emails {
		if l := strings.ToLower(e.Address); !seen[l] {
			seen[l] = true
			addrs = append(addrs, e.Address)
		}
	}
	var extra []keydiscovery.Source
	if a.cfg.has(store.KeySourceAutocrypt) {
		extra = append(extra, &keydiscovery.Autocrypt{Mail: a.received(o.UserID), Now: a.deps.Now})
	}
	res := a.disc.Discover(ctx, addrs, fprs, extra...)
	log := a.deps.Logger.With("user_id", o.UserID, "order", o.Order)
	for _, e := range res.Errors {
		log.Info("key lookup failed", "source", e.Source, "err", e.Err.Error())
	}
	for _, e := range res.Refused {
		log.Info("key refused", "source", e.Source, "err", e.Err.Error())
	}
	for _, e := range res.Ended {
		log.Info("key discovery ended by the domain's WKD", "source", e.Source, "address", e.Address, "err", e.Err.Error())
	}
	for _, k := range res.Keys {
		label := k.Name
		if label == "" {
			label = fmt.Sprintf("%s %d", k.Algorithm, k.Size)
		}
		if _, err := a.deps.Store.UpsertPublicKey(ctx, store.PublicKey{UserID: o.UserID, ContactID: c.ID, Label: label,
			Fingerprint: k.Fingerprint, Armored: k.Armored, Algorithm: k.Algorithm, Size: k.Size, Emails: k.Emails,
			ExpiresAt: k.ExpiresAt, Source: k.Source, Authenticated: k.Authenticated}); err != nil {
			return fnhttp.Result{}, storeerr.Classify("store key "+k.Fingerprint, "unknown_contact", err)
		}
	}
	if err := a.deps.Emitter.Publish(ctx, contract.SubjectContactAction,
		contract.ContactOrder{Order: contract.OrderContactUpdate, ContactID: c.ID, UserID: o.UserID}); err != nil {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("publish contact_update: %w", err)), "order_not_queued")
	}
	return fnhttp.Result{Message: fmt.Sprintf("contact %s: %d keys found for %d addresses (%d lookups failed, %d keys refused, "+
		"%d addresses ended by their domain's WKD)", c.ID, len(res.Keys), len(addrs), len(res.Errors), len(res.Refused), len(res.Ended))}, nil
}

// received returns the Autocrypt source's reader of the headers of the
// newest messages the user received from an address.
func (a *action) received(userID string) func(ctx context.Context, addr string) ([]keydiscovery.MailHeaders, error) {
	return func(ctx context.Context, addr string) ([]keydiscovery.MailHeaders, error) {
		ex, err := a.deps.Store.AddressExchanges(ctx, userID, []string{addr}, 4*autocryptMessages)
		if err != nil {
			return nil, err
		}
		var out []keydiscovery.MailHeaders
		for _, e := range ex {
			if !e.Received || !e.From || e.RawMsgID == "" || len(out) == autocryptMessages {
				continue
			}
			h, err := a.headers(ctx, e)
			if err != nil {
				return out, err
			}
			out = append(out, h)
		}
		return out, nil
	}
}

// headers reads the From, Date and Autocrypt headers of a received
// message's raw form (its header only, bounded).
func (a *action) headers(ctx context.Context, e store.Exchange) (keydiscovery.MailHeaders, error) {
	raw, err := a.deps.Store.GetRaw(ctx, e.RawMsgID)
	if err != nil {
		return keydiscovery.MailHeaders{}, fmt.Errorf("raw message %s: %w", e.RawMsgID, err)
	}
	rc, err := a.deps.Blobs.Get(ctx, raw.BlobKey)
	if err != nil {
		return keydiscovery.MailHeaders{}, fmt.Errorf("raw message %s: %w", e.RawMsgID, err)
	}
	defer rc.Close()
	m, err := mail.ReadMessage(io.LimitReader(rc, autocryptHeaderMax))
	if err != nil {
		return keydiscovery.MailHeaders{}, nil // an unreadable header carries no usable Autocrypt header
	}
	h := keydiscovery.MailHeaders{Date: e.At, Autocrypt: m.Header["Autocrypt"]}
	if from, err := mail.ParseAddressList(m.Header.Get("From")); err == nil && len(from) == 1 {
		h.From = from[0].Address
	}
	if d, err := m.Header.Date(); err == nil {
		h.Date = d
	}
	return h, nil
}

// publish publishes a key of the user's own contact on the hosted WKD and
// the upload keyservers.
func (a *action) publish(ctx context.Context, o *contract.KeyOrder) (fnhttp.Result, error) {
	u, err := a.deps.Store.GetUser(ctx, o.UserID)
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("load user "+o.UserID, "unknown_user", err)
	}
	k, err := a.deps.Store.GetPublicKey(ctx, o.UserID, o.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return fnhttp.Result{Message: "key " + o.KeyID + " is gone; nothing to publish"}, nil
	}
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("load key "+o.KeyID, "unknown_key", err)
	}
	locals, err := a.deps.Store.ListIdentities(ctx, o.UserID, store.IdentityFilter{Type: store.LocalIdentity})
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("list identities", "unknown_user", err)
	}
	own := map[string]bool{}
	for _, id := range locals {
		own[strings.ToLower(id.Identifier)] = true
	}
	mine, err := a.ownContact(ctx, u, k.ContactID, own)
	if err != nil {
		return fnhttp.Result{}, err
	}
	if !mine {
		a.deps.Logger.Info("key of another contact not published", "user_id", o.UserID, "order", o.Order, "key_id", k.ID)
		return fnhttp.Result{Message: "key " + k.ID + " belongs to a contact, not to the user: not published"}, nil
	}
	data, err := keydiscovery.Binary(k.Armored)
	if err != nil {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("key %s: stored armor: %w", k.ID, err)), "invalid_key")
	}
	var entries []store.WKDKey
	for _, addr := range k.Emails {
		local, domain, ok := keydiscovery.SplitAddress(addr)
		if !ok || !own[strings.ToLower(addr)] {
			continue
		}
		entries = append(entries, store.WKDKey{Domain: domain, LocalHash: keydiscovery.WKDHash(local), KeyID: k.ID,
			UserID: o.UserID, Address: addr, Fingerprint: k.Fingerprint, Data: data})
	}
	if len(entries) > 0 {
		if err := a.deps.Store.PublishWKD(ctx, entries); err != nil {
			return fnhttp.Result{}, storeerr.Classify("publish key "+k.ID, "unknown_key", err)
		}
	}
	for _, server := range a.cfg.HKPUpload {
		if err := a.upload(ctx, server, k.Armored); err != nil {
			return fnhttp.Result{}, fnhttp.WithCode(faults.Temp(err), "keyserver_unavailable")
		}
	}
	return fnhttp.Result{Message: fmt.Sprintf("key %s published on the hosted WKD for %d addresses and on %d keyservers",
		k.ID, len(entries), len(a.cfg.HKPUpload))}, nil
}

// ownContact says whether contact contactID is the user's own: the
// user's contact (User.ContactID), or a contact that has one of the
// user's local addresses (own), which only the user can hold.
func (a *action) ownContact(ctx context.Context, u store.User, contactID string, own map[string]bool) (bool, error) {
	if contactID == "" {
		return false, nil
	}
	if contactID == u.ContactID {
		return true, nil
	}
	c, err := a.deps.Store.GetContact(ctx, u.ID, contactID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeerr.Classify("load contact "+contactID, "unknown_contact", err)
	}
	for _, e := range c.Emails {
		if own[strings.ToLower(strings.TrimSpace(e.Address))] {
			return true, nil
		}
	}
	return false, nil
}

// upload sends an armored key to a keyserver's /pks/add.
func (a *action) upload(ctx context.Context, server, armored string) error {
	base, err := keydiscovery.BaseURL(server)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/pks/add",
		strings.NewReader(url.Values{"keytext": {armored}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("upload key to %s: %w", base, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upload key to %s: status %d", base, resp.StatusCode)
	}
	return nil
}

// delete withdraws a key from the hosted WKD.
func (a *action) delete(ctx context.Context, o *contract.KeyOrder) (fnhttp.Result, error) {
	if _, err := a.deps.Store.GetUser(ctx, o.UserID); err != nil {
		return fnhttp.Result{}, storeerr.Classify("load user "+o.UserID, "unknown_user", err)
	}
	n, err := a.deps.Store.WithdrawWKD(ctx, o.UserID, o.KeyID)
	if err != nil {
		return fnhttp.Result{}, storeerr.Classify("withdraw key "+o.KeyID, "unknown_key", err)
	}
	return fnhttp.Result{Message: fmt.Sprintf("key %s withdrawn from the hosted WKD (%d addresses); keyservers keep what they have",
		o.KeyID, n)}, nil
}
