package contactaction

import (
	"math"
	"strconv"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// Feature names, as the original's privacy_features.
const (
	FeatureDayTotal    = "message_day_total"
	FeatureDayAvg      = "message_day_avg"
	FeatureDayPStdDev  = "message_day_pstdev"
	FeatureKeyBestSize = "public_key_best_size"
	FeatureAddrOrPhone = "address_or_phone"
	FeatureProtocols   = "nb_protocols"
)

// dayStats is the per-day histogram of one address's messages.
type dayStats struct {
	total         int
	mean, pstdDev float64
}

// histogram counts exchanges per UTC day from the first day to the last,
// empty days included, and returns the best address's statistics (the one
// with the most messages; ties go to the smaller address, so the result
// does not depend on order).
func histogram(exchanges []store.Exchange) dayStats {
	byAddr := map[string]map[int64]int{}
	for _, e := range exchanges {
		if e.Draft {
			continue
		}
		days := byAddr[e.Address]
		if days == nil {
			days = map[int64]int{}
			byAddr[e.Address] = days
		}
		days[e.At.UTC().Truncate(24*time.Hour).Unix()/86400]++
	}
	var best dayStats
	bestAddr := ""
	for addr, days := range byAddr {
		s := stats(days)
		if s.total > best.total || s.total == best.total && (bestAddr == "" || addr < bestAddr) {
			best, bestAddr = s, addr
		}
	}
	return best
}

// stats computes total, mean and population standard deviation over the
// days from the first to the last of days.
func stats(days map[int64]int) dayStats {
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	total := 0
	for d, n := range days {
		first, last = min(first, d), max(last, d)
		total += n
	}
	if total == 0 {
		return dayStats{}
	}
	n := float64(last - first + 1)
	mean := float64(total) / n
	sq := 0.0
	for d := first; d <= last; d++ {
		diff := float64(days[d]) - mean
		sq += diff * diff
	}
	return dayStats{total: total, mean: mean, pstdDev: math.Sqrt(sq / n)}
}

// strength is a key's size in RSA-equivalent bits.
func strength(k store.PublicKey) int {
	switch k.Algorithm {
	case "ecdsa", "eddsa", "ed25519", "ed448", "ecdh", "x25519", "x448":
		if k.Size >= 255 {
			return 3072
		}
		return 1024
	}
	return k.Size
}

// bestKeySize is the largest strength among keys that have not expired at
// now (0 if none).
func bestKeySize(keys []store.PublicKey, now time.Time) int {
	best := 0
	for _, k := range keys {
		if !k.ExpiresAt.IsZero() && !k.ExpiresAt.After(now) {
			continue
		}
		best = max(best, strength(k))
	}
	return best
}

// compute returns the privacy features and index of contact c.
func compute(c store.Contact, exchanges []store.Exchange, keys []store.PublicKey, now time.Time) (store.PrivacyIndex, map[string]string) {
	h := histogram(exchanges)
	keySize := bestKeySize(keys, now)
	addrOrPhone := len(c.Phones) > 0
	protocols := len(c.Emails) + len(c.Phones) + len(c.Identities)
	features := map[string]string{
		FeatureDayTotal:    strconv.Itoa(h.total),
		FeatureDayAvg:      strconv.FormatFloat(h.mean, 'f', 3, 64),
		FeatureDayPStdDev:  strconv.FormatFloat(h.pstdDev, 'f', 3, 64),
		FeatureKeyBestSize: strconv.Itoa(keySize),
		FeatureAddrOrPhone: strconv.FormatBool(addrOrPhone),
		FeatureProtocols:   strconv.Itoa(protocols),
	}
	var pi store.PrivacyIndex
	switch {
	case keySize > 2048:
		pi.Technic += 30
	case keySize == 2048:
		pi.Technic += 20
	case keySize > 0:
		pi.Technic += 15
	}
	if h.total >= 10 {
		pi.Context += 10
	}
	if addrOrPhone {
		pi.Comportment += 10
	}
	if protocols >= 3 {
		pi.Comportment += 5
	}
	return pi, features
}
