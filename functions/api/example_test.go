package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
)

// check stops the example on an error.
func check(err error) {
	if err != nil {
		panic(err)
	}
}

// Serve the API on a SQLite store and an embedded NATS, log in, create a
// contact, and see the contact_update order the API publishes.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "api-example")
	check(err)
	defer os.RemoveAll(dir)

	// An embedded NATS with the stream the connector declares, a SQLite
	// store, a blob directory, a keyring (see startPlatform).
	p, err := startPlatform(dir, false)
	check(err)
	defer p.close()
	orders, err := p.nc.SubscribeSync(contract.SubjectContactAction)
	check(err)

	cfg := api.Config{LocalDomain: "example.test", BcryptCost: 4}
	h, err := api.New(cfg, p.deps(io.Discard))
	check(err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The admin command line creates accounts the same way.
	acc, err := accounts.New(accounts.Config{LocalDomain: "example.test", BcryptCost: 4}, p.st)
	check(err)
	_, _, err = acc.CreateUser(ctx, accounts.NewUser{Name: "bob", Password: "bob's passphrase"})
	check(err)

	post := func(path, token, body string) *http.Response {
		req, err := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		check(err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := srv.Client().Do(req)
		check(err)
		return res
	}
	res := post("/api/v2/authentications", "", `{"username":"bob","password":"bob's passphrase"}`)
	var login struct {
		AccessToken string `json:"access_token"`
	}
	check(json.NewDecoder(res.Body).Decode(&login))
	res.Body.Close()
	fmt.Println("login:", res.StatusCode)

	res = post("/api/v2/contacts", login.AccessToken, `{"title":"Carol","emails":[{"address":"carol@example.org"}]}`)
	res.Body.Close()
	fmt.Println("create contact:", res.StatusCode)

	msg, err := orders.NextMsg(5 * time.Second)
	check(err)
	var o contract.ContactOrder
	check(json.Unmarshal(msg.Data, &o))
	fmt.Println("order on", msg.Subject+":", o.Order)
	// Output:
	// login: 200
	// create contact: 201
	// order on contactAction: contact_update
}
