package smtplistener

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/processinbound"
	"github.com/caliopen/functions/internal/store"
)

// outcome of one recipient identity.
type outcome = processinbound.Outcome

const (
	delivered = processinbound.Delivered
	temporary = processinbound.Temporary
	permanent = processinbound.Permanent
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
	log := l.deps.Logger.With("raw_id", id, "rcpts", len(rcpts), "bytes", len(data))
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

// storeRaw writes the blob (with a Received header in front) and its record.
func (l *Listener) storeRaw(ctx context.Context, id string, env envelope, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ProcessTimeout)
	defer cancel()
	head := []byte(l.received(env, id))
	body := append(head, data...)
	key := store.RawKey(id)
	if err := l.deps.Blobs.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return fmt.Errorf("store raw message %s: %w", id, err)
	}
	if _, err := l.deps.Raws.PutRaw(ctx, store.RawMessage{ID: id, BlobKey: key, Size: int64(len(body))}); err != nil {
		return fmt.Errorf("record raw message %s: %w", id, err)
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
	res, err := processinbound.Request(ctx, l.deps.Requester, rawID, idn)
	return res.Outcome, err
}
