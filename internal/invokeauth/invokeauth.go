// Package invokeauth signs and checks the invocations of the functions that
// only the connector may call. The connector signs each HTTP call with a
// shared key; the function's adapter (fnhttp) checks the signature before it
// decodes anything, so a caller without the key gets 401 and causes nothing.
//
// The signature is an HMAC-SHA256 over the method, the function's name, the
// NATS subject, the time of signing (Unix seconds), the SHA-256 of the body
// and the correlation id, sent as
//
//	X-Caliopen-Signature: t=<unix seconds>,v1=<hex HMAC>
//
// The function's name is signed rather than the URL path: a gateway strips
// /function/<name> before the function sees the request, and the name keeps
// a call signed for one function from being replayed on another. The time
// bounds a captured call's use to the validity window (MaxAge in the past,
// MaxSkew in the future). Within it a replay of the same call is the same
// order again, which every function handles idempotently (an order is
// at-least-once anyway), so no nonce is stored.
//
// A key file holds one key per line (at least 32 bytes each; blank lines and
// lines starting with # are skipped). The first key signs; every key
// verifies, so a key is rotated by adding the new one second, deploying the
// functions, moving it first, deploying the connector, then removing the old.
//
// Keys loaded from a file (CALIOPEN_INVOKE_KEY_FILE, a mounted secret) follow
// the file without a restart: it is read again when used ReloadEvery after
// the last read, and at once when a signature does not match, so that a
// verifier catches up with a signer that already moved to a new key. A file that no longer holds a usable key leaves the keys as they
// were. So the key rotates in place: the new key first with the old one
// kept below it (every signer moves to the new key, every verifier accepts
// both), then, once every signer has, the old one removed.
package invokeauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caliopen/functions/internal/secretenv"
)

// Header carries the signature.
const Header = "X-Caliopen-Signature"

// Validity window of a signature.
const (
	// MaxAge is how old a signature may be: an invocation's HTTP leg,
	// queueing in the gateway included, and clock skew between pods.
	MaxAge = 2 * time.Minute
	// MaxSkew is how far in the future a signature may be dated.
	MaxSkew = 30 * time.Second
)

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 32

// Environment variables read by Load.
const (
	// EnvKey holds the keys, or EnvKey+"_FILE" names their file
	// (/var/openfaas/secrets/caliopen-invoke-key on OpenFaaS).
	EnvKey = "CALIOPEN_INVOKE_KEY"
	// EnvInsecure, set to true, lets a process run without a key: calls are
	// neither signed nor checked. For development only.
	EnvInsecure = "CALIOPEN_INVOKE_INSECURE"
)

// ErrUnauthenticated is the class of every refusal of Verify.
var ErrUnauthenticated = errors.New("invocation not authenticated")

// Call is what a signature covers.
type Call struct {
	Method        string
	Function      string
	Subject       string
	CorrelationID string
	Body          []byte
}

// ReloadEvery is how often keys read from a file look at it again as they
// are used.
const ReloadEvery = time.Second

// Keys signs with its first key and verifies with any.
type Keys struct {
	keys [][]byte
	file *keyFile // nil: the keys are fixed
	// macs keeps, per key, HMAC states keyed and ready to reset: making
	// one hashes the key's pads again, twice an invocation otherwise.
	macs sync.Map // string(key) → *sync.Pool of hash.Hash
}

// keyFile follows the file keys were read from.
type keyFile struct {
	path    string
	current atomic.Pointer[[][]byte]
	read    atomic.Int64 // when the file was last read, Unix nanoseconds
	mu      sync.Mutex   // one reader at a time
	text    string       // what it held then
}

// ParseKeys reads a key file's text: one key per line.
func ParseKeys(text string) (*Keys, error) {
	keys, err := parseKeys(text)
	if err != nil {
		return nil, err
	}
	return &Keys{keys: keys}, nil
}

// LoadFile reads the keys from the secret at path (a file, or a Kubernetes
// secret volume's folder) and follows it: see the package's documentation.
func LoadFile(path string) (*Keys, error) {
	b, err := secretenv.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := parseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &keyFile{path: path, text: string(b)}
	f.current.Store(&keys)
	f.read.Store(time.Now().UnixNano())
	return &Keys{file: f}, nil
}

// current returns the keys in force, reading the file again when it was
// last read ReloadEvery ago.
func (k *Keys) current() [][]byte {
	if k.file == nil {
		return k.keys
	}
	f := k.file
	if time.Since(time.Unix(0, f.read.Load())) >= ReloadEvery && f.mu.TryLock() {
		f.reload()
		f.mu.Unlock()
	}
	return *f.current.Load()
}

// fresh returns the keys the file holds now: read again unless another
// caller read it after since.
func (f *keyFile) fresh(since time.Time) [][]byte {
	f.mu.Lock()
	if f.read.Load() < since.UnixNano() {
		f.reload()
	}
	f.mu.Unlock()
	return *f.current.Load()
}

// reload reads the file again; f.mu is held. Keys it cannot read or parse
// leave the keys in force as they were.
func (f *keyFile) reload() {
	f.read.Store(time.Now().UnixNano())
	b, err := secretenv.ReadFile(f.path)
	if err != nil || string(b) == f.text {
		return
	}
	keys, err := parseKeys(string(b))
	if err != nil {
		return
	}
	f.text = string(b)
	f.current.Store(&keys)
}

// Check says whether text is a usable key file: at least one key, each long
// enough.
func Check(text string) error {
	_, err := parseKeys(text)
	return err
}

// First is the key that signs in a key file's text ("" when it holds none).
func First(text string) string {
	keys, err := parseKeys(text)
	if err != nil {
		return ""
	}
	return string(keys[0])
}

