package fnhttp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
)

// A core sees a validated, typed order; the adapter does the HTTP, the
// contract's validation, the reply shapes and the log line.
func ExampleNew() {
	core := func(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
		order := call.Request.Payload.(*contract.DeliverOrder)
		if order.RemoteID == "gone" {
			return fnhttp.Result{}, faults.Perm(errors.New("remote identity gone is deleted"))
		}
		return fnhttp.Result{Message: "sent " + order.MessageID}, nil
	}
	h := fnhttp.New(fnhttp.Config{Function: "smtp-deliver"}, contract.Caliopen(), core, slog.New(slog.DiscardHandler))

	for _, body := range []string{
		`{"order":"deliver","message_id":"m1","remote_id":"r1","user_id":"u1"}`,
		`{"order":"deliver","message_id":"m2","remote_id":"gone","user_id":"u1"}`,
		`{"order":"deliver","remote_id":"r1","user_id":"u1"}`,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get(fnhttp.HeaderServiceErrorCode), strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200  {"error":false,"message":"sent m1"}
	// 422 function_error {"error":true,"message":"remote identity gone is deleted"}
	// 400 missing_field {"error":true,"message":"missing field \"message_id\" in order \"deliver\" on outboundSMTP"}
}
