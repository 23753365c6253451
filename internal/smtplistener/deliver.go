package smtplistener

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/tracing"
)

// outcome of one recipient identity.
type outcome int

const (
	delivered outcome = iota
	temporary
	permanent
)

// result is the outcome of every recipient identity of one message.
type result struct {
	stored bool               // the raw message was stored
	byID   map[string]outcome // identity id → outcome
}

// smtpAnswer folds the outcomes into one SMTP answer (see the package doc).
func (r *result) smtpAnswer() error {
	if !r.stored {
		return errTempFailure
	}
	ok := 0
	for _, o := range r.byID {
		switch o {
		case temporary:
			return errTempFailure
		case delivered:
			ok++
		}
	}
	if ok == 0 {
		return errAllRefused
	}
	return nil
}

// rcptAnswer is the LMTP status of one recipient: the worst outcome of its
// identities.
func (r *result) rcptAnswer(rc recipient) error {
	if !r.stored {
		return errTempFailure
	}
	worst := delivered
	for _, id := range rc.identities {
		if o := r.byID[id.ID]; o == temporary || (o == permanent && worst == delivered) {
			worst = o
		}
	}
	switch worst {
	case temporary:
		return errTempFailure
	case permanent:
		return errRcptRefused
	}
	return nil
}

// envelope is what the session knows about the client.
type envelope struct {
	helo, remoteIP string
	lmtp           bool
	tls            *tls.ConnectionState
}

// deliver stores data once and processes it for every recipient identity.
func (l *Listener) deliver(ctx context.Context, env envelope, data []byte, rcpts []recipient) *result {
	start := time.Now()
	id := store.RawID(data)
	res := &result{byID: map[string]outcome{}}
	// One correlation id for the mail: every recipient's order carries it.
	corr := rand.Text()
	ctx = contract.WithCorrelationID(ctx, corr)
	if l.deps.Tracing != nil {
		var span trace.Span
		ctx, span = tracing.Tracer(l.deps.Tracing).Start(ctx, "smtp receive", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("caliopen.correlation_id", corr), attribute.Int("caliopen.recipients", len(rcpts))))
		defer span.End()
	}
	log := l.deps.Logger.With("raw_id", id, "corr_id", corr, "rcpts", len(rcpts), "bytes", len(data))
	if err := l.storeRaw(ctx, id, env, data); err != nil {
		log.Error("mail not stored", "outcome", "temporary", "err", err)
		return res
	}
	res.stored = true
	var targets []store.Identity
	for _, rc := range rcpts {
		for _, idn := range rc.identities {
			if _, seen := res.byID[idn.ID]; !seen {
				res.byID[idn.ID] = temporary
				targets = append(targets, idn)
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := [3]int{}
	for _, idn := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := l.process(ctx, id, idn)
			mu.Lock()
			res.byID[idn.ID] = o
			counts[o]++
			mu.Unlock()
			if err != nil {
				log.Warn("recipient not processed", "user_id", idn.UserID, "outcome", o.String(), "err", err)
			}
		}()
	}
	wg.Wait()
	if counts[delivered] == len(targets) {
		if err := l.deps.Raws.MarkRawDelivered(ctx, id); err != nil {
			log.Warn("raw message not marked delivered", "err", err)
		}
	}
	log.Info("mail received", "delivered", counts[delivered], "temporary", counts[temporary],
		"permanent", counts[permanent], "ms", time.Since(start).Milliseconds())
	return res
}

func (o outcome) String() string {
	return [...]string{"delivered", "temporary", "permanent"}[o]
}

// storeRaw writes the blob (with a Received header in front). Its record
// is left to inbound-email, which writes it in the message's transaction
// (the key follows from the content-addressed id), so that a mail costs no
// store write of its own before it is processed (docs/benchmarks.md,
// "Inbound mail"); mail that no recipient took leaves no record, and the
// raw sweep collects its bytes.
func (l *Listener) storeRaw(ctx context.Context, id string, env envelope, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ProcessTimeout)
	defer cancel()
	head := []byte(l.received(env, id))
	body := append(head, data...)
	key := store.RawKey(id)
	if err := l.deps.Blobs.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return fmt.Errorf("store raw message %s: %w", id, err)
	}
	return nil
}

// received is the trace header the listener adds (RFC 5321 §4.4).
func (l *Listener) received(env envelope, id string) string {
	proto := "ESMTP"
	if env.lmtp {
		proto = "LMTP"
	}
	tlsInfo := ""
	if env.tls != nil {
		proto += "S"
		tlsInfo = fmt.Sprintf("\r\n\t(version=%s cipher=%s)", strings.ReplaceAll(tls.VersionName(env.tls.Version), " ", ""),
			tls.CipherSuiteName(env.tls.CipherSuite))
	}
	return fmt.Sprintf("Received: from %s (%s)\r\n\tby %s (Caliopen) with %s id %s%s;\r\n\t%s\r\n",
		headerSafe(env.helo), headerSafe("["+env.remoteIP+"]"), headerSafe(l.cfg.Domain), proto, id[:16], tlsInfo,
		time.Now().UTC().Format(time.RFC1123Z))
}

// headerSafe keeps s on one header line.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// process sends process_inbound for one identity and classifies the reply.
func (l *Listener) process(ctx context.Context, rawID string, idn store.Identity) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ProcessTimeout)
	defer cancel()
	order := contract.DeliverOrder{MessageID: rawID, Order: contract.OrderProcessInbound, RemoteID: idn.ID, UserID: idn.UserID}
	_, err := emit.ProcessInbound(ctx, l.deps.Requester, contract.SubjectInboundSMTP, order)
	switch {
	case err == nil:
		return delivered, nil
	case faults.IsPermanent(err):
		return permanent, err
	}
	return temporary, err
}
