package store

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// RemoteHandles remembers the ids of a user's correspondents on protocols
// that address them by id (X user ids beside usernames), so that sending
// to a known username asks the remote API nothing.
type RemoteHandles interface {
	// RememberHandles records address → remote id pairs (addresses
	// compared lowercased); a known address takes the new id.
	RememberHandles(ctx context.Context, userID, protocol string, ids map[string]string) error
	// HandleID returns the remembered id of address; ErrNotFound when
	// none.
	HandleID(ctx context.Context, userID, protocol, address string) (string, error)
}

// RememberHandles records the remote ids of addresses (see RemoteHandles),
// in one write.
func (s *SQL) RememberHandles(ctx context.Context, userID, protocol string, ids map[string]string) error {
	const op = "remember handles"
	if userID == "" || protocol == "" {
		return invalid(op, "user id and protocol are required")
	}
	if len(ids) == 0 {
		return nil
	}
	now := micros(s.stamp())
	err := s.tx(ctx, func(c conn) error {
		for _, addr := range slices.Sorted(maps.Keys(ids)) {
			a, id := strings.ToLower(strings.TrimSpace(addr)), strings.TrimSpace(ids[addr])
			if a == "" || id == "" {
				continue
			}
			if _, err := c.exec(ctx, `INSERT INTO remote_handles (user_id, protocol, address, remote_id, updated_at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, protocol, address) DO UPDATE
				SET remote_id = excluded.remote_id, updated_at = excluded.updated_at
				WHERE remote_handles.remote_id <> excluded.remote_id`, userID, protocol, a, id, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// HandleID returns the remembered remote id of address.
func (s *SQL) HandleID(ctx context.Context, userID, protocol, address string) (string, error) {
	return first(ctx, s, "handle of "+address, func(r scanner) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	}, `SELECT remote_id FROM remote_handles WHERE user_id = ? AND protocol = ? AND address = ?`,
		userID, protocol, strings.ToLower(strings.TrimSpace(address)))
}
