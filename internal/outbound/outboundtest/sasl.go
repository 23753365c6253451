package outboundtest

import (
	"bytes"
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of AUTH LOGIN.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

// Next asks for the user name, then the password.
func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

// XOAuth2Server is the server side of XOAUTH2 (Google's and Microsoft's
// bearer-token login, which go-sasl has no server for): check gets the user
// and the token.
func XOAuth2Server(check func(user, token string) error) sasl.Server {
	return &xoauth2Server{check: check}
}

// xoauth2Server is the server side of XOAUTH2.
type xoauth2Server struct {
	check func(user, token string) error
}

// Next reads "user=U\x01auth=Bearer T\x01\x01".
func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if len(resp) == 0 {
		return []byte{}, false, nil
	}
	var user, token string
	for _, f := range bytes.Split(resp, []byte{1}) {
		switch {
		case bytes.HasPrefix(f, []byte("user=")):
			user = string(f[5:])
		case bytes.HasPrefix(f, []byte("auth=Bearer ")):
			token = string(f[12:])
		}
	}
	if user == "" || token == "" {
		return nil, true, errors.New("malformed XOAUTH2 response")
	}
	return nil, true, x.check(user, token)
}
