package keyaction

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/keydiscovery/keytest"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// BenchmarkDiscoverVsGnuPG: discover_key for 1,000 contacts of one
// address each (a quarter each on WKD advanced, WKD direct, DNS OPENPGPKEY
// and sks), 50 orders at a time as the connector sends them (stack.yml's
// max_inflight), beside GnuPG locating the same addresses one after
// another with clear,wkd,dane,keyserver, in the same run against the same
// servers. It reports both times and their ratio (x_gnupg: how many
// times faster key-action is). Run with -benchtime=1x (scripts/bench.sh).
func BenchmarkDiscoverVsGnuPG(b *testing.B) {
	const n, inflight = 1000, 50
	p := keytest.NewPeers(b)
	var addrs []string
	var wa, wd, dn []keytest.Key
	var daneKeys []keytest.Key
	for i := range n {
		var addr string
		switch i % 4 {
		case 0:
			addr = fmt.Sprintf("w%d@wa.test", i)
		case 1:
			addr = fmt.Sprintf("d%d@wd.test", i)
		case 2:
			addr = fmt.Sprintf("n%d@dn.test", i)
		case 3:
			addr = fmt.Sprintf("h%d@hk.test", i)
		}
		k := keytest.KeyFor(b, addr)
		switch i % 4 {
		case 0:
			wa = append(wa, k)
		case 1:
			wd = append(wd, k)
		case 2:
			daneKeys = append(daneKeys, k)
			dn = append(dn, k)
		case 3:
			p.HKP(k)
		}
		addrs = append(addrs, addr)
	}
	p.Import(append(append(wa, wd...), dn...)...)
	for i, k := range wa {
		p.WKD(addrs[4*i], k, true)
	}
	for i, k := range wd {
		p.WKD(addrs[4*i+1], k, false)
	}
	p.DANEMany("dn.test", daneKeys...)
	p.Zone("hk.test")
	p.Start(nil)

	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "k.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	blobs, _ := dirblob.New(b.TempDir())
	ca, _ := p.Cert.Files(b)
	env := map[string]string{EnvHKPServers: p.HKPURL(), EnvDNSServer: p.DNSAddr(), netguard.EnvAllow: p.Net + "0/24",
		EnvSources: "wkd,dane,hkp", EnvCAFile: ca}

	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	core, err := Build(func(k string) string { return env[k] }, Deps{Store: st, Blobs: blobs, Emitter: &recorder{}, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	h := fnhttp.New(fnhttp.Config{Function: "key-action"}, contract.Caliopen(), core, log)
	u, _ := st.CreateUser(ctx, store.User{Name: "bob", PasswordHash: "x"})
	ids := make([]string, n)
	for i, a := range addrs {
		c, err := st.CreateContact(ctx, store.Contact{UserID: u.ID, Emails: []store.ContactEmail{{Address: a}}})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = c.ID
	}

	b.ResetTimer()
	start := time.Now()
	work := make(chan string)
	var wg sync.WaitGroup
	var failed sync.Map
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				body, _ := json.Marshal(contract.ContactOrder{Order: contract.OrderDiscoverKey, ContactID: id, UserID: u.ID})
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				req.Header.Set("X-Nats-Subject", contract.SubjectKeyAction)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					failed.Store(id, rec.Code)
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	ours := time.Since(start)
	b.StopTimer()

	keys, err := st.ListPublicKeys(ctx, u.ID, "")
	if err != nil {
		b.Fatal(err)
	}
	gpgFound, gpgTook := p.LocateTimed("clear,wkd,dane,keyserver", addrs...)
	if len(keys) != n || len(gpgFound) != n {
		b.Errorf("key-action found %d keys, gpg %d, want %d each", len(keys), len(gpgFound), n)
	}
	failed.Range(func(k, v any) bool { b.Errorf("discover_key %v = %v", k, v); return true })
	b.ReportMetric(ours.Seconds(), "s_key-action")
	b.ReportMetric(gpgTook.Seconds(), "s_gnupg")
	b.ReportMetric(gpgTook.Seconds()/ours.Seconds(), "x_gnupg")
}
