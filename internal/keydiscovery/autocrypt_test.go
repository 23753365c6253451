package keydiscovery

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func TestParseAutocrypt(t *testing.T) {
	kd := base64.StdEncoding.EncodeToString([]byte("key"))
	for _, tc := range []struct {
		in   string
		addr string
	}{
		{"addr=a@x; keydata=" + kd, "a@x"},
		{"addr=a@x; prefer-encrypt=mutual; _extra=1; keydata=" + kd[:2] + "\r\n " + kd[2:], "a@x"},
		{"addr=a@x; critical=1; keydata=" + kd, ""},
		{"addr=a@x", ""},
		{"keydata=" + kd, ""},
		{"addr=a@x; addr=b@x; keydata=" + kd, ""},
		{"addr=a@x; keydata=!!!", ""},
	} {
		addr, data, err := ParseAutocrypt(tc.in)
		if tc.addr == "" {
			if !errors.Is(err, ErrBadAutocrypt) {
				t.Errorf("ParseAutocrypt(%q) = %q, %v; want ErrBadAutocrypt", tc.in, addr, err)
			}
			continue
		}
		if err != nil || addr != tc.addr || string(data) != "key" {
			t.Errorf("ParseAutocrypt(%q) = %q %q %v", tc.in, addr, data, err)
		}
	}
}

func TestAutocryptPeerState(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := func(addr, key string) string {
		return "addr=" + addr + "; keydata=" + base64.StdEncoding.EncodeToString([]byte(key))
	}
	for _, tc := range []struct {
		name string
		mail []MailHeaders
		want string
	}{
		{"newest wins", []MailHeaders{
			{From: "a@x", Date: now.Add(-2 * time.Hour), Autocrypt: []string{h("a@x", "old")}},
			{From: "a@x", Date: now.Add(-time.Hour), Autocrypt: []string{h("a@x", "new")}},
		}, "new"},
		{"a newer message without a header keeps the key", []MailHeaders{
			{From: "a@x", Date: now, Autocrypt: nil},
			{From: "a@x", Date: now.Add(-time.Hour), Autocrypt: []string{h("A@X", "kept")}},
		}, "kept"},
		{"two headers count as none", []MailHeaders{
			{From: "a@x", Date: now, Autocrypt: []string{h("a@x", "one"), h("a@x", "two")}},
			{From: "a@x", Date: now.Add(-time.Hour), Autocrypt: []string{h("a@x", "older")}},
		}, "older"},
		{"header addr must be the sender", []MailHeaders{
			{From: "a@x", Date: now, Autocrypt: []string{h("b@x", "forged")}},
		}, ""},
		{"future date is clamped to now", []MailHeaders{
			{From: "a@x", Date: now.Add(48 * time.Hour), Autocrypt: []string{h("a@x", "future")}},
			{From: "a@x", Date: now.Add(time.Second), Autocrypt: []string{h("a@x", "later")}},
		}, "future"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Autocrypt{Now: func() time.Time { return now.Add(time.Minute) },
				Mail: func(context.Context, string) ([]MailHeaders, error) { return tc.mail, nil }}
			got, err := a.Lookup(context.Background(), "a@x")
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(got) != 0 {
					t.Errorf("found %q, want nothing", got[0].Data)
				}
				return
			}
			if len(got) != 1 || !bytes.Equal(got[0].Data, []byte(tc.want)) {
				t.Errorf("found %v, want %q", got, tc.want)
			}
		})
	}
}
