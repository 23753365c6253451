package imapdeliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/imapsync"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/tracing"
)

// maxRaw is the largest sent copy appended (the adapter's body limits
// keep drafts far below).
const maxRaw = 64 << 20

// copyToSent appends the sent copy of message id to the Sent folder of
// remote identity ident.
func (d *deliverer) copyToSent(ctx context.Context, userID, id string, ident store.Identity, log *slog.Logger) (err error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.IMAPTimeout)
	defer cancel()
	ctx, span := tracing.Start(ctx, "imap append sent", trace.SpanKindClient)
	defer func() { tracing.End(span, err) }()
	m, err := d.deps.Store.GetMessage(ctx, userID, id)
	if err != nil {
		return fmt.Errorf("load message: %w", err)
	}
	raw, err := d.sentCopy(ctx, m)
	if err != nil {
		return err
	}
	if d.deps.Tokens != nil {
		// Read the identity again: sending may have renewed its token.
		if ident, err = d.deps.Store.GetIdentity(ctx, userID, ident.ID); err != nil {
			return fmt.Errorf("load identity: %w", err)
		}
		if ident, err = d.deps.Tokens.Fresh(ctx, ident); err != nil {
			return err
		}
	}
	acct, err := imapsync.AccountOf(ident, d.deps.Keyring, d.cfg.IMAPTimeout, d.cfg.Guard)
	if err != nil {
		return err
	}
	c, err := imapsync.Connect(acct)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	box, err := sentMailbox(c)
	if err != nil {
		return err
	}
	appended, err := appendOnce(c, box, m, raw)
	if err != nil {
		return err
	}
	_ = c.Logout().Wait()
	log.Info("copy in the Sent folder", "mailbox", box, "appended", appended)
	return nil
}

// sentCopy reads the raw message smtp-deliver stored for m.
func (d *deliverer) sentCopy(ctx context.Context, m store.Message) ([]byte, error) {
	if m.RawMsgID == "" {
		return nil, errors.New("the message has no sent copy")
	}
	r, err := d.deps.Store.GetRaw(ctx, m.RawMsgID)
	if err != nil {
		return nil, fmt.Errorf("load raw message: %w", err)
	}
	rc, err := d.deps.Blobs.Get(ctx, r.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("open the sent copy: %w", err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, maxRaw))
	if err != nil {
		return nil, fmt.Errorf("read the sent copy: %w", err)
	}
	return b, nil
}

// sentMailbox finds the Sent folder: SPECIAL-USE \Sent, else "Sent" by
// name, else a name containing "sent".
func sentMailbox(c *imapclient.Client) (string, error) {
	var opts *imap.ListOptions
	if c.Caps().Has(imap.CapSpecialUse) {
		opts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	boxes, err := c.List("", "*", opts).Collect()
	if err != nil {
		return "", fmt.Errorf("imap list: %w", err)
	}
	byName := ""
	for _, b := range boxes {
		for _, attr := range b.Attrs {
			if attr == imap.MailboxAttrSent {
				return b.Mailbox, nil
			}
		}
		leaf := b.Mailbox
		if b.Delim != 0 {
			leaf = leaf[strings.LastIndexByte(leaf, byte(b.Delim))+1:]
		}
		switch {
		case strings.EqualFold(leaf, "Sent"):
			byName = b.Mailbox
		case byName == "" && strings.Contains(strings.ToLower(leaf), "sent"):
			byName = b.Mailbox
		}
	}
	if byName == "" {
		return "", errors.New("the account has no Sent folder")
	}
	return byName, nil
}

// appendOnce appends raw to box flagged \Seen, unless box holds a message
// with m's Message-ID already. It reports whether it appended.
func appendOnce(c *imapclient.Client, box string, m store.Message, raw []byte) (bool, error) {
	if _, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return false, fmt.Errorf("imap select %s: %w", box, err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
		{Key: "Message-ID", Value: m.External.MessageID}}}, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("imap search %s: %w", box, err)
	}
	if len(found.AllUIDs()) > 0 {
		return false, nil
	}
	cmd := c.Append(box, int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: m.Date})
	if _, err := cmd.Write(raw); err != nil {
		return false, fmt.Errorf("imap append to %s: %w", box, err)
	}
	if err := cmd.Close(); err != nil {
		return false, fmt.Errorf("imap append to %s: %w", box, err)
	}
	if _, err := cmd.Wait(); err != nil {
		return false, fmt.Errorf("imap append to %s: %w", box, err)
	}
	return true, nil
}
