package fnhttp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr []string // substrings, all present
	}{
		{
			name: "defaults", env: map[string]string{"FUNCTION": "smtp-deliver"},
			want: Config{Function: "smtp-deliver"},
		},
		{
			name: "everything",
			env: map[string]string{
				"FUNCTION": "deliver-test", "FUNCTION_SUBJECTS": "outboundSMTP, outboundIMAP,",
				"exec_timeout": "9s", "FUNCTION_MAX_BODY_BYTES": "4096",
			},
			want: Config{Function: "deliver-test", Subjects: []string{"outboundSMTP", "outboundIMAP"},
				Timeout: 9 * time.Second, MaxBodyBytes: 4096},
		},
		{
			name: "exec_timeout in whole seconds, as of-watchdog reads it",
			env:  map[string]string{"FUNCTION": "smtp-deliver", "exec_timeout": "12"},
			want: Config{Function: "smtp-deliver", Timeout: 12 * time.Second},
		},
		{
			name: "every problem at once",
			env: map[string]string{"FUNCTION_SUBJECTS": " , ", "exec_timeout": "soon",
				"FUNCTION_MAX_BODY_BYTES": "-1"},
			wantErr: []string{"FUNCTION is required", "FUNCTION_SUBJECTS", "exec_timeout=\"soon\"", "FUNCTION_MAX_BODY_BYTES: want a whole number of at least 1"},
		},
		{
			name:    "zero timeout",
			env:     map[string]string{"FUNCTION": "x", "exec_timeout": "0s"},
			wantErr: []string{"exec_timeout=\"0s\": want a positive duration"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("LoadConfig() error = %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("LoadConfig() = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadConfig() = %+v, want an error", got)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadConfig() error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	c := contract.Caliopen()
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"contract function", Config{Function: "twitter-dm"}, nil},
		{"explicit subjects", Config{Function: "x", Subjects: []string{"keyAction"}}, nil},
		{"function with no subject", Config{Function: "nobody"}, []string{`function "nobody" serves no subject`, "smtp-deliver"}},
		{"unknown subject", Config{Function: "x", Subjects: []string{"keyAction", "nope"}}, []string{`subject "nope" is not in the contract`}},
		{"all at once", Config{Timeout: -1, MaxBodyBytes: -1}, []string{"function name is empty", "timeout", "max body bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate(c)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	got := Config{Function: "twitter-dm"}.withDefaults(contract.Caliopen())
	want := Config{Function: "twitter-dm", Subjects: []string{"twitter_dm"}, Timeout: DefaultTimeout, MaxBodyBytes: DefaultMaxBodyBytes}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withDefaults() = %+v, want %+v", got, want)
	}
}
