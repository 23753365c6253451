package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caliopen/functions/internal/store"
)

// Open a SQLite store (a postgres:// DSN selects PostgreSQL), then store a
// received message twice: the second delivery is recognised by its
// Message-ID.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "caliopen-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "caliopen.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	u, err := s.CreateUser(ctx, store.User{Name: "alice", RecoveryEmail: "alice@example.org"})
	if err != nil {
		fmt.Println(err)
		return
	}
	local, err := s.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: "Alice@Caliopen.local"})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := store.Message{UserID: u.ID, IdentityIDs: []string{local.ID}, Subject: "hello",
		IsReceived: true, IsUnread: true, External: store.ExternalRefs{MessageID: "1@example.org"}}
	first, dup, _ := s.PutInbound(ctx, msg)
	fmt.Println("first delivery duplicate:", dup)
	again, dup, _ := s.PutInbound(ctx, msg)
	fmt.Println("second delivery duplicate:", dup, "same message:", again.ID == first.ID)

	found, _ := s.LookupIdentities(ctx, store.ProtocolEmail, "alice@caliopen.local")
	fmt.Println("recipient found:", len(found) == 1 && found[0].UserID == u.ID)
	_, err = s.GetMessage(ctx, "someone-else", first.ID)
	fmt.Println("other user sees it:", err == nil)
	// Output:
	// first delivery duplicate: false
	// second delivery duplicate: true same message: true
	// recipient found: true
	// other user sees it: false
}
