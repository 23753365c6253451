package imapsync

import "errors"

// Kind says what went wrong with an IMAP account.
type Kind int

// Kinds of failure.
const (
	KindNetwork Kind = iota // connection, TLS, protocol, dropped connection
	KindAuth                // the server refused the credentials
	KindConfig              // settings or credentials unusable
)

// String names the kind for logs ("network", "auth", "config").
func (k Kind) String() string {
	return [...]string{"network", "auth", "config"}[k]
}

// Error is a failure of one IMAP operation.
type Error struct {
	Kind Kind
	Err  error
}

// Error returns the wrapped message.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

func fail(k Kind, err error) error { return &Error{Kind: k, Err: err} }

// KindOf returns the kind of err; an unclassified error is KindNetwork.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindNetwork
}
