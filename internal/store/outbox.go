package store

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Order is a publish/subscribe order kept in the outbox: written in the
// same transaction as the change it announces, it stays until a publisher
// has had it acknowledged by JetStream (OrdersSent). So an order leaves
// with its change or not at all, even across a crash between the commit
// and the publish.
type Order struct {
	// ID is the order's Nats-Msg-Id: a publish repeated after a crash is
	// dropped by the stream's duplicate window. Empty: a fresh UUID.
	ID      string
	Subject string
	// Data is the payload, byte for byte as published.
	Data []byte
	// Header holds the order's NATS headers (the correlation id).
	Header map[string]string
	// Attempts counts the claims of relays (ClaimOrders); set by the store.
	Attempts  int
	CreatedAt time.Time // set by the store
}

// Outbox is the store's side of the transactional outbox. The writes that
// announce a change (CreateContact, UpdateIdentity, ...) take their orders
// as arguments and commit them with the change.
type Outbox interface {
	// EnqueueOrders stores orders alone, for an order that changes nothing
	// else.
	EnqueueOrders(ctx context.Context, orders ...Order) error
	// ClaimOrders leases, for lease, up to limit orders written before
	// writtenBefore that nobody holds, oldest first: relays running side
	// by side take different rows, and leave the newest to their writer.
	ClaimOrders(ctx context.Context, writtenBefore time.Time, lease time.Duration, limit int) ([]Order, error)
	// OrdersSent removes orders JetStream has acknowledged.
	OrdersSent(ctx context.Context, ids ...string) error
	// PendingOrders counts the orders not sent yet.
	PendingOrders(ctx context.Context) (int, error)
}

const orderCols = `id, subject, data, header, attempts, created_at`

// insertOrders writes orders inside a write's transaction. It fills in each
// order's ID and CreatedAt.
func (s *SQL) insertOrders(ctx context.Context, cn conn, orders []Order) error {
	now := s.stamp()
	for i := range orders {
		o := &orders[i]
		o.ID, o.CreatedAt = orNewID(o.ID), now
		if _, err := cn.exec(ctx, `INSERT INTO outbox (id, subject, data, header, attempts, created_at, lease_until)
			VALUES (?, ?, ?, ?, 0, ?, ?)`, o.ID, o.Subject, o.Data, jsonMap(o.Header), micros(now),
			micros(now)); err != nil {
			return err
		}
	}
	return nil
}

// withOrders runs write, then stores orders in the same transaction. A
// write without orders runs as before, on the writer alone.
func (s *SQL) withOrders(ctx context.Context, orders []Order, write func(cn conn) error) error {
	if len(orders) == 0 {
		return write(s.write())
	}
	return s.tx(ctx, func(cn conn) error {
		if err := write(cn); err != nil {
			return err
		}
		return s.insertOrders(ctx, cn, orders)
	})
}

// checkOrders refuses orders without a subject or a payload.
func checkOrders(op string, orders []Order) error {
	for _, o := range orders {
		if o.Subject == "" || len(o.Data) == 0 {
			return invalid(op, "an order needs a subject and a payload")
		}
	}
	return nil
}

// EnqueueOrders stores orders that announce no other change.
func (s *SQL) EnqueueOrders(ctx context.Context, orders ...Order) error {
	const op = "enqueue orders"
	if err := checkOrders(op, orders); err != nil {
		return err
	}
	if err := s.tx(ctx, func(cn conn) error { return s.insertOrders(ctx, cn, orders) }); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// ClaimOrders leases up to limit orders written before writtenBefore whose
// lease has run out, in commit order. On PostgreSQL rows another relay is claiming are skipped (FOR
// UPDATE SKIP LOCKED); SQLite's one writer serialises the claims.
func (s *SQL) ClaimOrders(ctx context.Context, writtenBefore time.Time, lease time.Duration, limit int) ([]Order, error) {
	const op = "claim orders"
	if lease <= 0 || limit <= 0 {
		return nil, invalid(op, "lease and limit must be positive")
	}
	type claimed struct {
		seq int64
		o   Order
	}
	now := s.stamp()
	var rows []claimed
	err := s.tx(ctx, func(cn conn) error {
		var err error
		rows, err = allOn(ctx, cn, s, op, func(r scanner) (claimed, error) {
			var c claimed
			err := r.Scan(&c.seq, &c.o.ID, &c.o.Subject, &c.o.Data, jsonCol{&c.o.Header}, &c.o.Attempts,
				timeCol{&c.o.CreatedAt})
			return c, err
		}, `UPDATE outbox SET lease_until = ?, attempts = attempts + 1 WHERE seq IN (
			SELECT seq FROM outbox WHERE lease_until <= ? AND created_at <= ? ORDER BY seq LIMIT ?`+s.d.skipLocked+`)
			RETURNING seq, `+orderCols, micros(now.Add(lease)), micros(now), micros(norm(writtenBefore)), limit)
		return err
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	slices.SortFunc(rows, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Order, len(rows))
	for i, c := range rows {
		out[i] = c.o
	}
	return out, nil
}

// OrdersSent removes orders that JetStream has acknowledged.
func (s *SQL) OrdersSent(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.tx(ctx, func(cn conn) error {
		for _, id := range ids {
			if _, err := cn.exec(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail("mark orders sent", err)
	}
	return nil
}

// PendingOrders counts the orders not sent yet.
func (s *SQL) PendingOrders(ctx context.Context) (int, error) {
	var n int
	if err := s.read().row(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		return 0, s.fail("count pending orders", err)
	}
	return n, nil
}
