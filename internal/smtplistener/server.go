package smtplistener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/store"
)

// Directory finds the identities an address belongs to (*store.SQL).
type Directory interface {
	LookupIdentities(ctx context.Context, protocol, identifier string) ([]store.Identity, error)
}

// Raws marks raw messages delivered (*store.SQL); inbound-email records
// them.
type Raws interface {
	MarkRawDelivered(ctx context.Context, id string) error
}

// Deps are the listener's dependencies; all but Logger are required.
type Deps struct {
	Directory Directory
	Raws      Raws
	Blobs     blob.Store
	Requester emit.Requester
	Logger    *slog.Logger
	// Tracing records a span per received mail, the root of the trace its
	// process_inbound orders continue. Nil records nothing.
	Tracing trace.TracerProvider
}

// Listener serves SMTP and, when asked, LMTP.
type Listener struct {
	cfg  Config
	deps Deps
}

// New checks cfg and deps and returns a listener.
func New(cfg Config, deps Deps) (*Listener, error) {
	cfg = cfg.WithDefaults()
	errs := []error{cfg.Validate()}
	if deps.Directory == nil || deps.Raws == nil || deps.Blobs == nil || deps.Requester == nil {
		errs = append(errs, errors.New("smtplistener: directory, raws, blobs and requester are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{cfg: cfg, deps: deps}, nil
}

// Config returns the listener's configuration, defaults applied.
func (l *Listener) Config() Config { return l.cfg }

// server builds one go-smtp server.
func (l *Listener) server(lmtp bool) *smtp.Server {
	s := smtp.NewServer(&backend{l: l, lmtp: lmtp})
	s.LMTP = lmtp
	s.Domain = l.cfg.Domain
	s.MaxMessageBytes = l.cfg.MaxBytes
	s.MaxRecipients = l.cfg.MaxRecipients
	s.ReadTimeout = l.cfg.ReadTimeout
	s.WriteTimeout = l.cfg.WriteTimeout
	s.TLSConfig = l.cfg.TLS
	s.EnableSMTPUTF8 = true
	s.EnableBINARYMIME = true
	s.ErrorLog = errorLog{l.deps.Logger}
	return s
}

// Serve serves SMTP on smtpLn and LMTP on lmtpLn (either may be nil) until
// ctx ends, then stops accepting and waits up to drain for the sessions in
// progress. The connection limits are shared by both listeners.
func (l *Listener) Serve(ctx context.Context, smtpLn, lmtpLn net.Listener, drain time.Duration) error {
	sem := make(chan struct{}, l.cfg.MaxConnections)
	addrs := newAddrCounts(l.cfg.MaxPerAddr)
	nets := newAddrCounts(l.cfg.MaxPerNetwork)
	var servers []*smtp.Server
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	for _, it := range []struct {
		ln   net.Listener
		lmtp bool
	}{{smtpLn, false}, {lmtpLn, true}} {
		if it.ln == nil {
			continue
		}
		s := l.server(it.lmtp)
		servers = append(servers, s)
		ln := limitListener{Listener: it.ln, sem: sem, addrs: addrs, nets: nets, maxSession: l.cfg.MaxSession,
			maxJunk: l.cfg.MaxJunk, log: l.deps.Logger}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", it.ln.Addr(), err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	for _, s := range servers {
		if e := s.Shutdown(sctx); e != nil && !errors.Is(e, smtp.ErrServerClosed) {
			_ = s.Close()
		}
	}
	wg.Wait()
	return err
}

// errorLog sends go-smtp's own messages to slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn("smtp server", "err", fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) { e.log.Warn("smtp server", "err", fmt.Sprint(v...)) }
