package contract

import "time"

// Subject, queue group and order names, exactly as the seed writes them.
const (
	SubjectOutboundSMTP   = "outboundSMTP"
	SubjectInboundSMTP    = "inboundSMTP"
	SubjectIMAPFetcher    = "IMAPfetcher"
	SubjectOutboundIMAP   = "outboundIMAP"
	SubjectIMAPWorker     = "imap_worker"
	SubjectTwitterWorker  = "twitter_worker"
	SubjectTwitterDM      = "twitter_dm"
	SubjectInboundTwitter = "inboundTwitter"
	// SubjectMastodonDM and SubjectInboundMastodon are not in the seed:
	// the original Caliopen's Mastodon bridge, a copy of the Twitter one
	// (caliopen-original.md §1.1 topology, §3.2 SendDraft protocol
	// "mastodon"; brokers/go.mastodon, protocols/go.mastodon).
	SubjectMastodonDM       = "mastodon_dm"
	SubjectInboundMastodon  = "inboundMastodon"
	SubjectIdentitiesWorker = "identitiesWorker"
	SubjectContactAction    = "contactAction"
	SubjectKeyAction        = "keyAction"
	// SubjectIDCache is where the original Caliopen really sent the
	// identity orders (apiv2's idpoller_topic, the workers'
	// nats_topic_poller_cache; caliopen-original.md §0, §7.3): accepted
	// beside the seed's identitiesWorker, never emitted.
	SubjectIDCache = "idCache"

	QueueSMTP       = "SMTPqueue"
	QueueIMAP       = "IMAPworkers"
	QueueTwitter    = "twitterworkers"
	QueueInboundTw  = "Twitterqueue"
	QueueMastodon   = "Mastodonworkers"
	QueueInboundMa  = "Mastodonqueue"
	QueueIdentities = "IDsworker"
	QueueContact    = "contactQueue"
	QueueKey        = "keyQueue"
	QueueIDPoller   = "IDpoller"

	OrderDeliver        = "deliver"
	OrderProcessInbound = "process_inbound"
	OrderSync           = "sync"
	OrderFullFetch      = "fullfetch"
	OrderAddWorker      = "add_worker"
	OrderReloadWorker   = "reload_worker"
	OrderRemoveWorker   = "remove_worker"
	OrderUpdateInterval = "update_interval"
	OrderAddIdentity    = "add_identity"
	OrderUpdateIdentity = "update_identity"
	OrderDeleteIdentity = "delete_identity"
	OrderContactUpdate  = "contact_update"
	OrderDiscoverKey    = "discover_key"
	OrderPublishKey     = "publish_key"
	OrderDeleteKey      = "delete_key"
)

// The original Caliopen's names of seed orders (caliopen-original.md §0):
// accepted when decoding, never emitted.
const (
	OrderProcessRaw = "process_raw" // process_inbound
	OrderAdd        = "add"         // add_identity
	OrderDelete     = "delete"      // delete_identity
)

// Requester deadlines of the original (caliopen-original.md §1.1).
const (
	DeliverDeadline = 30 * time.Second
	InboundDeadline = 10 * time.Second
)

