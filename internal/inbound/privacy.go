package inbound

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/jhillyerd/enmime/v2"

	"github.com/caliopen/functions/internal/store"
)

// Privacy feature keys, as the original's privacy_features map.
const (
	FeatureHops            = "nb_received_hops"
	FeatureTLSHops         = "nb_tls_hops"
	FeatureIngressTLS      = "ingress_tls_version"
	FeatureTransportSigned = "transport_signed"
	FeatureEncrypted       = "message_encrypted"
	FeatureEncryptMethod   = "message_encryption_method"
	FeatureSigned          = "message_signed"
	FeatureMailAgent       = "mail_agent"
	FeatureSpamScore       = "spam_score"
)

var (
	tlsVersionRe = regexp.MustCompile(`(?i)\b(?:version=|using\s+)(TLS[v_ ]?1(?:[._]?[0-3])?|SSLv3)`)
	esmtpsRe     = regexp.MustCompile(`(?i)\bwith\s+(?:ESMTPS|ESMTPSA|LMTPS|UTF8SMTPS)\b`)
)

// privacy computes the privacy features and the privacy index from what the
// headers show. Unlike the original (caliopen-original.md §9.2) nothing here
// can fail: unreadable values are left out.
//
// Technic: +10 when the ingress hop (the newest Received header) used TLS
// 1.2 or later, +7 for older TLS, +2 for SSLv3; +10 for a DKIM-Signature;
// +30 for PGP encryption; +10 for a PGP signature. Context: +10 (an unknown
// MX: no reputation lists yet). Comportment is set by the qualifier.
func privacy(env *enmime.Envelope, encrypted bool) (map[string]string, store.PrivacyIndex) {
	f := map[string]string{}
	pi := store.PrivacyIndex{Context: 10}
	received := env.GetHeaderValues("Received")
	tlsHops := 0
	for i, r := range received {
		v := tlsVersion(r)
		if v == "" {
			continue
		}
		tlsHops++
		if i == 0 {
			f[FeatureIngressTLS] = v
			pi.Technic += tlsPoints(v)
		}
	}
	f[FeatureHops] = strconv.Itoa(len(received))
	f[FeatureTLSHops] = strconv.Itoa(tlsHops)
	if len(env.GetHeaderValues("Dkim-Signature")) > 0 {
		f[FeatureTransportSigned] = "true"
		pi.Technic += 10
	}
	if encrypted {
		f[FeatureEncrypted] = "true"
		f[FeatureEncryptMethod] = "pgp"
		pi.Technic += 30
	}
	if isPGPSigned(env.Root) {
		f[FeatureSigned] = "pgp"
		pi.Technic += 10
	}
	if ua := firstNonEmpty(env.GetHeader("X-Mailer"), env.GetHeader("User-Agent")); ua != "" {
		f[FeatureMailAgent] = truncate(clean(ua), 200)
	}
	if s := strings.TrimSpace(env.GetHeader("X-Spam-Score")); s != "" {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			f[FeatureSpamScore] = s
		}
	}
	return f, pi
}

// tlsVersion reads the TLS version a Received header reports, normalised to
// "tls1.0".."tls1.3", "tls" (TLS of unknown version) or "sslv3"; "" when
// the hop shows no TLS.
func tlsVersion(received string) string {
	if m := tlsVersionRe.FindStringSubmatch(received); m != nil {
		v := strings.ToLower(strings.NewReplacer("_", ".", " ", "", "v", "").Replace(m[1]))
		switch {
		case v == "ssl3" || strings.HasPrefix(v, "ssl"):
			return "sslv3"
		case v == "tls1" || v == "tls10" || v == "tls1.0":
			return "tls1.0"
		case strings.HasPrefix(v, "tls1") && len(v) >= 5:
			return "tls1." + v[len(v)-1:]
		}
		return "tls"
	}
	if esmtpsRe.MatchString(received) {
		return "tls"
	}
	return ""
}

func tlsPoints(v string) int {
	switch v {
	case "sslv3":
		return 2
	case "tls1.0", "tls1.1":
		return 7
	}
	return 10
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
