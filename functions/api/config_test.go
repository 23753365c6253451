package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
)

func TestLoadConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := api.LoadConfig(env(nil))
	if err != nil || cfg != (api.Config{}) {
		t.Errorf("LoadConfig(empty) = %+v, %v; want the zero Config (defaults)", cfg, err)
	}
	cfg, err = api.LoadConfig(env(map[string]string{api.EnvLocalDomain: "mail.example", api.EnvAdminName: "root",
		api.EnvTokenTTL: "2h", api.EnvBcryptCost: "12", api.EnvMaxBodyBytes: "2048", api.EnvSendTimeout: "20s",
		api.EnvPublishTimeout: "1s", api.EnvTrustedProxyHops: "2", api.EnvLoginAddressBurst: "5",
		api.EnvLoginAddressEvery: "1m", api.EnvLoginAccountBurst: "50", api.EnvLoginAccountEvery: "2s"}))
	want := api.Config{LocalDomain: "mail.example", AdminName: "root", TokenTTL: 2 * time.Hour, BcryptCost: 12,
		MaxBodyBytes: 2048, SendTimeout: 20 * time.Second, PublishTimeout: time.Second, TrustedProxyHops: 2,
		Throttle: accounts.ThrottleConfig{AddressBurst: 5, AddressEvery: time.Minute, AccountBurst: 50, AccountEvery: 2 * time.Second}}
	if err != nil || cfg != want {
		t.Errorf("LoadConfig = %+v, %v; want %+v", cfg, err, want)
	}
	_, err = api.LoadConfig(env(map[string]string{api.EnvLocalDomain: "bad domain", api.EnvAdminName: "no way",
		api.EnvTokenTTL: "forever", api.EnvBcryptCost: "99", api.EnvMaxBodyBytes: "-1", api.EnvSendTimeout: "0s",
		api.EnvPublishTimeout: "soon", api.EnvTrustedProxyHops: "-1", api.EnvLoginAddressBurst: "none"}))
	if err == nil {
		t.Fatal("LoadConfig accepted a bad environment")
	}
	for _, w := range []string{api.EnvTokenTTL, api.EnvMaxBodyBytes, api.EnvSendTimeout, api.EnvPublishTimeout,
		api.EnvTrustedProxyHops, api.EnvLoginAddressBurst,
		`"bad domain" is not a domain name`, `admin name "no way"`, "bcrypt cost 99"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestNewReportsEverything(t *testing.T) {
	t.Parallel()
	_, err := api.New(api.Config{MaxBodyBytes: -1}, api.Deps{})
	if err == nil {
		t.Fatal("New accepted nil deps")
	}
	for _, w := range []string{"Store", "Blobs", "Emitter", "Sealer", "Logger", "max body bytes -1"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
