package contract

import "testing"

func BenchmarkDecode(b *testing.B) {
	c := Caliopen()
	s, _ := c.Subject("outboundSMTP")
	data := []byte(`{"message_id":"7f1c2b4e-0d55-4c3e-9a55-1d2f3e4a5b6c","order":"deliver","remote_id":"1a2b3c4d-5e6f-4711-8899-aabbccddeeff","user_id":"0f0e0d0c-0b0a-4999-8888-777766665555"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
