package store

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page selects one page of a list. Lists use keyset pagination: a page
// starts after the last item of the previous one, so objects written while a
// client pages through a list neither repeat nor shift the pages.
type Page struct {
	// Limit is the maximum number of items; 0 means DefaultLimit, and values
	// above MaxLimit are lowered to it.
	Limit int
	// After is the cursor returned with the previous page; "" starts at the
	// beginning.
	After string
}

// Page size bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// cursor is a decoded Page.After: the sort key and id of the last item.
type cursor struct {
	key string
	id  string
}

func encodeCursor(key, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key + "\x00" + id))
}

func decodeCursor(op, s string) (cursor, bool, error) {
	if s == "" {
		return cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, false, invalid(op, "bad page cursor")
	}
	key, id, ok := strings.Cut(string(b), "\x00")
	if !ok || id == "" {
		return cursor{}, false, invalid(op, "bad page cursor")
	}
	return cursor{key: key, id: id}, true, nil
}

// timeCursor encodes the cursor of an item sorted by time.
func timeCursor(t time.Time, id string) string {
	return encodeCursor(strconv.FormatInt(t.UnixMicro(), 10), id)
}

// micro returns the cursor key as a micros column value.
func (c cursor) micro(op string) (int64, error) {
	v, err := strconv.ParseInt(c.key, 10, 64)
	if err != nil {
		return 0, invalid(op, "bad page cursor")
	}
	return v, nil
}

// pageOf trims items fetched with limit+1 to limit and returns the cursor of
// the next page ("" when this is the last one).
func pageOf[T any](items []T, limit int, next func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, next(items[limit-1])
}

// listQuery describes one keyset-paginated list.
type listQuery[T any] struct {
	op     string
	query  string // SELECT ... WHERE ..., without ORDER BY
	args   []any
	after  string // condition for items after the cursor, with two '?': key then id
	order  string // ORDER BY clause matching after
	timed  bool   // the cursor key is a micros timestamp rather than text
	scan   func(scanner) (T, error)
	cursor func(T) string
}

// list runs q for page p.
func list[T any](ctx context.Context, c conn, s *SQL, p Page, q listQuery[T]) ([]T, string, error) {
	cur, ok, err := decodeCursor(q.op, p.After)
	if err != nil {
		return nil, "", err
	}
	query, args := q.query, q.args
	if ok {
		var key any = cur.key
		if q.timed {
			if key, err = cur.micro(q.op); err != nil {
				return nil, "", err
			}
		}
		query += " AND " + q.after
		args = append(args[:len(args):len(args)], key, cur.id)
	}
	query += " " + q.order + " LIMIT ?"
	args = append(args[:len(args):len(args)], p.limit()+1)
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, "", s.fail(q.op, err)
	}
	items, err := collect(rows, q.scan)
	if err != nil {
		return nil, "", s.fail(q.op, err)
	}
	items, next := pageOf(items, p.limit(), q.cursor)
	return items, next, nil
}
