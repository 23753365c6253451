package accounts_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/store"
)

// Create a user, log in, use the token, log out.
func Example() {
	dir, _ := os.MkdirTemp("", "accounts-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "caliopen.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	svc, err := accounts.New(accounts.Config{LocalDomain: "caliopen.local", BcryptCost: bcrypt.MinCost}, st)
	if err != nil {
		panic(err)
	}
	_, local, err := svc.CreateUser(ctx, accounts.NewUser{Name: "Bob", Password: "a long passphrase"})
	if err != nil {
		panic(err)
	}
	fmt.Println("local address:", local.Identifier, local.Protocol)

	_, err = svc.Login(ctx, "bob", "wrong password")
	fmt.Println("wrong password:", err)
	ses, err := svc.Login(ctx, "bob", "a long passphrase")
	if err != nil {
		panic(err)
	}
	u, _ := svc.Verify(ctx, ses.Token)
	fmt.Println("token of:", u.Name, "length:", len(ses.Token))
	_ = svc.Logout(ctx, ses.Token)
	_, err = svc.Verify(ctx, ses.Token)
	fmt.Println("after logout:", err)
	// Output:
	// local address: bob@caliopen.local email
	// wrong password: accounts: unknown user or wrong password
	// token of: bob length: 43
	// after logout: accounts: invalid or expired token
}
