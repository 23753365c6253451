package provider_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"

	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/provider"
	"github.com/caliopen/functions/internal/provider/providertest"
	"github.com/caliopen/functions/systest/connectortest"
)

// TestInvokeKeyRotation: the invocation key, as /system/secrets (faas-cli
// secret) sees it, can be neither removed nor replaced by a value the
// functions cannot use, nor by one that drops the key signing now; it
// rotates in two updates while the connector signs orders throughout,
// without a restart, and no call is refused on the way. The connector
// reads the key as the local system's does, from the provider's secret.
func TestInvokeKeyRotation(t *testing.T) {
	h := newHarness(t, "", nil, time.Minute)
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	env := providertest.Env("contact-action", h.dir)
	env[invokeauth.EnvKey+"_FILE"] = provider.SecretsMount + invokeKeySecret
	if code, body := h.do(t, http.MethodPost, "/system/functions", types.FunctionDeployment{Service: "contact-action",
		Image: "local/contact-action", EnvVars: env, Secrets: []string{invokeKeySecret},
		Labels:      &map[string]string{provider.LabelScaleMin: "1", provider.LabelScaleMax: "1"},
		Annotations: &map[string]string{"topic": "contactAction", "caliopen.queue": "contactQueue"}}); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}

	// Its replica ready first: a call held while a replica starts was
	// signed before it waited, and the rotation's second step waits only
	// for the signers, not for such calls (docs/deploy.md).
	waitFor(t, "contact-action's replica", func() bool { return h.status(t, "contact-action").AvailableReplicas == 1 })
	keys, err := invokeauth.LoadFile(h.p.SecretFile(invokeKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	_, reg := connectortest.Start(t, ns.ClientURL(), h.url, keys)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := t.Context()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// Orders every 20 ms from now until the rotation is done.
	var (
		mu   sync.Mutex
		sent []string
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			id := fmt.Sprintf("c-%04d", i)
			if _, err := js.Publish(ctx, "contactAction", []byte(`{"order":"contact_update","contact_id":"`+id+`","user_id":"u1"}`)); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			sent = append(sent, id)
			mu.Unlock()
		}
	}()
	secret := func(method, value string) (int, string) {
		return h.do(t, method, "/system/secrets", types.Secret{Name: invokeKeySecret, Value: value})
	}
	old := invokeauth.First(readSecret(t, h))
	next := rand.Text() + rand.Text()
	time.Sleep(300 * time.Millisecond)
	for _, c := range []struct {
		what, method, value string
		code                int
		says                string
	}{
		{"remove", http.MethodDelete, "", http.StatusConflict, "cannot be removed"},
		{"create again", http.MethodPost, next, http.StatusConflict, "exists"},
		{"update to nothing", http.MethodPut, "", http.StatusBadRequest, "not a usable invocation key"},
		{"update to a short key", http.MethodPut, "short", http.StatusBadRequest, "not a usable invocation key"},
		{"update to the new key alone", http.MethodPut, next, http.StatusBadRequest, "drops the key that signs now"},
		{"the new key first, the old kept", http.MethodPut, next + "\n" + old + "\n", http.StatusAccepted, ""},
	} {
		if code, body := secret(c.method, c.value); code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q, want %d saying %q", c.what, code, body, c.code, c.says)
		}
	}
	// Once the connector signs with the new key, and the calls it signed
	// with the old one are answered, the old one goes.
	time.Sleep(invokeauth.ReloadEvery + time.Second)
	if code, body := secret(http.MethodPut, next+"\n"); code != http.StatusAccepted {
		t.Errorf("the new key alone, after the connector moved: %d %s", code, body)
	}
	time.Sleep(invokeauth.ReloadEvery + 300*time.Millisecond)
	close(stop)
	<-done

	mu.Lock()
	want := slices.Clone(sent)
	mu.Unlock()
	if len(want) < 50 {
		t.Fatalf("only %d orders sent during the rotation", len(want))
	}
	providertest.WaitFor(t, "every order processed", func() bool { return len(providertest.Processed(t, h.dir)) >= len(want) })
	got := providertest.Processed(t, h.dir)
	slices.Sort(got)
	if !slices.Equal(slices.Compact(got), want) {
		t.Errorf("processed %d distinct of %d sent", len(slices.Compact(got)), len(want))
	}
	// No invocation was refused on the way: every answer was 200.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "caliopen_connector_invocations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() != "200" {
					t.Errorf("%v invocations answered %s during the rotation", m.GetCounter().GetValue(), l.GetValue())
				}
			}
		}
	}
	// The old key is refused now; the new one signs.
	oldKeys, _ := invokeauth.ParseKeys(old)
	h.keys = oldKeys
	if code, body, err := h.invoke(ctx, "contact-action", "contactAction", `{"order":"contact_update","contact_id":"c-old","user_id":"u1"}`); err != nil || code != http.StatusUnauthorized {
		t.Errorf("a call signed with the removed key = %d %s %v, want 401", code, body, err)
	}
	h.keys = keys
	if code, body, err := h.invoke(ctx, "contact-action", "contactAction", `{"order":"contact_update","contact_id":"c-new","user_id":"u1"}`); err != nil || code != http.StatusOK {
		t.Errorf("a call signed with the new key = %d %s %v, want 200", code, body, err)
	}
}

// readSecret is the invocation key's file as the replicas read it.
func readSecret(t *testing.T, h *harness) string {
	t.Helper()
	b, err := os.ReadFile(h.p.SecretFile(invokeKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
