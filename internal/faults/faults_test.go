package faults

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

type smtpLike struct{ temp bool }

func (e smtpLike) Error() string   { return "smtp" }
func (e smtpLike) Temporary() bool { return e.temp }

type validation struct{}

func (validation) Error() string   { return "bad" }
func (validation) Permanent() bool { return true }

func TestClassOf(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name   string
		err    error
		want   Class
		status int
	}{
		{"unknown is temporary", base, Temporary, 503},
		{"perm", Perm(base), Permanent, 422},
		{"perm wrapped", fmt.Errorf("load draft: %w", Perm(base)), Permanent, 422},
		{"outer mark wins", Temp(Perm(base)), Temporary, 503},
		{"throttle", Throttle(base), Throttled, 429},
		{"own Permanent method", fmt.Errorf("decode: %w", validation{}), Permanent, 422},
		{"Temporary() false is permanent", smtpLike{temp: false}, Permanent, 422},
		{"Temporary() true", smtpLike{temp: true}, Temporary, 503},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), Temporary, 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassOf(tt.err); got != tt.want {
				t.Errorf("ClassOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if got := HTTPStatus(tt.err); got != tt.status {
				t.Errorf("HTTPStatus(%v) = %d, want %d", tt.err, got, tt.status)
			}
		})
	}
	if Perm(nil) != nil || Temp(nil) != nil {
		t.Error("marking nil must stay nil")
	}
}

func TestFromStatus(t *testing.T) {
	tests := []struct {
		code   int
		class  Class
		failed bool
	}{
		{200, 0, false}, {204, 0, false}, {400, Permanent, true}, {404, Permanent, true},
		{422, Permanent, true}, {408, Temporary, true}, {429, Throttled, true},
		{500, Temporary, true}, {503, Temporary, true}, {504, Temporary, true}, {302, Temporary, true},
	}
	for _, tt := range tests {
		c, failed := FromStatus(tt.code)
		if failed != tt.failed || (failed && c != tt.class) {
			t.Errorf("FromStatus(%d) = %v,%v, want %v,%v", tt.code, c, failed, tt.class, tt.failed)
		}
	}
}
