package testcert

import (
	"crypto/tls"
	"net"
	"testing"
)

// A client trusting the certificate completes a handshake with a server
// serving it; one that does not, fails.
func TestHandshake(t *testing.T) {
	c := New(t)
	certFile, keyFile := c.Files(t)
	fromFiles, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{fromFiles}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{{"trusted", c.Client("127.0.0.1"), true}, {"system roots", &tls.Config{ServerName: "127.0.0.1"}, false}} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		err = tls.Client(conn, tc.cfg).Handshake()
		conn.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want success %v", tc.name, err, tc.ok)
		}
	}
}
