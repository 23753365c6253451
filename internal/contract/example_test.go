package contract_test

import (
	"fmt"

	"github.com/caliopen/functions/internal/contract"
)

func ExampleContract_Decode() {
	c := contract.Caliopen()
	req, err := c.Decode("outboundSMTP", []byte(`{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`))
	if err != nil {
		panic(err)
	}
	d := req.Payload.(*contract.DeliverOrder)
	fmt.Println(req.Subject.Queue, req.Order.Name, d.MessageID, req.Order.Reply)

	_, err = c.Decode("outboundSMTP", []byte(`{"order":"deliver","remote_id":"i1","user_id":"u1"}`))
	fmt.Println(err)
	fmt.Println(string(contract.ErrorReply(req.Order.Reply, contract.CodeMissingField, "missing field")))
	// Output:
	// SMTPqueue deliver m1 DeliverReply
	// missing field "message_id" in order "deliver" on outboundSMTP
	// {"error":true,"message":"missing field"}
}
