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
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/keydiscovery/keytest"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// BenchmarkDiscoverVsGnuPG: discover_key against GnuPG locating the same
// addresses with clear,wkd,dane,keyserver, in the same run against the
// same servers, at the same concurrency on both sides: one lookup at a
// time (workers=1), and 4 at a time (workers=4: 4 goroutines calling
// key-action, 4 GnuPG homes each with its own dirmngr, each locating its
// share one after another). Every iteration is one lookup on each side,
// over 1,000 addresses (a quarter each on WKD advanced, WKD direct, DNS
// OPENPGPKEY and sks), each address looked up once while b.N allows. It
// reports both sides' wall time over b.N (milliseconds a lookup) and
// their ratio (x_gnupg: how many times faster key-action is), and appends
// the figures to the file CALIOPEN_BENCH_FIGURES names (package
// benchresult). scripts/bench.sh runs it with -benchtime=200x.
func BenchmarkDiscoverVsGnuPG(b *testing.B) {
	d := newDiscovery(b, 1000)
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { d.bench(b, workers) })
	}
}

// discovery is the servers, the addresses they publish keys for, and a
// key-action on SQLite.
type discovery struct {
	p     *keytest.Peers
	addrs []string
	st    *store.SQL
	h     http.Handler
	runs  int
}

func newDiscovery(b *testing.B, n int) *discovery {
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
	return &discovery{p: p, addrs: addrs, st: st, h: fnhttp.New(fnhttp.Config{Function: "key-action"}, contract.Caliopen(), core, log)}
}

// bench looks up b.N addresses, workers at a time, with key-action and
// then with GnuPG.
func (d *discovery) bench(b *testing.B, workers int) {
	ctx := context.Background()
	d.runs++
	addrs := make([]string, b.N)
	for i := range addrs {
		addrs[i] = d.addrs[i%len(d.addrs)]
	}
	// A fresh user and contacts each run: every lookup finds new keys.
	u, err := d.st.CreateUser(ctx, store.User{Name: fmt.Sprintf("bob%d", d.runs), PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i, a := range addrs {
		c, err := d.st.CreateContact(ctx, store.Contact{UserID: u.ID, Emails: []store.ContactEmail{{Address: a}}})
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
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				body, _ := json.Marshal(contract.ContactOrder{Order: contract.OrderDiscoverKey, ContactID: id, UserID: u.ID})
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				req.Header.Set("X-Nats-Subject", contract.SubjectKeyAction)
				rec := httptest.NewRecorder()
				d.h.ServeHTTP(rec, req)
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
	failed.Range(func(k, v any) bool { b.Errorf("discover_key %v = %v", k, v); return true })
	keys, err := d.st.ListPublicKeys(ctx, u.ID, "")
	if err != nil {
		b.Fatal(err)
	}
	distinct := min(b.N, len(d.addrs))
	if len(keys) != distinct {
		b.Errorf("key-action found %d keys, want %d", len(keys), distinct)
	}

	// GnuPG: worker w locates addresses w, w+workers, ... one after
	// another in its own home; the slowest worker's time is the wall time
	// of the lookups (the dirmngrs start before, outside it).
	var gpgTook time.Duration
	var mu sync.Mutex
	found := 0
	for w := range workers {
		var share []string
		for i := w; i < len(addrs); i += workers {
			share = append(share, addrs[i])
		}
		if len(share) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, took := d.p.LocateTimed("clear,wkd,dane,keyserver", share...)
			mu.Lock()
			defer mu.Unlock()
			gpgTook = max(gpgTook, took)
			found += len(got)
		}()
	}
	wg.Wait()
	if want := min(b.N, len(d.addrs)*workers); found < distinct || found > want {
		b.Errorf("GnuPG found keys for %d addresses, want %d to %d", found, distinct, want)
	}
	perLookup := func(d time.Duration) float64 {
		return float64(d) / float64(time.Millisecond) / float64(b.N)
	}
	b.ReportMetric(perLookup(ours), "ms/lookup_key-action")
	b.ReportMetric(perLookup(gpgTook), "ms/lookup_gnupg")
	b.ReportMetric(gpgTook.Seconds()/ours.Seconds(), "x_gnupg")
	if b.N < 100 { // the calibration runs: too few lookups for a figure
		return
	}
	f := benchresult.Lower(fmt.Sprintf("keys/workers-%d", workers),
		fmt.Sprintf("key discovery, %d lookups %d at a time, wall time a lookup", b.N, workers),
		perLookup(ours), perLookup(gpgTook), "ms", fmt.Sprintf("GnuPG --locate-external-keys, %d homes", workers))
	if err := benchresult.Append(os.Getenv("CALIOPEN_BENCH_FIGURES"), f); err != nil {
		b.Fatal(err)
	}
}
