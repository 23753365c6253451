package orders

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

func TestCore(t *testing.T) {
	core := Core("f", func(o *contract.RemoteOrder) string { return o.Order },
		map[string]Handler[contract.RemoteOrder]{"sync": func(context.Context, *contract.RemoteOrder) (fnhttp.Result, error) {
			return fnhttp.Result{Message: "synced"}, nil
		}})
	call := func(p any) (fnhttp.Result, error) {
		return core(context.Background(), &fnhttp.Call{Request: &contract.Request{Payload: p}})
	}
	if r, err := call(&contract.RemoteOrder{Order: "sync"}); err != nil || r.Message != "synced" {
		t.Errorf("sync: %+v %v", r, err)
	}
	for _, p := range []any{&contract.RemoteOrder{Order: "fullfetch"}, &contract.DeliverOrder{Order: "sync"}} {
		if _, err := call(p); faults.ClassOf(err) != faults.Permanent {
			t.Errorf("%T: %v, want a permanent error", p, err)
		}
	}
}

func TestStoreError(t *testing.T) {
	if err := StoreError("load", fmt.Errorf("x: %w", store.ErrNotFound)); faults.ClassOf(err) != faults.Permanent {
		t.Errorf("not found: %v", err)
	}
	if err := StoreError("load", errors.New("disk")); faults.ClassOf(err) != faults.Temporary {
		t.Errorf("disk: %v", err)
	}
}
