package invokeauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/invokeauth"
)

const benchOrder = `{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`

// BenchmarkSignVerify is what signing adds to one invocation: the
// connector's Sign and the function's Verify. Compare it with
// BenchmarkDecodeBaseline, the contract's validation of the same order,
// which every invocation already pays (go test -bench . shows both).
func BenchmarkSignVerify(b *testing.B) {
	k, _ := invokeauth.ParseKeys(strings.Repeat("k", 64))
	c := invokeauth.Call{Method: "POST", Function: "smtp-deliver", Subject: "outboundSMTP", CorrelationID: "c1",
		Body: []byte(benchOrder)}
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		if err := k.Verify(now, k.Sign(now, c), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBaseline is the baseline of BenchmarkSignVerify.
func BenchmarkDecodeBaseline(b *testing.B) {
	s, _ := contract.Caliopen().Subject("outboundSMTP")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Decode([]byte(benchOrder)); err != nil {
			b.Fatal(err)
		}
	}
}
