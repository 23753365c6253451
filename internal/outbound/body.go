package outbound

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/store"
)

// partWriter creates the parts of a multipart body.
type partWriter interface {
	CreatePart(textproto.MIMEHeader) (io.Writer, error)
}

// writeBody writes Content-Type and the body of m after the headers: a
// text part, plain and HTML alternatives, and attachments in a mixed body.
func writeBody(ctx context.Context, buf *bytes.Buffer, msgID string, m store.Message, blobs blob.Store) error {
	if len(m.Attachments) == 0 {
		return writeTexts(topLevel{buf}, msgID, 1, m)
	}
	mw := multipart.NewWriter(buf)
	if err := mw.SetBoundary(boundary(msgID, 0)); err != nil {
		return fmt.Errorf("set boundary: %w", err)
	}
	buf.WriteString("Content-Type: multipart/mixed; boundary=\"" + mw.Boundary() + "\"\r\n\r\n")
	if err := writeTexts(mw, msgID, 1, m); err != nil {
		return err
	}
	for i, a := range m.Attachments {
		if err := writeAttachment(ctx, mw, a, blobs); err != nil {
			return fmt.Errorf("attachment %d: %w", i, err)
		}
	}
	return mw.Close()
}

// topLevel writes a single part as the message body itself: its header
// fields join the message's.
type topLevel struct{ buf *bytes.Buffer }

// CreatePart writes h's fields and the blank line, sorted by name.
func (t topLevel) CreatePart(h textproto.MIMEHeader) (io.Writer, error) {
	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding"} {
		for _, v := range h[k] {
			t.buf.WriteString(k + ": " + v + "\r\n")
		}
	}
	t.buf.WriteString("\r\n")
	return t.buf, nil
}

// writeTexts writes the text of m as one part of pw: text/plain, or
// multipart/alternative of plain and HTML when both are present.
func writeTexts(pw partWriter, msgID string, n int, m store.Message) error {
	if m.BodyHTML == "" || m.BodyPlain == "" {
		typ, text := "text/plain", m.BodyPlain
		if m.BodyPlain == "" && m.BodyHTML != "" {
			typ, text = "text/html", m.BodyHTML
		}
		return writeText(pw, typ, text)
	}
	b := boundary(msgID, n)
	w, err := pw.CreatePart(textproto.MIMEHeader{"Content-Type": {`multipart/alternative; boundary="` + b + `"`}})
	if err != nil {
		return fmt.Errorf("create alternative part: %w", err)
	}
	alt := multipart.NewWriter(w)
	if err := alt.SetBoundary(b); err != nil {
		return fmt.Errorf("set boundary: %w", err)
	}
	if err := writeText(alt, "text/plain", m.BodyPlain); err != nil {
		return err
	}
	if err := writeText(alt, "text/html", m.BodyHTML); err != nil {
		return err
	}
	return alt.Close()
}

// writeText writes one quoted-printable UTF-8 text part.
func writeText(pw partWriter, typ, text string) error {
	w, err := pw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {typ + "; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return fmt.Errorf("create %s part: %w", typ, err)
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, text); err != nil {
		return fmt.Errorf("write %s part: %w", typ, err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("write %s part: %w", typ, err)
	}
	return nil
}

// writeAttachment streams one attachment from blobs, base64 encoded.
func writeAttachment(ctx context.Context, mw *multipart.Writer, a store.Attachment, blobs blob.Store) error {
	if a.BlobKey == "" {
		return fmt.Errorf("%w: attachment %q has no blob", ErrInvalid, a.FileName)
	}
	r, err := blobs.Get(ctx, a.BlobKey)
	if err != nil {
		return fmt.Errorf("open blob: %w", err)
	}
	defer func() { _ = r.Close() }()
	typ := a.ContentType
	if typ == "" {
		typ = "application/octet-stream"
	}
	disp := "attachment"
	if a.IsInline {
		disp = "inline"
	}
	params := map[string]string{}
	if a.FileName != "" {
		params["filename"] = a.FileName
	}
	h := textproto.MIMEHeader{
		"Content-Type":              {typ},
		"Content-Disposition":       {mime.FormatMediaType(disp, params)},
		"Content-Transfer-Encoding": {"base64"},
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		return fmt.Errorf("create part: %w", err)
	}
	lw := &lineWrapper{w: w}
	enc := base64.NewEncoder(base64.StdEncoding, lw)
	if _, err := io.Copy(enc, r); err != nil {
		return fmt.Errorf("read blob: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return lw.end()
}

// lineWrapper cuts base64 text into lines of 76 characters.
type lineWrapper struct {
	w   io.Writer
	col int
}

// Write copies p, breaking lines every 76 bytes.
func (l *lineWrapper) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n, l.col, p = n+k, l.col+k, p[k:]
		if l.col == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// end terminates the last line.
func (l *lineWrapper) end() error {
	if l.col == 0 {
		return nil
	}
	_, err := io.WriteString(l.w, "\r\n")
	return err
}
