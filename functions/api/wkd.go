package api

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"time"
)

// The hosted Web Key Directory (draft-koch-openpgp-webkey-service): the
// keys key-action published for the users' own addresses (publish_key),
// served without authentication, as a mail provider serves its users'
// keys. The advanced method's path names the domain; the direct method's
// domain is the request's host. A cluster routes
// https://openpgpkey.<domain>/.well-known/openpgpkey/ and
// https://<domain>/.well-known/openpgpkey/ to this function; the local
// gateway does it itself.

// wkdAdvanced serves /.well-known/openpgpkey/<domain>/hu/<hash>.
func (s *server) wkdAdvanced(w http.ResponseWriter, c *call) error {
	return s.wkdKeys(w, c, c.r.PathValue("domain"), c.r.PathValue("hash"))
}

// wkdTwo serves the paths of two segments: /.well-known/openpgpkey/hu/
// <hash> (the direct method, for the host's domain) and
// /.well-known/openpgpkey/<domain>/policy.
func (s *server) wkdTwo(w http.ResponseWriter, c *call) error {
	switch {
	case c.r.PathValue("first") == "hu":
		return s.wkdKeys(w, c, requestHost(c.r), c.r.PathValue("second"))
	case c.r.PathValue("second") == "policy":
		return s.wkdPolicy(w, c)
	}
	return notFound("key")
}

// requestHost is the request's host without its port.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host
}

// wkdKeys answers the binary keys published under (domain, hash), 404
// when there are none.
func (s *server) wkdKeys(w http.ResponseWriter, c *call, domain, hash string) error {
	if len(hash) != 32 || strings.Trim(hash, "ybndrfg8ejkmcpqxot1uwisza345h769") != "" {
		return notFound("key")
	}
	keys, err := s.st.LookupWKD(c.ctx, strings.ToLower(domain), hash)
	if err != nil {
		return storeError("key", err)
	}
	if len(keys) == 0 {
		return notFound("key")
	}
	var body bytes.Buffer
	for _, k := range keys {
		body.Write(k.Data)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	http.ServeContent(w, c.r, "", time.Time{}, bytes.NewReader(body.Bytes()))
	return nil
}

// wkdPolicy serves the (empty) policy file that says the directory exists.
func (s *server) wkdPolicy(w http.ResponseWriter, _ *call) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	return nil
}