// Holds says whether a key file's text holds key.
func Holds(text, key string) bool {
	keys, _ := parseKeys(text)
	return slices.ContainsFunc(keys, func(k []byte) bool { return string(k) == key })
}

func parseKeys(text string) ([][]byte, error) {
	var k Keys
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < MinKeyBytes {
			return nil, fmt.Errorf("invocation key on line %d is %d bytes; want at least %d (e.g. openssl rand -hex 32)",
				n+1, len(line), MinKeyBytes)
		}
		k.keys = append(k.keys, []byte(line))
	}
	if len(k.keys) == 0 {
		return nil, errors.New("no invocation key")
	}
	return k.keys, nil
}

// Load reads the keys from CALIOPEN_INVOKE_KEY_FILE or CALIOPEN_INVOKE_KEY.
// It returns nil keys and no error only when CALIOPEN_INVOKE_INSECURE=true and
// no key is set; without a key and without that switch it refuses.
func Load(getenv func(string) string) (*Keys, error) {
	if f := strings.TrimSpace(getenv(EnvKey + "_FILE")); f != "" {
		k, err := LoadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s_FILE: %w", EnvKey, err)
		}
		return k, nil
	}
	text, err := secretenv.Value(getenv, EnvKey)
	if err != nil {
		return nil, err
	}
	insecure := false
	if v := strings.TrimSpace(getenv(EnvInsecure)); v != "" {
		if insecure, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("%s: want true or false, got %q", EnvInsecure, v)
		}
	}
	if strings.TrimSpace(text) == "" {
		if insecure {
			return nil, nil
		}
		return nil, fmt.Errorf("%s_FILE or %s is required: functions accept only calls signed with the invocation key "+
			"(set %s=true to run without one, for development only)", EnvKey, EnvKey, EnvInsecure)
	}
	k, err := ParseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKey, err)
	}
	return k, nil
}

// Sign returns the Header value for c at now.
func (k *Keys) Sign(now time.Time, c Call) string {
	t := now.Unix()
	var sum [sha256.Size]byte
	b := make([]byte, 0, len("t=,v1=")+20+2*sha256.Size)
	b = strconv.AppendInt(append(b, "t="...), t, 10)
	b = hex.AppendEncode(append(b, ",v1="...), k.mac(k.current()[0], t, c, sum[:0]))
	return string(b)
}

// CheckTime parses a Header value and checks its time against now, without
// the body: a call refused here is refused before its body is read.
func CheckTime(now time.Time, header string) error {
	_, _, err := parse(now, header)
	return err
}

// Verify checks a Header value for c at now. Every refusal wraps
// ErrUnauthenticated and says why without echoing the header.
func (k *Keys) Verify(now time.Time, header string, c Call) error {
	t, sig, err := parse(now, header)
	if err != nil {
		return err
	}
	since := time.Now()
	if k.match(k.current(), sig, t, c) {
		return nil
	}
	// The signer may have moved to a key this process has not read yet.
	if k.file != nil && k.match(k.file.fresh(since), sig, t, c) {
		return nil
	}
	return fmt.Errorf("%w: signature does not match", ErrUnauthenticated)
}

func (k *Keys) match(keys [][]byte, sig []byte, t int64, c Call) bool {
	var sum [sha256.Size]byte
	for _, key := range keys {
		if hmac.Equal(sig, k.mac(key, t, c, sum[:0])) {
			return true
		}
	}
	return false
}

// parse reads "t=<unix>,v1=<hex>" and checks the time window.
func parse(now time.Time, header string) (int64, []byte, error) {
	if header == "" {
		return 0, nil, fmt.Errorf("%w: no %s header", ErrUnauthenticated, Header)
	}
	var ts, v1 string
	for rest := header; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	sig, herr := hex.DecodeString(v1)
	if err != nil || herr != nil || len(sig) != sha256.Size {
		return 0, nil, fmt.Errorf("%w: malformed %s header", ErrUnauthenticated, Header)
	}
	at := time.Unix(t, 0)
	if at.Before(now.Add(-MaxAge)) || at.After(now.Add(MaxSkew)) {
		return 0, nil, fmt.Errorf("%w: signature time outside the validity window", ErrUnauthenticated)
	}
	return t, sig, nil
}

// mac appends to out the HMAC of c at t under key. Fields are separated by
// newlines; none of the fields signed can hold one (a method, a DNS label,
// a NATS subject, a header value, a hex digest).
func (k *Keys) mac(key []byte, t int64, c Call, out []byte) []byte {
	body := sha256.Sum256(c.Body)
	var buf [256]byte
	b := append(buf[:0], "caliopen-invoke-v1\n"...)
	b = append(append(b, c.Method...), '\n')
	b = append(append(b, c.Function...), '\n')
	b = append(append(b, c.Subject...), '\n')
	b = append(strconv.AppendInt(b, t, 10), '\n')
	b = append(hex.AppendEncode(b, body[:]), '\n')
	b = append(append(b, c.CorrelationID...), '\n')
	pool := k.macPool(key)
	m := pool.Get().(hash.Hash)
	m.Reset()
	m.Write(b)
	out = m.Sum(out)
	pool.Put(m)
	return out
}

// macPool is the pool of HMAC states of key. A key a rotation removed
// leaves its pool behind: a few per rotation, each emptied by the GC.
func (k *Keys) macPool(key []byte) *sync.Pool {
	if p, ok := k.macs.Load(string(key)); ok {
		return p.(*sync.Pool)
	}
	key = bytes.Clone(key)
	p, _ := k.macs.LoadOrStore(string(key), &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	return p.(*sync.Pool)
}
