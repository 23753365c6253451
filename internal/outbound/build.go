package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/store"
)

// ErrInvalid reports a draft that cannot become a message (no sender, no
// recipient, a malformed address); sending it again cannot help.
var ErrInvalid = errors.New("invalid draft")

// DefaultMailer is the X-Mailer header of built messages.
const DefaultMailer = "Caliopen-Functions"

// Input is what Build turns into a message.
type Input struct {
	// Message is the draft; its participants give From (the first one),
	// To, Cc, Bcc and Reply-To.
	Message store.Message
	// Domain is the Message-ID's domain; "" takes the From address's.
	Domain string
	// Date is the Date header; zero means now.
	Date time.Time
	// Mailer is the X-Mailer header; "" means DefaultMailer.
	Mailer string
}

// Built is a message ready for the envelope.
type Built struct {
	// Raw is the message, CRLF line endings.
	Raw []byte
	// MessageID is the Message-ID header without angle brackets.
	MessageID string
	// Date is the Date header's time.
	Date time.Time
	// From is the envelope sender (MAIL FROM).
	From string
	// Recipients are To, Cc and Bcc, each once (RCPT TO).
	Recipients []string
}

// Build makes the MIME message of in.Message; attachments are read from
// blobs. Errors wrap ErrInvalid for a draft that cannot be sent, and
// blob.ErrNotFound for a missing attachment; others come from the blob
// store and are worth retrying.
func Build(ctx context.Context, in Input, blobs blob.Store) (Built, error) {
	env, err := envelopeOf(in.Message.Participants)
	if err != nil {
		return Built{}, err
	}
	domain := in.Domain
	if domain == "" {
		domain = DomainOf(env.from.Address)
	}
	date := in.Date
	if date.IsZero() {
		date = time.Now()
	}
	date = date.Truncate(time.Second)
	b := Built{MessageID: MessageID(in.Message.ID, domain), Date: date, From: env.from.Address,
		Recipients: env.rcpts}
	mailer := in.Mailer
	if mailer == "" {
		mailer = DefaultMailer
	}
	var buf bytes.Buffer
	h := headerWriter{w: &buf}
	h.add("Date", date.Format(time.RFC1123Z))
	h.add("From", env.from.String())
	h.addList("Reply-To", env.replyTo)
	h.addList("To", env.to)
	h.addList("Cc", env.cc)
	h.add("Subject", mime.QEncoding.Encode("utf-8", in.Message.Subject))
	h.add("Message-ID", "<"+b.MessageID+">")
	if r := in.Message.External.InReplyTo; r != "" {
		h.add("In-Reply-To", angle(r))
	}
	h.addRefs(in.Message.External.References)
	h.add("X-Mailer", mailer)
	h.add("MIME-Version", "1.0")
	if encrypted(in.Message) {
		err = writePGP(&buf, b.MessageID, in.Message.BodyPlain)
	} else {
		err = writeBody(ctx, &buf, b.MessageID, in.Message, blobs)
	}
	if err != nil {
		return Built{}, err
	}
	b.Raw = buf.Bytes()
	return b, nil
}

// envelope is the addresses of a draft.
type envelope struct {
	from                 *mail.Address
	to, cc, replyTo, bcc []*mail.Address
	rcpts                []string
}

// envelopeOf sorts participants into headers and envelope.
func envelopeOf(ps []store.Participant) (envelope, error) {
	var e envelope
	seen := map[string]bool{}
	for i, p := range ps {
		a, err := mail.ParseAddress(strings.TrimSpace(p.Address))
		if err != nil {
			return envelope{}, fmt.Errorf("%w: participant %d address: %v", ErrInvalid, i, err)
		}
		a.Name = p.Label
		switch strings.ToLower(p.Type) {
		case "from":
			if e.from == nil {
				e.from = a
			}
			continue
		case "reply-to":
			e.replyTo = append(e.replyTo, a)
			continue
		case "to":
			e.to = append(e.to, a)
		case "cc":
			e.cc = append(e.cc, a)
		case "bcc":
			e.bcc = append(e.bcc, a)
		default:
			continue
		}
		if k := strings.ToLower(a.Address); !seen[k] {
			seen[k] = true
			e.rcpts = append(e.rcpts, a.Address)
		}
	}
	if e.from == nil || len(e.rcpts) == 0 {
		return envelope{}, fmt.Errorf("%w: missing sender and/or recipient", ErrInvalid)
	}
	return e, nil
}

// angle puts a message id in angle brackets.
func angle(id string) string {
	return "<" + strings.Trim(strings.TrimSpace(id), "<>") + ">"
}
