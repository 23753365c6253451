package inbound

import (
	"mime"
	"strings"

	"github.com/jhillyerd/enmime/v2"

	"github.com/caliopen/functions/internal/store"
)

// maxAttachments bounds the attachment metadata kept for one message.
const maxAttachments = 200

// attachments lists the attachment metadata of env (the bytes stay in the
// raw message) and reports PGP/MIME encryption: a multipart/encrypted part
// whose protocol is application/pgp-encrypted, whose control part is not
// listed as an attachment.
func attachments(env *enmime.Envelope) ([]store.Attachment, bool) {
	encrypted := isPGPEncrypted(env.Root)
	var out []store.Attachment
	add := func(parts []*enmime.Part, inline bool) {
		for _, p := range parts {
			ct := strings.ToLower(p.ContentType)
			if ct == "application/pgp-encrypted" || len(out) >= maxAttachments {
				continue
			}
			boundary := ""
			if p.Parent != nil {
				boundary = p.Parent.Boundary
			}
			out = append(out, store.Attachment{
				ContentType:  clean(ct),
				FileName:     clean(p.FileName),
				IsInline:     inline,
				Size:         int64(len(p.Content)),
				MIMEBoundary: clean(boundary),
			})
		}
	}
	add(env.Attachments, false)
	add(env.Inlines, true)
	for _, p := range env.OtherParts {
		if p.FileName != "" || p.Disposition != "" {
			add([]*enmime.Part{p}, p.Disposition == "inline")
		}
	}
	return out, encrypted
}

// isPGPEncrypted reports a multipart/encrypted part with the PGP protocol
// anywhere in the tree.
func isPGPEncrypted(p *enmime.Part) bool {
	return anyPart(p, func(p *enmime.Part) bool {
		return strings.EqualFold(p.ContentType, "multipart/encrypted") &&
			strings.EqualFold(protocol(p), "application/pgp-encrypted")
	})
}

// isPGPSigned reports a multipart/signed part with the PGP protocol.
func isPGPSigned(p *enmime.Part) bool {
	return anyPart(p, func(p *enmime.Part) bool {
		return strings.EqualFold(p.ContentType, "multipart/signed") &&
			strings.EqualFold(protocol(p), "application/pgp-signature")
	})
}

// protocol returns the protocol parameter of p's Content-Type (enmime
// leaves ContentTypeParams empty on the root part).
func protocol(p *enmime.Part) string {
	if v := p.ContentTypeParams["protocol"]; v != "" {
		return v
	}
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return params["protocol"]
}

// anyPart walks the tree depth first (at most 10,000 parts).
func anyPart(root *enmime.Part, match func(*enmime.Part) bool) bool {
	stack := []*enmime.Part{root}
	for n := 0; len(stack) > 0 && n < 10000; n++ {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p == nil {
			continue
		}
		if match(p) {
			return true
		}
		stack = append(stack, p.NextSibling, p.FirstChild)
	}
	return false
}
