package contract

import "testing"

func TestParseInboundReply(t *testing.T) {
	tests := []struct {
		body    string
		failed  bool
		code    string
		wantErr bool
	}{
		{body: `{"message":"OK","message_id":"m","discussion_id":"d"}`},
		{body: `{"error":"mime_rejected","message":"no"}`, failed: true, code: CodeMIMERejected},
		{body: `{"error":7,"message":"no"}`, failed: true},
		{body: `{"message":"OK"}`, wantErr: true},
		{body: `[1]`, wantErr: true},
		{body: ``, wantErr: true},
	}
	for _, tt := range tests {
		r, failed, err := ParseInboundReply([]byte(tt.body))
		if (err != nil) != tt.wantErr || failed != tt.failed || r.Error != tt.code {
			t.Errorf("ParseInboundReply(%s) = %+v, %v, %v; want failed %v code %q error %v", tt.body, r, failed, err,
				tt.failed, tt.code, tt.wantErr)
		}
	}
}

func TestParseDeliverReply(t *testing.T) {
	tests := []struct {
		body    string
		want    DeliverReply
		wantErr bool
	}{
		{body: `{"error":false,"message":"sent"}`, want: DeliverReply{Message: "sent"}},
		{body: `{"error":true,"message":"refused"}`, want: DeliverReply{Error: true, Message: "refused"}},
		{body: `{"message":"sent"}`, wantErr: true},
		{body: `{"error":"true"}`, wantErr: true},
	}
	for _, tt := range tests {
		r, err := ParseDeliverReply([]byte(tt.body))
		if (err != nil) != tt.wantErr || r != tt.want {
			t.Errorf("ParseDeliverReply(%s) = %+v, %v; want %+v, error %v", tt.body, r, err, tt.want, tt.wantErr)
		}
	}
}

func TestPermanentCodes(t *testing.T) {
	for _, c := range []string{CodeInvalidJSON, CodeMissingField, CodeMIMERejected, CodeRawTooLarge, CodeUnknownIdentity, CodeBadEvent} {
		if !PermanentCode(c) {
			t.Errorf("%s is not permanent", c)
		}
	}
	for _, c := range []string{CodeRawMissing, CodeRawNotFound, CodeTimeout, CodeNoFunction, CodeOverloaded, "store_unavailable"} {
		if PermanentCode(c) {
			t.Errorf("%s is permanent", c)
		}
	}
}
