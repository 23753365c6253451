package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/connector"
	inboundtwitter "github.com/caliopen/functions/functions/inbound-twitter"
	twitterdm "github.com/caliopen/functions/functions/twitter-dm"
	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/cpuprof"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/procs"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
	"github.com/caliopen/functions/internal/xapitest"
)

// documentedLookups is the reference's per-user budget of direct message
// lookups per 15 minutes.
const documentedLookups = 300

// inboundHost is the host the connector reaches inbound-twitter at, in
// process.
const inboundHost = "inbound-twitter.local:8080"

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-twitter", flag.ContinueOnError)
	events := fs.Int("events", 10000, "direct message events on the X API server")
	imapMS := fs.Float64("imap-cpu-ms", 0, "the IMAP path's CPU per message, to compare with when run by hand (make bench reads it from -figures)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the import to this file")
	figures := fs.String("figures", "", "the file of figures (package benchresult): cmd/bench-imap's is read from it, and must be there; this one's is appended")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *imapMS == 0 && *figures != "" {
		f, err := benchresult.Find(*figures, benchresult.IMAPFullSync)
		if err != nil {
			return err
		}
		if *imapMS = f.Extra[benchresult.CPUPerMessage]; *imapMS <= 0 {
			return fmt.Errorf("%s: figure %s has no %s", *figures, benchresult.IMAPFullSync, benchresult.CPUPerMessage)
		}
	}
	if *events < 10 {
		return errors.New("-events must be at least 10")
	}
	gomaxprocs, gogc := procs.ForFileIO(os.Getenv, true), procs.ForWholeSystem(os.Getenv)
	dir, err := os.MkdirTemp("", "bench-twitter-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	x := xapitest.New()
	defer x.Close()
	x.AddUser("100", "bench", "Bench")
	x.AddBearer("bench-token", "100", time.Time{})
	friends := make([]string, 20)
	for i := range friends {
		friends[i] = strconv.Itoa(200 + i)
		x.AddUser(friends[i], "friend"+strconv.Itoa(i), "Friend "+strconv.Itoa(i))
	}
	groups := []string{x.Group(friends[0], "100", friends[1], friends[2]), x.Group(friends[3], "100", friends[4])}
	for i := range *events - len(groups) {
		if i%4 == 3 {
			x.GroupMessage(groups[i%2], friends[i%2], "group message "+strconv.Itoa(i))
		} else {
			x.Message(friends[i%len(friends)], "100", "direct message "+strconv.Itoa(i))
		}
	}

	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "caliopen.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	bdir, err := dirblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		return err
	}
	blobs := blob.NewRecent(bdir, store.RawPrefix, platform.LocalRecentRaw) // as the local system
	in, err := inboundtwitter.New(inboundtwitter.Config{}, inboundtwitter.Deps{Store: st, Blobs: blobs})
	if err != nil {
		return err
	}
	handler := fnhttp.New(fnhttp.Config{Function: inboundtwitter.Name, Timeout: contract.InboundDeadline}, contract.Caliopen(), in, logger)
	stopConnector, err := startConnector(ns.ClientURL(), handler, logger)
	if err != nil {
		return err
	}
	defer stopConnector()
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("twitter-dm"))
	if err != nil {
		return err
	}
	defer nc.Close()
	em, err := emit.New(nc)
	if err != nil {
		return err
	}
	ring, err := secrets.NewKeyring(secrets.Key{ID: "bench", Secret: bytes.Repeat([]byte{9}, secrets.KeySize)})
	if err != nil {
		return err
	}
	ident, err := account(ctx, st, ring)
	if err != nil {
		return err
	}
	cfg := twitterdm.DefaultConfig()
	cfg.X = xaccount.Config{BaseURL: x.URL, Timeout: 20 * time.Second}
	core, err := twitterdm.New(cfg, twitterdm.Deps{Store: st, Blobs: blobs, Keyring: ring, Emitter: em, Logger: logger})
	if err != nil {
		return err
	}
	subject, _ := contract.Caliopen().Subject(contract.SubjectTwitterDM)
	call := &fnhttp.Call{Function: "twitter-dm", Request: &contract.Request{Subject: subject,
		Payload: &contract.DeliverOrder{Order: contract.OrderSync, RemoteID: ident.ID, UserID: ident.UserID}}, Logger: logger, Attempt: 1}

	stopProfile, err := cpuprof.Start(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	start := time.Now()
	user, system := cpuprof.Times()
	invocations := 0
	for {
		invocations++
		res, err := core(ctx, call)
		if err != nil {
			return fmt.Errorf("sync %d: %w", invocations, err)
		}
		if strings.Contains(res.Message, "failure recorded") || strings.Contains(res.Message, "rate limited") {
			return fmt.Errorf("sync %d: %s", invocations, res.Message)
		}
		id, err := st.GetIdentity(ctx, ident.UserID, ident.ID)
		if err != nil {
			return err
		}
		// A sync that left events (budget, page limit) publishes a
		// follow-up; here the loop is the follow-up chain.
		if !strings.Contains(id.Sync.Cursor, " ") && !strings.Contains(res.Message, "more to come") {
			break
		}
		if invocations == 20 {
			return errors.New("the import did not end in 20 syncs")
		}
	}
	elapsed := time.Since(start)
	user1, system1 := cpuprof.Times()
	stopProfile()
	msgs, err := count(ctx, st, ident.UserID)
	if err != nil {
		return err
	}
	want := *events - len(groups) // the join events are no messages
	if msgs != want {
		return fmt.Errorf("%d of %d messages in the store", msgs, want)
	}
	cpu := (user1 - user) + (system1 - system)
	perDM := cpu.Seconds() * 1000 / float64(msgs)
	req := x.Requests()
	fmt.Fprintf(stdout, "X direct messages: %d events (%d one-to-one and group messages, %d conversations) imported by twitter-dm through the connector and inbound-twitter (SQLite); GOMAXPROCS %d, GOGC %d\n",
		*events, msgs, len(friends)+len(groups), gomaxprocs, gogc)
	fmt.Fprintf(stdout, "  %d syncs in %.2fs, %.0f DM/s, %.2f ms of CPU each (user %.2f, system %.2f; includes the in-process X API server)\n",
		invocations, elapsed.Seconds(), float64(msgs)/elapsed.Seconds(), perDM,
		(user1-user).Seconds()*1000/float64(msgs), (system1-system).Seconds()*1000/float64(msgs))
	fmt.Fprintf(stdout, "  requests to X: %d dm_events pages (budget %d per 15 min: %s), %d users/me, %d user lookups\n",
		req[xapitest.GroupDMLookup], documentedLookups, within(req[xapitest.GroupDMLookup] <= documentedLookups),
		req[xapitest.GroupMe], req[xapitest.GroupUsers])
	if *imapMS <= 0 {
		fmt.Fprintln(stdout, "  no IMAP figure to compare with (give -figures or -imap-cpu-ms)")
		return nil
	}
	fmt.Fprintf(stdout, "  target: a DM costs no more CPU than an e-mail fetched over IMAP (%.2f ms in this run): %.2f × (%s)\n",
		*imapMS, perDM / *imapMS, within(perDM <= *imapMS))
	return benchresult.Append(*figures, benchresult.Lower("dm/cpu", "X direct message imported, CPU a message", perDM, *imapMS,
		"ms", "an e-mail fetched over IMAP, this run").WithTarget(1))
}

