package dmbridge

import (
	"strings"
	"testing"
	"time"
)

func TestEnvFor(t *testing.T) {
	got := EnvFor("TWITTER_DM", "CALIOPEN_POLL_TWITTER_INTERVAL")
	want := Env{MaxPages: "TWITTER_DM_MAX_PAGES", InFlight: "TWITTER_DM_IN_FLIGHT", ProcessTimeout: "TWITTER_DM_PROCESS_TIMEOUT",
		Budget: "TWITTER_DM_BUDGET", Lease: "TWITTER_DM_LEASE", SendLease: "TWITTER_DM_SEND_LEASE",
		BaseInterval: "CALIOPEN_POLL_TWITTER_INTERVAL", MaxInterval: "TWITTER_DM_MAX_INTERVAL"}
	if got != want {
		t.Fatalf("EnvFor = %+v, want %+v", got, want)
	}
}

func TestSettingsLoad(t *testing.T) {
	env := EnvFor("X_DM", "X_POLL")
	for _, tc := range []struct {
		name  string
		vars  map[string]string
		want  string // in the error; "" for none
		check func(Settings) bool
	}{
		{"defaults", nil, "", func(s Settings) bool { return s == DefaultSettings(50) }},
		{"set", map[string]string{"X_DM_MAX_PAGES": "7", "X_DM_SEND_LEASE": "30s", "X_POLL": "5m"}, "",
			func(s Settings) bool {
				return s.MaxPages == 7 && s.SendLease == 30*time.Second && s.BaseInterval == 5*time.Minute
			}},
		{"bad number", map[string]string{"X_DM_IN_FLIGHT": "many"}, "X_DM_IN_FLIGHT", nil},
		{"lease too short", map[string]string{"X_DM_LEASE": "5s"}, "must exceed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings(50)
			err := s.Load(func(k string) string { return tc.vars[k] }, env)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Load error %v, want one naming %q", err, tc.want)
			case tc.check != nil && !tc.check(s):
				t.Fatalf("Load read %+v", s)
			}
		})
	}
}
