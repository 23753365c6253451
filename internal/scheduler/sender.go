package scheduler

import (
	"context"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
)

// Emitter is what NATSSender needs; *emit.Emitter has it.
type Emitter interface {
	Publish(ctx context.Context, subject string, payload any) error
	Request(ctx context.Context, subject string, payload any) ([]byte, error)
}

// NATSSender sends sync orders as the seed's emitters do. On IMAPfetcher
// it publishes (the connector's stream acknowledges). On twitter_dm and
// mastodon_dm, subjects that also carry request/reply orders and are not
// captured by a stream, it sends a request: the connector hands the order off to its
// stream and answers {"error":false,"message":"accepted"}.
type NATSSender struct{ Emitter Emitter }

// Send sends order on subject and returns once it is stored.
func (n NATSSender) Send(ctx context.Context, subject string, order contract.RemoteOrder) error {
	if subject != contract.SubjectTwitterDM && subject != contract.SubjectMastodonDM {
		return n.Emitter.Publish(ctx, subject, order)
	}
	return emit.Submit(ctx, n.Emitter, subject, order)
}
