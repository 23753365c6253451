package fnhttp

import (
	"context"
	"testing"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
)

func TestDispatch(t *testing.T) {
	core := Dispatch("f", func(o *contract.RemoteOrder) string { return o.Order },
		map[string]OrderHandler[contract.RemoteOrder]{"sync": func(context.Context, *contract.RemoteOrder) (Result, error) {
			return Result{Message: "synced"}, nil
		}})
	call := func(p any) (Result, error) {
		return core(context.Background(), &Call{Request: &contract.Request{Payload: p}})
	}
	if r, err := call(&contract.RemoteOrder{Order: "sync"}); err != nil || r.Message != "synced" {
		t.Errorf("sync: %+v %v", r, err)
	}
	for _, tt := range []struct {
		payload any
		code    string
	}{
		{&contract.RemoteOrder{Order: "fullfetch"}, contract.CodeUnknownOrder},
		{&contract.DeliverOrder{Order: "sync"}, ""},
	} {
		_, err := call(tt.payload)
		if faults.ClassOf(err) != faults.Permanent || codeOf(err, "") != tt.code {
			t.Errorf("%+v: %v (code %q), want a permanent error with code %q", tt.payload, err, codeOf(err, ""), tt.code)
		}
	}
}
