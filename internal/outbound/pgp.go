package outbound

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"

	"github.com/caliopen/functions/internal/store"
)

// pgpArmor starts an ASCII-armored OpenPGP message.
const pgpArmor = "-----BEGIN PGP MESSAGE-----"

// encrypted reports whether the client already encrypted m's body: the
// privacy feature message_encryption_method is "pgp" (the original's
// test), or the plain body is an armored PGP MESSAGE.
func encrypted(m store.Message) bool {
	return m.Features["message_encryption_method"] == "pgp" ||
		strings.HasPrefix(strings.TrimSpace(m.BodyPlain), pgpArmor)
}

// writePGP writes an RFC 3156 multipart/encrypted body whose second part is
// the armored text as the client encrypted it. No server-side crypto, no
// attachments (as the original's MarshalPGPEmail).
func writePGP(buf *bytes.Buffer, msgID, armored string) error {
	mw := multipart.NewWriter(buf)
	if err := mw.SetBoundary(boundary(msgID, 0)); err != nil {
		return fmt.Errorf("set boundary: %w", err)
	}
	buf.WriteString(`Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="` +
		mw.Boundary() + "\"\r\n\r\n")
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {"application/pgp-encrypted"},
		"Content-Description": {"PGP/MIME version identification"},
	})
	if err != nil {
		return fmt.Errorf("create pgp version part: %w", err)
	}
	_, _ = io.WriteString(w, "Version: 1\r\n")
	w, err = mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {`application/octet-stream; name="encrypted.asc"`},
		"Content-Description": {"OpenPGP encrypted message"},
		"Content-Disposition": {`inline; filename="encrypted.asc"`},
	})
	if err != nil {
		return fmt.Errorf("create pgp data part: %w", err)
	}
	text := strings.ReplaceAll(strings.TrimSpace(armored), "\r\n", "\n")
	_, _ = io.WriteString(w, strings.ReplaceAll(text, "\n", "\r\n")+"\r\n")
	return mw.Close()
}
