package imapdeliver

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig(func(k string) string { return map[string]string{EnvIMAPTimeout: "5s"}[k] })
	if err != nil || cfg.IMAPTimeout != 5*time.Second || cfg.SendTimeout != 25*time.Second {
		t.Fatalf("%+v %v", cfg, err)
	}
	_, err = LoadConfig(func(k string) string { return map[string]string{EnvIMAPTimeout: "x", EnvSendTimeout: "-1s"}[k] })
	if err == nil || !strings.Contains(err.Error(), EnvIMAPTimeout) || !strings.Contains(err.Error(), "send timeout") {
		t.Errorf("errors: %v", err)
	}
}
