package dminbound

import (
	"strings"
	"testing"
)

func TestCheckDepth(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		max  int
		ok   bool
	}{
		{"flat", `{"a":1}`, 1, true},
		{"at the limit", `{"a":[{"b":2}]}`, 3, true},
		{"over the limit", `{"a":[{"b":2}]}`, 2, false},
		{"brackets in strings", `{"a":"[[[{{{"}`, 1, true},
		{"escaped quote", `{"a":"\"[[["}`, 1, true},
		{"deep", strings.Repeat("[", 17) + strings.Repeat("]", 17), 16, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDepth([]byte(tc.raw), tc.max)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckDepth(%s, %d) = %v, want ok %v", tc.raw, tc.max, err, tc.ok)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want int64
		ok   bool
	}{{"", 0, true}, {"4096", 4096, true}, {"0", 0, false}, {"-1", 0, false}, {"many", 0, false}} {
		cfg, err := LoadConfig(func(k string) string {
			if k == "MAX" {
				return tc.val
			}
			return ""
		}, "MAX")
		if (err == nil) != tc.ok || (tc.ok && cfg.MaxRawBytes != tc.want) {
			t.Errorf("LoadConfig(MAX=%q) = %+v, %v; want %d, ok %v", tc.val, cfg, err, tc.want, tc.ok)
		}
	}
}
