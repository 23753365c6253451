package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// TestContactPrivacy: on the running local system, a contact's privacy
// index and features, read back through the API, follow the mail
// exchanged with it and the key discovered for it (here from the
// Autocrypt header of its mail): contact_update by the API, discover_key,
// key-action's key and contact_update, contact-action's rules.
func TestContactPrivacy(t *testing.T) {
	api, _, smtpAddr := localSystemSMTP(t)
	admin := login(t, api, "admin", "admin-password-1")
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "dora", "password": "dora-password-1"})
	dora := login(t, api, "dora", "dora-password-1")
	contact := dora.must(201, "POST", "/contacts", map[string]any{"title": "Eve",
		"emails": []map[string]any{{"address": "eve@example.org"}}})["contact_id"].(string)
	pi := waitPrivacy(t, dora, contact, func(pi, f map[string]any) bool { return f["nb_protocols"] == "1" })
	if pi["technic"] != 0.0 || pi["context"] != 0.0 || pi["comportment"] != 0.0 {
		t.Errorf("new contact's pi = %v, want zeros", pi)
	}

	e, err := openpgp.NewEntity("Eve", "", "eve@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var bin bytes.Buffer
	if err := e.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	kd := base64.StdEncoding.EncodeToString(bin.Bytes())
	var folded strings.Builder
	for i := 0; i < len(kd); i += 70 {
		folded.WriteString("\r\n " + kd[i:min(i+70, len(kd))])
	}
	day := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	for i := range 10 {
		mail := fmt.Sprintf("From: Eve <eve@example.org>\r\nTo: dora@caliopen.local\r\nSubject: note %d\r\n"+
			"Message-ID: <privacy-%d@example.org>\r\nDate: %s\r\n", i, i, day.Add(time.Duration(i%2)*24*time.Hour).Format(time.RFC1123Z))
		if i == 9 {
			mail += "Autocrypt: addr=eve@example.org; prefer-encrypt=mutual; keydata=" + folded.String() + "\r\n"
		}
		if err := sendMail(smtpAddr, "dora@caliopen.local", mail+"\r\nHello.\r\n"); err != nil {
			t.Fatalf("mail %d: %v", i, err)
		}
	}
	dora.must(202, "POST", "/contacts/"+contact+"/actions", map[string]any{"actions": []string{"discover_key"}})
	var features map[string]any
	waitPrivacy(t, dora, contact, func(pi, f map[string]any) bool {
		features = f
		return pi["technic"] == 30.0 && pi["context"] == 10.0
	})
	if features["message_day_total"] != "10" || features["message_day_avg"] != "5.000" ||
		features["public_key_best_size"] != "3072" {
		t.Errorf("features = %v", features)
	}
	keys := dora.must(200, "GET", "/contacts/"+contact+"/publickeys", nil)["publickeys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["source"] != "autocrypt" {
		t.Errorf("contact's keys = %v, want the Autocrypt one", keys)
	}
}

// waitPrivacy reads the contact until ok accepts its pi and
// privacy_features.
func waitPrivacy(t *testing.T, c client, id string, ok func(pi, features map[string]any) bool) map[string]any {
	t.Helper()
	var got map[string]any
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = c.must(200, "GET", "/contacts/"+id, nil)
		pi, _ := got["pi"].(map[string]any)
		f, _ := got["privacy_features"].(map[string]any)
		if pi != nil && f != nil && ok(pi, f) {
			return pi
		}
	}
	t.Fatalf("contact %s never reached the expected privacy: %v", id, got)
	return nil
}
