package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/tracing"
)

// Store is the part of the store the API uses: the roles of the objects it
// serves. Every read and write of a user's object takes the caller's id.
type Store interface {
	accounts.Store
	ListIdentities(ctx context.Context, userID string, f store.IdentityFilter) ([]store.Identity, error)
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	UpdateIdentity(ctx context.Context, id store.Identity, orders ...store.Order) (store.Identity, error)
	DeleteIdentity(ctx context.Context, userID, id string, orders ...store.Order) error
	store.Credentials
	store.Contacts
	store.PublicKeys
	LookupWKD(ctx context.Context, domain, localHash string) ([]store.WKDKey, error)
	GetMessage(ctx context.Context, userID, id string) (store.Message, error)
	ListMessages(ctx context.Context, userID string, f store.MessageFilter, p store.Page) ([]store.Message, string, error)
	MessageRaw(ctx context.Context, userID, id string) (store.RawMessage, error)
	CreateDraft(ctx context.Context, m store.Message) (store.Message, error)
	UpdateDraft(ctx context.Context, m store.Message) (store.Message, error)
	SetMessageFlags(ctx context.Context, userID, id string, f store.MessageFlags) error
	ListNotifications(ctx context.Context, userID string, p store.Page) ([]store.Notification, string, error)
	store.Outbox
	store.Idempotency
}

// Emitter sends orders on NATS (internal/emit's Emitter): PublishOrder
// returns once the stream acknowledged an order of the outbox, Request
// returns the reply body.
type Emitter interface {
	PublishOrder(ctx context.Context, o store.Order) error
	Request(ctx context.Context, subject string, payload any) ([]byte, error)
}

// Blobs reads raw messages.
type Blobs interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// Sealer seals remote-account credentials (internal/secrets' Keyring).
type Sealer interface {
	Seal(plaintext, context []byte) (secrets.Sealed, error)
}

// Deps are the API's dependencies; every field is required.
type Deps struct {
	Store   Store
	Blobs   Blobs
	Emitter Emitter
	Sealer  Sealer
	// Logger receives one line per request; bind "fn" before passing it.
	Logger *slog.Logger
	// Tracing records a span per request, continuing the trace its
	// traceparent header carries; the orders it sends continue it. Nil
	// records nothing.
	Tracing trace.TracerProvider
}

// server is the API.
type server struct {
	cfg      Config
	st       Store
	blobs    Blobs
	emitter  Emitter
	sealer   Sealer
	log      *slog.Logger
	accounts *accounts.Service
	throttle *accounts.LoginThrottle
	mux      *http.ServeMux
	tracer   trace.Tracer // nil when tracing is off
}

// New checks cfg and deps, reporting every problem at once, and returns the
// API's handler, which serves the routes under /api/v2/ (see the package
// documentation).
func New(cfg Config, deps Deps) (http.Handler, error) {
	cfg, err := cfg.withDefaults()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for name, missing := range map[string]bool{"Store": deps.Store == nil, "Blobs": deps.Blobs == nil,
		"Emitter": deps.Emitter == nil, "Sealer": deps.Sealer == nil, "Logger": deps.Logger == nil} {
		if missing {
			errs = append(errs, fmt.Errorf("deps.%s is nil", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	acc, err := accounts.New(cfg.accounts(), deps.Store)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &server{cfg: cfg, st: deps.Store, blobs: deps.Blobs, emitter: deps.Emitter, sealer: deps.Sealer,
		log: deps.Logger, accounts: acc, throttle: accounts.NewLoginThrottle(cfg.Throttle, nil), mux: http.NewServeMux()}
	if deps.Tracing != nil {
		s.tracer = tracing.Tracer(deps.Tracing)
	}
	s.routes()
	return s, nil
}

// routes registers every route. Access: public (no token), user (a valid
// token; the objects are the caller's) or admin (a valid token of an
// admin).
func (s *server) routes() {
	const v2 = "/api/v2"
	s.handle("POST "+v2+"/authentications", public, s.login)
	s.handle("DELETE "+v2+"/authentications", user, s.logout)
	s.handle("GET "+v2+"/me", user, s.me)

	s.handle("GET "+v2+"/identities/locals", user, s.listIdentities(store.LocalIdentity))
	s.handle("POST "+v2+"/identities/locals", user, s.idempotent(s.createLocal))
	s.handle("GET "+v2+"/identities/locals/{id}", user, s.getIdentity(store.LocalIdentity))
	s.handle("PATCH "+v2+"/identities/locals/{id}", user, s.patchLocal)
	s.handle("DELETE "+v2+"/identities/locals/{id}", user, s.deleteLocal)
	s.handle("GET "+v2+"/identities/remotes", user, s.listIdentities(store.RemoteIdentity))
	s.handle("POST "+v2+"/identities/remotes", user, s.idempotent(s.createRemote))
	s.handle("GET "+v2+"/identities/remotes/{id}", user, s.getIdentity(store.RemoteIdentity))
	s.handle("PATCH "+v2+"/identities/remotes/{id}", user, s.patchRemote)
	s.handle("DELETE "+v2+"/identities/remotes/{id}", user, s.deleteRemote)

	s.handle("POST "+v2+"/contacts", user, s.idempotent(s.createContact))
	s.handle("GET "+v2+"/contacts", user, s.listContacts)
	s.handle("GET "+v2+"/contacts/{id}", user, s.getContact)
	s.handle("PATCH "+v2+"/contacts/{id}", user, s.patchContact)
	s.handle("DELETE "+v2+"/contacts/{id}", user, s.deleteContact)
	s.handle("POST "+v2+"/contacts/{id}/actions", user, s.contactActions)
	s.handle("GET "+v2+"/contacts/{id}/publickeys", user, s.listKeys)
	s.handle("POST "+v2+"/contacts/{id}/publickeys", user, s.idempotent(s.createKey))
	s.handle("GET "+v2+"/contacts/{id}/publickeys/{keyid}", user, s.getKey)
	s.handle("DELETE "+v2+"/contacts/{id}/publickeys/{keyid}", user, s.deleteKey)

	s.handle("POST "+v2+"/messages", user, s.idempotent(s.createDraft))
	s.handle("GET "+v2+"/messages", user, s.listMessages)
	s.handle("GET "+v2+"/messages/{id}", user, s.getMessage)
	s.handle("PATCH "+v2+"/messages/{id}", user, s.patchDraft)
	s.handle("GET "+v2+"/messages/{id}/raw", user, s.getRaw)
	s.handle("POST "+v2+"/messages/{id}/actions", user, s.messageActions)

	s.handle("GET "+v2+"/notifications", user, s.listNotifications)

	s.handle("POST "+v2+"/admin/users", admin, s.idempotent(s.adminCreateUser))
	s.handle("POST "+v2+"/admin/users/{id}/mail", admin, s.idempotent(s.adminMailUser))
	s.handle("POST "+v2+"/admin/users/{id}/identities", admin, s.idempotent(s.adminCreateLocal))

	s.handle("GET /.well-known/openpgpkey/{domain}/hu/{hash}", public, s.wkdAdvanced)
	s.handle("GET /.well-known/openpgpkey/{first}/{second}", public, s.wkdTwo)
	s.handle("GET /.well-known/openpgpkey/policy", public, s.wkdPolicy)
}
