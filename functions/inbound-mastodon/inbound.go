// Package inboundmastodon is the inbound-mastodon function: it serves
// process_inbound on inboundMastodon (queue Mastodonqueue, request/reply,
// the original mq-worker's InboundMastodon), the order mastodon-dm sends
// once per direct status it fetched, and stores one message for the
// order's user.
//
// The raw message (message_id) is the status as mastodon-dm stored it
// (mastoapi.StatusDoc: the status as the instance rendered it, its
// conversation with that conversation's other accounts, the synced
// account), content-addressed under store.RawKey. Its size and JSON
// nesting depth are bounded before it is parsed.
//
// The message (protocol mastodon): participants are mastodon addresses
// ("user@domain"), the author From, the conversation's other accounts and
// the mentioned ones To, the receiving account among them; the body is the
// status's HTML content turned into text (mastoinbound.Text: paragraphs,
// line breaks, entities, the whole of a shortened link), the HTML kept as
// the HTML body and the content warning as the subject; attachments list
// the media ids, types and URLs (the bytes stay on the instance); the
// status id is the external reference (the dedup key) and the status it
// answers In-Reply-To; the date is the status's created_at. A status the
// account itself wrote from another client is stored read and not
// received. It is threaded into the discussion of its conversation (key
// "mastodon:<conversation id>"), its participants resolved to the user's
// contacts, and a new_message notification stored with it: one
// store.Delivery.
//
// Replies follow the inbound shape, as inbound-twitter's: success, also
// for a duplicate; permanent failures raw_not_found, raw_missing,
// raw_too_large, bad_event (not a direct status), unknown_identity,
// bad_identity; temporary when the store or the blob store fail.
package inboundmastodon

import (
	"github.com/caliopen/functions/internal/dminbound"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/mastoinbound"
)

// Name is the function's name in the contract and stack.yml.
const Name = "inbound-mastodon"

// EnvMaxRawBytes names the largest raw status the function loads.
const EnvMaxRawBytes = "INBOUND_MASTODON_MAX_RAW_BYTES"

// Config configures the function.
type Config = mastoinbound.Config

// Deps are the function's dependencies; Store and Blobs are required.
type Deps = mastoinbound.Deps

// New returns the function's core (package mastoinbound).
func New(cfg Config, deps Deps) (fnhttp.Core, error) { return mastoinbound.New(cfg, deps) }

// LoadConfig reads Config from the environment, every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	return dminbound.LoadConfig(getenv, EnvMaxRawBytes)
}

// Build builds inbound-mastodon from its environment and dependencies.
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}
