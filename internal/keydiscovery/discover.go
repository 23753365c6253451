package keydiscovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// Discovered is a key found for an address.
type Discovered struct {
	Key
	Address       string
	Source        string
	Origin        string
	Authenticated bool
}

// LookupError is the failure of one (source, address) lookup, or a key it
// refused.
type LookupError struct {
	Source  string
	Address string
	Err     error
}

func (e LookupError) Error() string { return fmt.Sprintf("%s %s: %v", e.Source, e.Address, e.Err) }

// Result is what Discover found.
type Result struct {
	Keys    []Discovered  // one per fingerprint, in source order
	Errors  []LookupError // failed lookups
	Refused []LookupError // keys found and refused (wrong user id, revoked, expired, too large)
	// Ended are the addresses whose domain's WKD vouched for no usable
	// key: it answered with revoked, expired or otherwise unfit keys only
	// (Err wraps the first refusal: ErrRevoked, ErrExpired, ...), or it
	// publishes a directory without a key for the address (ErrWKDNoKey).
	// The WKD is authoritative for its domain, as GnuPG holds it: no
	// keyserver is asked about these addresses, and when the WKD answered
	// with unfit keys, no key of another source is kept for them either.
	Ended []LookupError
}

// Discoverer runs lookups.
type Discoverer struct {
	// Sources are asked in parallel; when several find a key, the first
	// in this order is recorded.
	Sources []Source
	// Fallback sources are asked, in parallel, only for the addresses
	// Sources found no key for and whose domain's WKD did not end
	// discovery (Result.Ended): key-action puts the HKP keyservers there,
	// as GnuPG asks a keyserver last. Anyone can upload a key with any
	// user id to a keyserver, so a key the address's own domain publishes
	// (WKD, DNS) or its mail carries (Autocrypt) is not second-guessed,
	// and public keyservers are not asked about every address.
	Fallback []Source
	// Timeout bounds each (source, address) lookup.
	Timeout time.Duration
	// Limits bound each answer.
	Limits Limits
	// Now is the time keys are checked at; nil is time.Now.
	Now func() time.Time
}

// Discover looks every address up in every source (and extra) at once,
// each lookup under its own timeout, then asks the Fallback sources for
// the addresses that found no fit key (known ones count as found), and
// returns the fit keys whose fingerprints are not in known.
func (d *Discoverer) Discover(ctx context.Context, addrs []string, known map[string]bool, extra ...Source) Result {
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	var res Result
	seen := map[string]bool{}
	found := d.round(ctx, append(append([]Source(nil), d.Sources...), extra...), addrs, known, seen, now, &res)
	ended := map[string]bool{}
	for _, e := range res.Ended {
		ended[e.Address] = true
	}
	if len(d.Fallback) > 0 {
		var rest []string
		for _, a := range addrs {
			if !found[a] && !ended[a] {
				rest = append(rest, a)
			}
		}
		if len(rest) > 0 {
			d.round(ctx, d.Fallback, rest, known, seen, now, &res)
		}
	}
	return res
}

// round asks every source for every address at once and adds what they
// found to res; it returns the addresses that have a fit key.
func (d *Discoverer) round(ctx context.Context, sources []Source, addrs []string, known, seen map[string]bool,
	now time.Time, res *Result) map[string]bool {
	type answer struct {
		found []Found
		err   error
	}
	answers := make([][]answer, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		answers[i] = make([]answer, len(addrs))
		for j, addr := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lctx, cancel := context.WithTimeout(ctx, d.Timeout)
				defer cancel()
				found, err := s.Lookup(lctx, addr)
				answers[i][j] = answer{found, err}
			}()
		}
	}
	wg.Wait()
	// A WKD answer with no fit key ends the address's discovery.
	unfit := map[string]error{}
	for i := range sources {
		for j, addr := range addrs {
			a := answers[i][j]
			if errors.Is(a.err, ErrWKDNoKey) {
				unfit[addr] = a.err
				continue
			}
			var fit bool
			var first error
			for _, f := range a.found {
				if f.Source != store.KeySourceWKD {
					continue
				}
				keys, refused := Keys(f.Data, addr, now, d.Limits)
				fit = fit || len(keys) > 0
				if first == nil && len(refused) > 0 {
					first = refused[0]
				}
			}
			if first != nil && !fit {
				unfit[addr] = fmt.Errorf("the domain's WKD holds no usable key: %w", first)
			}
		}
	}
	for _, addr := range addrs {
		if err, ok := unfit[addr]; ok {
			res.Ended = append(res.Ended, LookupError{Source: store.KeySourceWKD, Address: addr, Err: err})
		}
	}
	hasKey := map[string]bool{}
	for i, s := range sources {
		for j, addr := range addrs {
			a := answers[i][j]
			if a.err != nil && !errors.Is(a.err, ErrWKDNoKey) {
				res.Errors = append(res.Errors, LookupError{Source: s.Name(), Address: addr, Err: a.err})
			}
			for _, f := range a.found {
				keys, refused := Keys(f.Data, addr, now, d.Limits)
				for _, err := range refused {
					res.Refused = append(res.Refused, LookupError{Source: f.Source, Address: addr, Err: err})
				}
				if err := unfit[addr]; err != nil && !errors.Is(err, ErrWKDNoKey) {
					for _, k := range keys {
						res.Refused = append(res.Refused, LookupError{Source: f.Source, Address: addr,
							Err: fmt.Errorf("key %s: %w", k.Fingerprint, err)})
					}
					continue
				}
				for _, k := range keys {
					hasKey[addr] = true
					fpr := strings.ToUpper(k.Fingerprint)
					if known[fpr] || seen[fpr] {
						continue
					}
					seen[fpr] = true
					res.Keys = append(res.Keys, Discovered{Key: k, Address: addr, Source: f.Source, Origin: f.Origin,
						Authenticated: f.Authenticated})
				}
			}
		}
	}
	return hasKey
}
