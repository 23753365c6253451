package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/xapitest"
)

// TestEndToEndTwitter drives the local system over its API only, with a
// twitter identity pointing at the in-process X API server: the
// scheduler's sync brings the direct messages of one-to-one and group
// conversations into discussions (add_identity → identities-orders →
// scheduler → twitter_dm sync → twitter-dm → process_inbound →
// inbound-twitter), two pages a sync and the rest in follow-up syncs
// through the connector; the rate limit stops the walk and slows polling
// down (update_interval), a sync before the reset calls nothing, the one
// after it resumes the import, and its follow-up finishes it and restores
// the interval; a reply sent twice through SendDraft reaches X once.
func TestEndToEndTwitter(t *testing.T) {
	x := xapitest.New()
	defer x.Close()
	// The server's 15-minute windows started just under 15 minutes ago:
	// the first window ends seconds after the first request.
	const resetIn = 6 * time.Second
	x.SetNow(func() time.Time { return time.Now().Add(-xapitest.Window + resetIn) })
	x.AddUser("100", "erin", "Erin")
	x.AddBearer("erin-token", "100", time.Time{})
	friends := []string{"200", "300", "400", "500"}
	for i, id := range friends {
		x.AddUser(id, "friend"+strconv.Itoa(i), "Friend "+strconv.Itoa(i))
	}
	g1 := x.Group("200", "100", "300")
	g2 := x.Group("400", "100", "500", "200")
	const n = 500
	for i := range n {
		switch i % 5 {
		case 3:
			x.GroupMessage(g1, friends[i%2], "dm "+strconv.Itoa(i))
		case 4:
			x.GroupMessage(g2, "500", "dm "+strconv.Itoa(i))
		default:
			x.Message(friends[i%4], "100", "dm "+strconv.Itoa(i))
		}
	}
	x.SetLimit(xapitest.GroupDMLookup, 3) // 502 events are 6 pages

	// Two pages a sync: the rest goes on in follow-up syncs through the connector.
	api, nc, _ := localSystemEnv(t, map[string]string{"TWITTER_API_URL": x.URL, "TWITTER_DM_MAX_PAGES": "2"})
	ids := watch(t, nc, "identitiesWorker")
	admin := login(t, api, "admin", "admin-password-1")
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "erin", "password": "erin-password-1"})
	erin := login(t, api, "erin", "erin-password-1")
	identity := erin.must(201, "POST", "/identities/remotes", map[string]any{"protocol": "twitter", "identifier": "erin",
		"infos": map[string]string{"authtype": "oauth2"}, "credentials": map[string]string{"oauth2accesstoken": "erin-token"}})["identity_id"].(string)
	me := erin.must(200, "GET", "/me", nil)["user_id"].(string)
	ids.next("add_identity")

	// The first sync reads 3 pages, stores what it read and slows down.
	m := ids.next("update_interval after the rate limit")
	var slow map[string]any
	json.Unmarshal(m.Data, &slow)
	if slow["order"] != "update_interval" || slow["protocol"] != "twitter" || slow["identity_id"] != identity || slow["user_id"] != me {
		t.Fatalf("order %s, want update_interval of the twitter identity", m.Data)
	}
	if mins, _ := strconv.Atoi(fmt.Sprint(slow["poll_intervall"])); mins < 4 {
		t.Errorf("poll_intervall %v, want at least twice the 2 minutes", slow["poll_intervall"])
	}
	// Syncs sent before the reset call nothing; the one after it (sent
	// here rather than in the slowed interval's minutes) finishes the
	// import and restores the interval.
	lookups := x.Requests()[xapitest.GroupDMLookup]
	reset, err := strconv.ParseInt(x.LastHeader("x-rate-limit-reset"), 10, 64)
	if err != nil {
		t.Fatalf("no reset header: %v", err)
	}
	x.SetLimit(xapitest.GroupDMLookup, 300)
	sync := fmt.Sprintf(`{"order":"sync","remote_id":"%s","user_id":"%s"}`, identity, me)
	for time.Until(time.Unix(reset, 0)) > 500*time.Millisecond {
		if err := nc.Publish("twitter_dm", []byte(sync)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if got := x.Requests()[xapitest.GroupDMLookup]; got != lookups && time.Now().Before(time.Unix(reset, 0)) {
			t.Fatalf("a sync before the reset called dm_events %d times", got-lookups)
		}
	}
	time.Sleep(time.Until(time.Unix(reset, 0)) + 100*time.Millisecond)
	if err := nc.Publish("twitter_dm", []byte(sync)); err != nil {
		t.Fatal(err)
	}
	msgs := waitMessages(t, erin, n, 60*time.Second)
	restore := ids.next("update_interval once syncing works again")
	if want := fmt.Sprintf(`{"identity_id":"%s","order":"update_interval","poll_intervall":"2","protocol":"twitter","user_id":"%s"}`,
		identity, me); string(restore.Data) != want {
		t.Errorf("restore %s, want %s", restore.Data, want)
	}
	discussions := map[string]int{}
	texts := map[string]bool{}
	var fromBob map[string]any
	for _, msg := range msgs {
		discussions[fmt.Sprint(msg["discussion_id"])]++
		texts[fmt.Sprint(msg["body_plain"])] = true
		if msg["body_plain"] == "dm 0" {
			fromBob = msg
		}
	}
	// 4 one-to-one conversations and 2 groups.
	if len(discussions) != 6 || len(texts) != n {
		t.Errorf("%d discussions and %d distinct texts, want 6 and %d", len(discussions), len(texts), n)
	}

	// Erin answers friend0 twice through SendDraft: X gets one message, in
	// the conversation's discussion.
	draft := erin.must(201, "POST", "/messages", map[string]any{"identity_id": identity, "body_plain": "thanks!",
		"participants": []map[string]string{{"type": "To", "address": "friend0"}}})["message_id"].(string)
	erin.must(200, "POST", "/messages/"+draft+"/actions", map[string]any{"actions": []string{"send"}})
	if code, _ := erin.do("POST", "/messages/"+draft+"/actions", map[string]any{"actions": []string{"send"}}); code != 409 {
		t.Errorf("second send = %d, want 409", code)
	}
	if sent := x.Sent(); len(sent) != 1 || sent[0].Text != "thanks!" || sent[0].Conversation != "100-200" {
		t.Errorf("X got %+v, want one message to friend0", sent)
	}
	sent := erin.must(200, "GET", "/messages/"+draft, nil)
	if sent["discussion_id"] != fromBob["discussion_id"] || sent["is_draft"] != false {
		t.Errorf("sent message %v, want it in friend0's discussion %v", sent, fromBob["discussion_id"])
	}
}

