package processinbound_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/natsembed/natstest"
	"github.com/caliopen/functions/internal/processinbound"
	"github.com/caliopen/functions/internal/store"
)

// TestRequestClassifies sends process_inbound over an embedded NATS
// server. The responder on inboundSMTP is hand-written: it answers the
// bodies of the table, some of which inbound-email never gives (a reply
// without message_id, one that is not JSON); the real function's answers
// are tested in systest/listenertest.
func TestRequestClassifies(t *testing.T) {
	_, nc := natstest.Start(t)
	em, err := emit.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	idn := store.Identity{ID: "ident-1", UserID: "user-1"}
	cases := []struct {
		name, reply string // reply "" means no responder
		want        processinbound.Outcome
		code        string
	}{
		{"stored", `{"message":"stored","message_id":"m1","discussion_id":"d1"}`, processinbound.Delivered, ""},
		{"duplicate", `{"message":"duplicate","message_id":"m1"}`, processinbound.Delivered, ""},
		{"no message id", `{"message":"stored"}`, processinbound.Temporary, ""},
		{"not JSON", `stored`, processinbound.Temporary, ""},
		{"temporary error", `{"error":"store_unavailable","message":"store down"}`, processinbound.Temporary, "store_unavailable"},
		{"timeout code", `{"error":"timeout","message":"no reply"}`, processinbound.Temporary, "timeout"},
		{"permanent error", `{"error":"raw_too_large","message":"over the limit"}`, processinbound.Permanent, "raw_too_large"},
		{"validation", `{"error":"missing_field","message":"user_id"}`, processinbound.Permanent, "missing_field"},
		{"no responder", "", processinbound.Temporary, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orders := make(chan contract.DeliverOrder, 1)
			if c.reply != "" {
				sub, err := nc.Subscribe(contract.SubjectInboundSMTP, func(m *nats.Msg) {
					var o contract.DeliverOrder
					_ = json.Unmarshal(m.Data, &o)
					orders <- o
					_ = m.Respond([]byte(c.reply))
				})
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Unsubscribe()
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			res, err := processinbound.Request(ctx, em, "raw-1", idn)
			if res.Outcome != c.want || res.Reply.Error != c.code || (err == nil) != (c.want == processinbound.Delivered) {
				t.Errorf("outcome %s code %q err %v, want %s %q", res.Outcome, res.Reply.Error, err, c.want, c.code)
			}
			if c.reply == "" {
				return
			}
			if got := <-orders; got.MessageID != "raw-1" || got.RemoteID != idn.ID ||
				got.UserID != idn.UserID || got.Order != contract.OrderProcessInbound {
				t.Errorf("order sent %+v", got)
			}
		})
	}
}