func within(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// account creates a user with a twitter identity holding an OAuth2 token.
func account(ctx context.Context, st *store.SQL, ring *secrets.Keyring) (store.Identity, error) {
	u, err := st.CreateUser(ctx, store.User{Name: "bench"})
	if err != nil {
		return store.Identity{}, err
	}
	const id = "6d2f0c1e-0000-4000-8000-0000000074e7"
	sealed, err := ring.Seal([]byte(`{"oauth2accesstoken":"bench-token"}`), []byte(id))
	if err != nil {
		return store.Identity{}, err
	}
	return st.CreateIdentity(ctx, store.Identity{ID: id, UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolTwitter,
		Identifier: "bench", PollInterval: 2 * time.Minute, Infos: map[string]string{"authtype": "oauth2"}, Credentials: sealed})
}

// count returns how many messages user has.
func count(ctx context.Context, st *store.SQL, user string) (int, error) {
	n := 0
	p := store.Page{Limit: store.MaxLimit}
	for {
		ms, next, err := st.ListMessages(ctx, user, store.MessageFilter{}, p)
		if err != nil {
			return 0, err
		}
		n += len(ms)
		if next == "" {
			return n, nil
		}
		p.After = next
	}
}

// staticSource is a topic map with inbound-twitter alone.
type staticSource struct{}

func (staticSource) Load(context.Context) (connector.TopicMap, error) {
	return connector.TopicMap{contract.SubjectInboundTwitter: {{Name: inboundtwitter.Name, URL: "http://" + inboundHost}}}, nil
}

// startConnector runs the connector with inbound-twitter in process, as
// the local system does.
func startConnector(url string, h http.Handler, logger *slog.Logger) (func(), error) {
	cfg := connector.DefaultConfig()
	cfg.NATS.URL = url
	cfg.MaxInflight = 256
	cfg.DrainTimeout = 5 * time.Second
	c, err := connector.New(cfg, connector.Deps{Logger: logger, Registry: prometheus.NewRegistry(), Contract: contract.Caliopen(),
		Source: staticSource{}, Transport: &connector.InProcess{Host: inboundHost, Handler: h}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Ready() {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			return nil, errors.New("connector not ready after 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() { cancel(); wg.Wait() }, nil
}