// Caliopen returns the contract of the seed. Each call builds a fresh value.
func Caliopen() *Contract {
	// The keys the original Caliopen code sent in place of the seed's
	// (caliopen-original.md §0, §1.2, §2; the byte forms are in
	// testdata/original). Its orders to brokers and workers name the
	// identity identity_id (BrokerOrder, IMAPorder), or carried Go's own field
	// names when their structs had no JSON tags (IMAPorder and
	// RemoteIDNatsMessage until late January 2019); its update_interval
	// carried the interval in order_param. "Order" and "Protocol" would match
	// case-insensitively anyway; listing them lets a body that also holds
	// "order" or "protocol" with another value be refused rather than
	// decided by key order.
	order := map[string][]string{"order": {"Order"}}
	remoteAliases := map[string][]string{
		"order":     {"Order"},
		"remote_id": {"identity_id", "IdentityId", "RemoteId"},
		"user_id":   {"UserId"},
	}
	identityAliases := map[string][]string{
		"identity_id":    {"IdentityId"},
		"order":          {"Order"},
		"poll_intervall": {"order_param", "OrderParam", "PollInterval"},
		"protocol":       {"Protocol"},
		"user_id":        {"UserId"},
	}
	deliver := payload("DeliverOrder", DeliverOrder{}, nil, remoteAliases)
	remote := payload("RemoteOrder", RemoteOrder{}, nil, remoteAliases)
	contact := payload("ContactOrder", ContactOrder{}, nil, order)
	key := payload("KeyOrder", KeyOrder{}, nil, order)
	identity := payload("IdentityOrder", IdentityOrder{}, map[string]FieldKind{"poll_intervall": KindMinutes}, identityAliases)

	all := func(p *Payload) []string { return fieldNames(p) }
	emit := func(service, fn string, p *Payload, fields ...string) Emitter {
		if fields == nil {
			fields = all(p)
		}
		return Emitter{Service: service, Function: fn, Payload: p, Fields: fields}
	}
	deliverReq := []string{"message_id", "order", "remote_id", "user_id"}
	// The smtp-bridge's orders may come without their identity: apiv2's
	// deliver without one (the broker took the sender from the draft and
	// ignored identity_id, caliopen-original.md §4.1), its process_raw with
	// an empty one; smtp-deliver and inbound-email find it from the message.
	bridgeReq := []string{"message_id", "order", "user_id"}
	remoteReq := []string{"order", "remote_id", "user_id"}
	contactReq := []string{"order", "contact_id", "user_id"}
	keyReq := []string{"key_id", "order", "resource_id", "user_id"}
	identityReq := []string{"identity_id", "order", "user_id"}
	identityFields := []string{"identity_id", "order", "user_id"}

	worker := func(handler string) []Order {
		var out []Order
		for _, name := range []string{OrderAddWorker, OrderReloadWorker, OrderRemoveWorker} {
			out = append(out, Order{Name: name, Mode: PubSub, Payload: remote, Required: remoteReq, Handler: handler})
		}
		return out
	}

	// identityOrders are the identity orders; with emitters on the seed's
	// subject, without on idCache (accepted from the original, never sent).
	identityOrders := func(emitters bool) []Order {
		out := []Order{
			{
				Name: OrderUpdateInterval, Mode: PubSub, Payload: identity,
				Required: []string{"identity_id", "order", "poll_intervall", "protocol", "user_id"},
				Handler:  "identities-worker natsOrdersHandler",
				Emitters: []Emitter{
					emit("twitter-bridge", "DMmsgHandler", identity),
					emit("mastodon-bridge", "DMmsgHandler", identity),
					emit("imap-bridge", "natsMsgHandler", identity),
				},
			},
			{
				Name: OrderAddIdentity, Aliases: []string{OrderAdd}, Mode: PubSub, Payload: identity, Required: identityReq,
				Handler:  "identities-worker natsOrdersHandler",
				Emitters: []Emitter{emit("apiv2", "REST.CreateUserIdentity", identity, identityFields...)},
			},
			{
				Name: OrderUpdateIdentity, Mode: PubSub, Payload: identity, Required: identityReq,
				Handler:  "identities-worker natsOrdersHandler",
				Emitters: []Emitter{emit("apiv2", "REST.PatchUserIdentity", identity, identityFields...)},
			},
			{
				Name: OrderDeleteIdentity, Aliases: []string{OrderDelete}, Mode: PubSub, Payload: identity, Required: identityReq,
				Handler:  "identities-worker natsOrdersHandler",
				Emitters: []Emitter{emit("apiv2", "REST.DeleteUserIdentity", identity, identityFields...)},
			},
		}
		for i := range out {
			if !emitters {
				out[i].Emitters = nil
				out[i].Handler = "idpoller natsIdentitiesHandler"
			}
		}
		return out
	}

	c := &Contract{
		Payloads: []*Payload{deliver, remote, contact, key, identity},
		Subjects: []Subject{
			{
				Name: SubjectOutboundSMTP, Queue: QueueSMTP, Function: "smtp-deliver", Deadline: DeliverDeadline,
				Orders: []Order{{
					Name: OrderDeliver, Mode: RequestReply, Payload: deliver, Required: bridgeReq,
					Handler: "smtp-bridge natsMsgHandler", Reply: ReplyDeliver,
					Emitters: []Emitter{
						emit("apiv2", "Notifications.SendEmailAdminToUser", deliver),
						emit("apiv2", "REST.SendDraft", deliver),
					},
				}},
			},
			{
				Name: SubjectInboundSMTP, Queue: QueueSMTP, Function: "inbound-email", Deadline: InboundDeadline,
				Orders: []Order{{
					Name: OrderProcessInbound, Aliases: []string{OrderProcessRaw}, Mode: RequestReply, Payload: deliver, Required: bridgeReq,
					Handler: "mq-worker InboundEmail", Reply: ReplyInbound,
					Emitters: []Emitter{emit("smtp-bridge", "processInbound", deliver)},
				}},
			},
			{
				Name: SubjectIMAPFetcher, Queue: QueueIMAP, Function: "imap-fetch",
				Orders: []Order{
					{
						Name: OrderSync, Mode: PubSub, Payload: remote, Required: remoteReq,
						Handler:  "imap-bridge natsMsgHandler",
						Emitters: []Emitter{emit("identities-worker", "imapJob.Run", remote)},
					},
					{Name: OrderFullFetch, Mode: PubSub, Payload: remote, Required: remoteReq, Handler: "imap-bridge natsMsgHandler"},
				},
			},
			{
				Name: SubjectOutboundIMAP, Queue: QueueIMAP, Function: "imap-deliver", Deadline: DeliverDeadline,
				Orders: []Order{{
					Name: OrderDeliver, Mode: RequestReply, Payload: deliver, Required: deliverReq,
					Handler: "imap-bridge natsMsgHandler", Reply: ReplyDeliver,
					Emitters: []Emitter{emit("apiv2", "REST.SendDraft", deliver)},
				}},
			},
			{
				Name: SubjectIMAPWorker, Queue: QueueIMAP, Function: "imap-worker",
				Orders: worker("imap-bridge WorkerMsgHandler"),
			},
			{
				Name: SubjectTwitterWorker, Queue: QueueTwitter, Function: "twitter-worker",
				Orders: worker("twitter-bridge WorkerMsgHandler"),
			},
			{
				Name: SubjectTwitterDM, Queue: QueueTwitter, Function: "twitter-dm", Deadline: DeliverDeadline,
				Orders: []Order{
					{
						// The scheduler sends sync without message_id; DMmsgHandler's
						// payload lists it, so it is accepted but not required.
						Name: OrderSync, Mode: PubSub, Payload: deliver, Required: remoteReq,
						Handler:  "twitter-bridge DMmsgHandler",
						Emitters: []Emitter{emit("identities-worker", "twitterJob.Run", remote)},
					},
					{
						Name: OrderDeliver, Mode: RequestReply, Payload: deliver, Required: deliverReq,
						Handler: "twitter-bridge DMmsgHandler", Reply: ReplyDeliver,
						Emitters: []Emitter{emit("apiv2", "REST.SendDraft", deliver)},
					},
				},
			},
			{
				Name: SubjectInboundTwitter, Queue: QueueInboundTw, Function: "inbound-twitter", Deadline: InboundDeadline,
				Orders: []Order{{
					Name: OrderProcessInbound, Aliases: []string{OrderProcessRaw}, Mode: RequestReply, Payload: deliver, Required: deliverReq,
					Handler: "mq-worker InboundTwitter", Reply: ReplyInbound,
					Emitters: []Emitter{emit("twitter-bridge", "processInDM", deliver)},
				}},
			},
			{
				// The original's mastodonworker DMmsgHandler: apiv2's SendDraft
				// for protocol mastodon (outMASTODON_topic), and the idpoller's
				// sync job (its reply to mastodonJobs, caliopen-original.md
				// §7.1-7.2), which the scheduler sends here as for twitter_dm.
				Name: SubjectMastodonDM, Queue: QueueMastodon, Function: "mastodon-dm", Deadline: DeliverDeadline,
				Orders: []Order{
					{
						Name: OrderSync, Mode: PubSub, Payload: deliver, Required: remoteReq,
						Handler:  "mastodon-bridge DMmsgHandler",
						Emitters: []Emitter{emit("identities-worker", "Job.Run", remote)},
					},
					{
						Name: OrderDeliver, Mode: RequestReply, Payload: deliver, Required: deliverReq,
						Handler: "mastodon-bridge DMmsgHandler", Reply: ReplyDeliver,
						Emitters: []Emitter{emit("apiv2", "REST.SendDraft", deliver)},
					},
				},
			},
			{
				// The original's mq-worker InboundMastodon (subscribers.py, queue
				// Mastodonqueue), requested by the mastodon broker's ProcessInDM
				// (brokers/go.mastodon/inbound.go) with the Twitter broker's
				// template, process_raw.
				Name: SubjectInboundMastodon, Queue: QueueInboundMa, Function: "inbound-mastodon", Deadline: InboundDeadline,
				Orders: []Order{{
					Name: OrderProcessInbound, Aliases: []string{OrderProcessRaw}, Mode: RequestReply, Payload: deliver, Required: deliverReq,
					Handler: "mq-worker InboundMastodon", Reply: ReplyInbound,
					Emitters: []Emitter{emit("mastodon-bridge", "ProcessInDM", deliver)},
				}},
			},
			{
				Name: SubjectIdentitiesWorker, Queue: QueueIdentities, Function: "identities-orders",
				Orders: identityOrders(true),
			},
			{
				// The original's add and delete (apiv2, the IMAP and Twitter
				// workers) and update_interval, to the same function; any
				// other order is dead-lettered as unknown.
				Name: SubjectIDCache, Queue: QueueIDPoller, Function: "identities-orders",
				Orders: identityOrders(false),
			},
			{
				Name: SubjectContactAction, Queue: QueueContact, Function: "contact-action",
				Orders: []Order{{
					Name: OrderContactUpdate, Mode: PubSub, Payload: contact, Required: contactReq,
					Handler: "mq-worker ContactAction",
					Emitters: []Emitter{
						emit("apiv2", "REST.UpdateContact", contact),
						emit("apiv2", "REST.CreateContact", contact),
					},
				}},
			},
			{
				Name: SubjectKeyAction, Queue: QueueKey, Function: "key-action",
				Orders: []Order{
					{
						Name: OrderDiscoverKey, Mode: PubSub, Payload: contact, Required: contactReq,
						Handler:  "mq-worker KeyAction",
						Emitters: []Emitter{emit("apiv2", "REST.launchKeyDiscovery", contact)},
					},
					{
						Name: OrderPublishKey, Mode: PubSub, Payload: key, Required: keyReq, Extra: true,
						Emitters: []Emitter{emit("apiv2", "REST.CreatePGPPubKey", key)},
					},
					{
						Name: OrderDeleteKey, Mode: PubSub, Payload: key, Required: keyReq, Extra: true,
						Emitters: []Emitter{emit("apiv2", "REST.DeletePubKey", key)},
					},
				},
			},
		},
	}
	pt := newProbeType(c.Payloads)
	for i := range c.Subjects {
		c.Subjects[i].probe = pt
	}
	return c
}
