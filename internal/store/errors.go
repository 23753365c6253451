package store

import (
	"database/sql"
	"errors"
	"fmt"
)

var (
	// ErrNotFound reports an object that does not exist, or that belongs to
	// another user, or a reference to such an object.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict reports a write that would break a uniqueness rule (a
	// second user with the same name, a local address already taken) or a
	// state transition that is not allowed (editing a draft being sent).
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid reports input the store refuses: a missing id, an unknown
	// enum value, a malformed page cursor.
	ErrInvalid = errors.New("store: invalid input")
)

// fail wraps err with the operation that failed, mapping sql.ErrNoRows and
// constraint violations onto the package's sentinels.
func (s *SQL) fail(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", op, s.d.classify(err))
}

// invalid builds an ErrInvalid error.
func invalid(op, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", op, ErrInvalid, fmt.Sprintf(format, args...))
}

// conflict builds an ErrConflict error.
func conflict(op, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", op, ErrConflict, fmt.Sprintf(format, args...))
}

// repeated handles a Create that failed with err: when err is a conflict and
// get finds the object under the caller's id with the same natural key
// (same), the Create was a repeat and its stored object is returned.
func repeated[T any](err error, get func() (T, error), same func(T) bool) (T, error) {
	var zero T
	if !errors.Is(err, ErrConflict) {
		return zero, err
	}
	got, gerr := get()
	if gerr != nil || !same(got) {
		return zero, err
	}
	return got, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
