package imapfetch

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	env := map[string]string{EnvBatch: "50", EnvBudget: "30s", EnvMaxInterval: "12h"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.Batch != 50 || cfg.Budget != 30*time.Second || cfg.MaxInterval != 12*time.Hour || cfg.InFlight != DefaultConfig().InFlight {
		t.Fatalf("%+v %v", cfg, err)
	}
	env = map[string]string{EnvBatch: "many", EnvInFlight: "0", EnvLease: "10s", EnvBaseInterval: "x"}
	_, err = LoadConfig(func(k string) string { return env[k] })
	for _, want := range []string{EnvBatch, "at least 1", "lease", EnvBaseInterval} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestSlowed(t *testing.T) {
	cfg := DefaultConfig()
	for n, want := range map[int]time.Duration{3: 30 * time.Minute, 4: time.Hour, 9: 24 * time.Hour, 100: 24 * time.Hour} {
		if got := slowed(cfg, n); got != want {
			t.Errorf("slowed after %d failures = %s, want %s", n, got, want)
		}
	}
}
