// Package processsys_test runs the connector against the local gateway in
// process mode: functions as processes of their own, behind the provider.
package processsys_test

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/provider"
	"github.com/caliopen/functions/internal/provider/providertest"
	"github.com/caliopen/functions/systest/connectortest"
)

func TestMain(m *testing.M) {
	providertest.MaybeRun()
	os.Exit(m.Run())
}

// TestKilledReplicaRedelivers: a publish/subscribe order is in the core of
// contact-action's only replica when the replica gets SIGKILL; the
// connector does not ack it, JetStream redelivers it to the replacement,
// and it is processed exactly once.
func TestKilledReplicaRedelivers(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)

	var names []string
	for _, s := range functions.All() {
		names = append(names, s.Name)
	}
	reg := prometheus.NewRegistry()
	p, err := provider.New(provider.Config{Binary: os.Args[0], DataDir: filepath.Join(dir, "provider"), Functions: names,
		IdleTimeout: time.Minute, StopGrace: 10 * time.Second}, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	key := rand.Text() + rand.Text()
	keys, err := invokeauth.ParseKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PutSecret("caliopen-invoke-key", []byte(key)); err != nil {
		t.Fatal(err)
	}
	var fns []gateway.Function
	for _, n := range names {
		fns = append(fns, gateway.Function{Name: n, Handler: p.Function(n)})
	}
	gw, err := gateway.New(gateway.Config{Provider: p.Handlers()}, fns, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	fakeDir := t.TempDir()
	env := providertest.Env("contact-action", fakeDir)
	env["CALIOPEN_INVOKE_KEY_FILE"] = provider.SecretsMount + "caliopen-invoke-key"
	if err := p.Deploy(types.FunctionDeployment{Service: "contact-action", Image: "local/contact-action", EnvVars: env,
		Secrets:     []string{"caliopen-invoke-key"},
		Labels:      &map[string]string{provider.LabelScaleMin: "1", provider.LabelScaleMax: "1"},
		Annotations: &map[string]string{"topic": "contactAction", "caliopen.queue": "contactQueue"}}); err != nil {
		t.Fatal(err)
	}

	cfg, _ := connectortest.Start(t, ns.ClientURL(), srv.URL, keys)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := t.Context()

	release := providertest.Hold(t, fakeDir)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "contactAction", []byte(`{"order":"contact_update","contact_id":"c-killed","user_id":"u1"}`)); err != nil {
		t.Fatal(err)
	}
	var pid int
	providertest.WaitFor(t, "the order held in the core", func() bool {
		for _, in := range p.Instances("contact-action") {
			if in.InFlight == 1 && strings.Contains(logsOf(t, srv.URL), `\"msg\":\"holding\"`) {
				pid = in.PID
			}
		}
		return pid != 0
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	release()
	providertest.WaitFor(t, "the order processed", func() bool { return len(providertest.Processed(t, fakeDir)) > 0 })
	cons, err := js.Consumer(ctx, cfg.StreamName, "contactQueue_contactAction")
	if err != nil {
		t.Fatal(err)
	}
	providertest.WaitFor(t, "the order acknowledged", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	if got := providertest.Processed(t, fakeDir); !slices.Equal(got, []string{"c-killed"}) {
		t.Errorf("processed %v, want c-killed exactly once", got)
	}
	if in := p.Instances("contact-action"); len(in) != 1 || in[0].PID == pid {
		t.Errorf("instances = %+v, want one replacement", in)
	}
}

func logsOf(t *testing.T, gatewayURL string) string {
	t.Helper()
	resp, err := http.Get(gatewayURL + "/system/logs?name=contact-action&follow=false")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
