// Package mastodonsys_test drives the Mastodon bridge through the whole
// local system against a real GoToSocial (scripts/test-peers/gotosocial.sh):
// the account added through the REST API, sync through the connector
// (mastodon_dm, then inboundMastodon), a draft sent through SendDraft.
package mastodonsys_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/mastoaccount"
	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/peertest"
	"github.com/caliopen/functions/system/systemtest"
)

const hint = "start GoToSocial with: vars=$(bash scripts/test-peers/gotosocial.sh) && eval \"$vars\""

func TestMastodonThroughTheSystem(t *testing.T) {
	url := peertest.Env(t, "CALIOPEN_TEST_GOTOSOCIAL_URL", hint)
	aliceTok := peertest.Env(t, "CALIOPEN_TEST_GOTOSOCIAL_ALICE_TOKEN", hint)
	bobTok := peertest.Env(t, "CALIOPEN_TEST_GOTOSOCIAL_BOB_TOKEN", hint)
	ctx := context.Background()
	// The instance is on loopback: allowed as an operator allows it.
	sys, err := systemtest.Start(ctx, systemtest.Options{Dir: t.TempDir(), Env: map[string]string{netguard.EnvAllow: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Error(err)
		}
	})
	dial := mastoaccount.NewDialer(mastoaccount.Config{Timeout: 20 * time.Second, Guard: netguard.MustParseAllow("127.0.0.1/32")})
	bob, err := dial.Client(url, bobTok)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := mastoapi.ParseInstance(url)
	b := make([]byte, 4)
	rand.Read(b)
	run := "s" + hex.EncodeToString(b)

	alice, err := sys.NewUser(ctx, "alice", "alice-password-1")
	if err != nil {
		t.Fatal(err)
	}
	var ident struct {
		ID string `json:"identity_id"`
	}
	if _, err := alice.Do(ctx, http.MethodPost, "/identities/remotes", map[string]any{"protocol": "mastodon",
		"identifier": "alice@" + base.Host, "infos": map[string]string{"url": url},
		"credentials": map[string]string{"oauth2accesstoken": aliceTok}}, &ident); err != nil {
		t.Fatal(err)
	}
	var user struct {
		ID string `json:"user_id"`
	}
	if _, err := alice.Do(ctx, http.MethodGet, "/me", nil, &user); err != nil || user.ID == "" {
		t.Fatalf("me: %v %+v", err, user)
	}

	// bob writes; a sync through the connector imports it.
	st, _, err := bob.PostStatus(ctx, mastoapi.Post{Status: "@alice " + run + " from bob", Visibility: mastoapi.VisibilityDirect}, "")
	if err != nil {
		t.Fatal(err)
	}
	sync, _ := json.Marshal(contract.RemoteOrder{Order: contract.OrderSync, RemoteID: ident.ID, UserID: user.ID})
	found := false
	for deadline := time.Now().Add(90 * time.Second); !found && time.Now().Before(deadline); {
		if rep, err := sys.NC.Request(contract.SubjectMastodonDM, sync, 10*time.Second); err != nil ||
			!strings.Contains(string(rep.Data), `"error":false`) {
			t.Fatalf("sync: %v %v", err, rep)
		}
		time.Sleep(time.Second)
		var page struct {
			Messages []struct {
				Body string `json:"body_plain"`
			} `json:"messages"`
		}
		if _, err := alice.Do(ctx, http.MethodGet, "/messages?limit=100", nil, &page); err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			found = found || strings.Contains(m.Body, run+" from bob")
		}
	}
	if !found {
		n, _ := sys.CountMessages(ctx, user.ID)
		var id map[string]any
		alice.Do(ctx, http.MethodGet, "/identities/remotes/"+ident.ID, nil, &id)
		t.Fatalf("bob's status %s never reached alice's messages (%d messages; identity %v)", st.ID, n, id)
	}

	// alice answers through SendDraft: mastodon_dm deliver.
	id, err := alice.Draft(ctx, ident.ID, []string{"bob@" + base.Host}, "", run+" from alice")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := alice.Send(ctx, id)
	if err != nil || !strings.Contains(msg, "has been sent") {
		t.Fatalf("send: %q %v", msg, err)
	}
	var sent struct {
		StatusID string `json:"external_message_id"`
	}
	if _, err := alice.Do(ctx, http.MethodGet, "/messages/"+id, nil, &sent); err != nil || sent.StatusID == "" {
		t.Fatalf("sent message: %v %+v", err, sent)
	}
	s, _, err := bob.Status(ctx, sent.StatusID)
	if err != nil || s.Visibility != mastoapi.VisibilityDirect || !strings.Contains(s.Content, run+" from alice") {
		t.Fatalf("bob reads %+v, %v", s, err)
	}
}