// waitMessages waits until the user has want messages of protocol twitter
// and returns them.
func waitMessages(t *testing.T, c client, want int, within time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var all []map[string]any
		after := ""
		for {
			out := c.must(200, "GET", "/messages?limit=100&after="+url.QueryEscape(after), nil)
			for _, m := range out["messages"].([]any) {
				if m.(map[string]any)["protocol"] == "twitter" {
					all = append(all, m.(map[string]any))
				}
			}
			next, _ := out["next"].(string)
			if next == "" {
				break
			}
			after = next
		}
		if len(all) >= want {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages after %s", len(all), want, within)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestEndToEndTwitterBadOrders sends bad orders on the three subjects of
// the bridge to the running local system: requests get error replies with
// a code, published orders end as dead letters with their reason, and
// nothing is retried in a loop.
func TestEndToEndTwitterBadOrders(t *testing.T) {
	api, nc, _ := localSystemEnv(t, nil)
	admin := login(t, api, "admin", "admin-password-1")
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "erin", "password": "erin-password-1"})
	erin := login(t, api, "erin", "erin-password-1")
	me := erin.must(200, "GET", "/me", nil)["user_id"].(string)
	mail := erin.must(201, "POST", "/identities/remotes", map[string]any{"protocol": "email", "identifier": "erin@remote.example",
		"infos": map[string]string{"inserver": "127.0.0.1:9"}})["identity_id"].(string)
	// Dead letters read as the operator reads them (caliopen dlq): an
	// ordered consumer of the dead-letter stream, from now on.
	dlq := deadLetters(t, nc)

	for _, tc := range []struct{ name, subject, body, code string }{
		{"bad JSON", "inboundTwitter", `{"order":`, "invalid_json"},
		{"missing field", "inboundTwitter", `{"order":"process_inbound","user_id":"` + me + `"}`, "missing_field"},
		{"unknown raw message", "inboundTwitter", fmt.Sprintf(`{"message_id":"%s","order":"process_inbound","remote_id":"nope","user_id":"%s"}`,
			strings.Repeat("ab", 32), me), "raw_not_found"},
		{"deliver for an e-mail identity", "twitter_dm", fmt.Sprintf(`{"message_id":"m1","order":"deliver","remote_id":"%s","user_id":"%s"}`,
			mail, me), "bad_identity"},
		{"deliver for an unknown identity", "twitter_dm", fmt.Sprintf(`{"message_id":"m1","order":"deliver","remote_id":"nope","user_id":"%s"}`,
			me), "unknown_identity"},
	} {
		reply, err := nc.Request(tc.subject, []byte(tc.body), 10*time.Second)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var r map[string]any
		json.Unmarshal(reply.Data, &r)
		if reply.Header.Get("Nats-Service-Error-Code") != tc.code || r["error"] == nil || r["error"] == false {
			t.Errorf("%s: reply %s (code %q), want an error with code %s", tc.name, reply.Data, reply.Header.Get("Nats-Service-Error-Code"), tc.code)
		}
	}

	for _, tc := range []struct{ name, subject, body, code string }{
		{"worker order without remote_id", "twitter_worker", `{"order":"add_worker","user_id":"` + me + `"}`, "missing_field"},
		{"worker order for an e-mail identity", "twitter_worker", fmt.Sprintf(`{"order":"add_worker","remote_id":"%s","user_id":"%s"}`,
			mail, me), "not_twitter_identity"},
		{"sync of an unknown identity", "twitter_dm", fmt.Sprintf(`{"order":"sync","remote_id":"nope","user_id":"%s"}`, me), "unknown_identity"},
		{"sync of an e-mail identity", "twitter_dm", fmt.Sprintf(`{"order":"sync","remote_id":"%s","user_id":"%s"}`, mail, me), "bad_identity"},
	} {
		if err := nc.Publish(tc.subject, []byte(tc.body)); err != nil {
			t.Fatal(err)
		}
		select {
		case dl := <-dlq:
			if dl.Headers().Get("Caliopen-Error-Code") != tc.code || dl.Headers().Get("Caliopen-Error") == "" || string(dl.Data()) != tc.body {
				t.Errorf("%s: dead letter %s on %s with code %q (%s), want code %s", tc.name, dl.Data(), dl.Subject(),
					dl.Headers().Get("Caliopen-Error-Code"), dl.Headers().Get("Caliopen-Error"), tc.code)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: no dead letter", tc.name)
		}
	}
	select {
	case dl := <-dlq:
		t.Errorf("one more dead letter: %s", dl.Data())
	case <-time.After(500 * time.Millisecond):
	}
}

// deadLetters delivers the dead letters published from now on, read with
// an ordered consumer of the dead-letter stream as the operator may.
func deadLetters(t *testing.T, nc *nats.Conn) <-chan jetstream.Msg {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), "CALIOPEN_ORDERS_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(t.Context(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"caliopen.dlq.>"}, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan jetstream.Msg, 16)
	cc, err := cons.Consume(func(m jetstream.Msg) { out <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return out
}
