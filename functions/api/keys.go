package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/store"
)

type keyRequest struct {
	Key   string `json:"key"` // an ASCII-armored OpenPGP public key
	Label string `json:"label"`
}

// createKey parses and stores a contact's public key (an upsert by
// fingerprint) and publishes publish_key (the original's CreatePGPPubKey).
func (s *server) createKey(w http.ResponseWriter, c *call) error {
	var in keyRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Key) == "" {
		return badRequest("missing_field", `missing field "key"`)
	}
	ct, err := s.contactOf(c)
	if err != nil {
		return err
	}
	k, err := parseKey(in.Key)
	if err != nil {
		return err
	}
	k.UserID, k.ContactID, k.Label = c.user.ID, ct.ID, in.Label
	var sent []store.Order
	order := s.keyOrder(c, contract.OrderPublishKey)
	if k, err = s.st.UpsertPublicKey(c.ctx, k, func(k store.PublicKey) store.Order {
		o := order(k)
		sent = append(sent, o)
		return o
	}); err != nil {
		return storeError("public key", err)
	}
	s.send(c, sent...)
	return reply(w, http.StatusCreated, viewKey(k))
}

// keyOf returns the key named by the path if it is the caller's and
// belongs to the contact named by the path.
func (s *server) keyOf(c *call) (store.PublicKey, error) {
	k, err := s.st.GetPublicKey(c.ctx, c.user.ID, c.r.PathValue("keyid"))
	if err != nil {
		return store.PublicKey{}, storeError("public key", err)
	}
	if k.ContactID != c.r.PathValue("id") {
		return store.PublicKey{}, notFound("public key")
	}
	return k, nil
}

// listKeys lists a contact's keys.
func (s *server) listKeys(w http.ResponseWriter, c *call) error {
	ct, err := s.contactOf(c)
	if err != nil {
		return err
	}
	keys, err := s.st.ListPublicKeys(c.ctx, c.user.ID, ct.ID)
	if err != nil {
		return storeError("public keys", err)
	}
	return reply(w, http.StatusOK, map[string]any{"publickeys": mapViews(keys, viewKey)})
}

// getKey returns one key of a contact.
func (s *server) getKey(w http.ResponseWriter, c *call) error {
	k, err := s.keyOf(c)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, viewKey(k))
}

// deleteKey removes a contact's key and publishes delete_key.
func (s *server) deleteKey(w http.ResponseWriter, c *call) error {
	k, err := s.keyOf(c)
	if err != nil {
		return err
	}
	o := s.keyOrder(c, contract.OrderDeleteKey)(k)
	if err := s.st.DeletePublicKey(c.ctx, c.user.ID, k.ID, o); err != nil {
		return storeError("public key", err)
	}
	s.send(c, o)
	return noContent(w)
}

// parseKey reads one armored OpenPGP public key, as the original did (it
// refused more than one), and describes it: fingerprint, algorithm, size,
// addresses of its user ids, expiry. The stored armor is re-encoded from
// the parsed packets, so nothing but the key is kept.
func parseKey(armored string) (store.PublicKey, error) {
	bad := func(format string, args ...any) error {
		return &apiError{status: http.StatusUnprocessableEntity, code: "invalid_key", msg: fmt.Sprintf(format, args...)}
	}
	list, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil {
		return store.PublicKey{}, bad("key is not an ASCII-armored OpenPGP public key")
	}
	if len(list) != 1 {
		return store.PublicKey{}, bad("key holds %d keys; send exactly one", len(list))
	}
	e := list[0]
	if e.PrivateKey != nil {
		return store.PublicKey{}, bad("key holds secret key material; send the public key only")
	}
	bits, err := e.PrimaryKey.BitLength()
	if err != nil {
		return store.PublicKey{}, bad("key's size cannot be read")
	}
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err == nil {
		err = errors.Join(e.Serialize(aw), aw.Close())
	}
	if err != nil {
		return store.PublicKey{}, fmt.Errorf("re-armor key: %w", err)
	}
	k := store.PublicKey{Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), Armored: buf.String(),
		Algorithm: keydiscovery.AlgorithmName(e.PrimaryKey.PubKeyAlgo), Size: int(bits), Emails: keyEmails(e)}
	if sig, _ := e.PrimarySelfSignature(); sig != nil && sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs > 0 {
		k.ExpiresAt = e.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	}
	return k, nil
}

// keyEmails returns the addresses of an entity's user ids, sorted.
func keyEmails(e *openpgp.Entity) []string {
	var out []string
	for _, id := range e.Identities {
		if id.UserId != nil && id.UserId.Email != "" {
			out = append(out, strings.ToLower(id.UserId.Email))
		}
	}
	sort.Strings(out)
	return out
}
