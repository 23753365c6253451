package keydiscovery

import (
	"testing"
	"time"
)

func FuzzParseAutocrypt(f *testing.F) {
	f.Add("addr=a@x; prefer-encrypt=mutual; keydata=a2V5")
	f.Add("addr=a@x; keydata=!!")
	f.Fuzz(func(t *testing.T, v string) {
		addr, data, err := ParseAutocrypt(v)
		if err == nil && (addr == "" || len(data) == 0 || len(data) > maxKeydata) {
			t.Errorf("ParseAutocrypt(%q) accepted addr %q with %d bytes", v, addr, len(data))
		}
	})
}

func FuzzIndexKeys(f *testing.F) {
	f.Add([]byte("info:1:1\npub:0123ABCD:22:256:1::\nuid:x:::\npub:FFFF:1:1:1:1:r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, id := range indexKeys(b) {
			if id == "" {
				t.Error("empty key id")
			}
		}
	})
}

func FuzzKeys(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0x98, 0x33, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Keys(b, "a@x.test", time.Now(), Limits{MaxBytes: 64 << 10, MaxKeys: 4})
	})
}
