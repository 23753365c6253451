package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/platform"
)

// secrets are the cluster's generated secrets, kept under the data
// directory (secrets/, 0700, one 0600 file each) so that a second start
// finds the same passwords, keys and certificates.
type secrets struct {
	dir string
	// Keyring is the file of the keyring sealing remote-account passwords.
	Keyring string
	// InvokeKey is the connector's invocation key, hex.
	InvokeKey string
	// AdminPassword is the admin user's password (file AdminPasswordFile).
	AdminPassword     string
	AdminPasswordFile string
	// GatewayPassword is the OpenFaaS gateway's basic-auth password.
	GatewayPassword string
	// CA, ServerCert and ServerKey are the PEM files of the TLS between
	// NATS clients and servers.
	CA, ServerCert, ServerKey string
}

func openSecrets(dataDir, host string) (*secrets, error) {
	s := &secrets{dir: filepath.Join(dataDir, "secrets")}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	s.Keyring = filepath.Join(s.dir, "keyring")
	if _, err := platform.KeyringFile(s.Keyring); err != nil {
		return nil, err
	}
	var err error
	if s.InvokeKey, err = s.random("invoke-key", 32); err != nil {
		return nil, err
	}
	s.AdminPasswordFile = filepath.Join(s.dir, "admin-password")
	if s.AdminPassword, err = s.random("admin-password", 12); err != nil {
		return nil, err
	}
	if s.GatewayPassword, err = s.random("gateway-password", 16); err != nil {
		return nil, err
	}
	if err := s.tls(host); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return s, nil
}

// random returns the secret kept in file name, made of n random bytes in
// hex at first use.
func (s *secrets) random(name string, n int) (string, error) {
	path := filepath.Join(s.dir, name)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	v := hex.EncodeToString(buf)
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

// NATSPassword is the password of NATS user name.
func (s *secrets) NATSPassword(name string) (string, error) {
	return s.random("nats-"+name, 16)
}

// tls makes, at first start, a CA and a server certificate signed by it for
// host and localhost; the NATS clients trust the CA (NATS_TLS_CA_FILE).
func (s *secrets) tls(host string) error {
	s.CA = filepath.Join(s.dir, "ca.pem")
	s.ServerCert = filepath.Join(s.dir, "nats-server.pem")
	s.ServerKey = filepath.Join(s.dir, "nats-server-key.pem")
	if _, err := os.Stat(s.ServerKey); err == nil {
		return nil
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "caliopen cluster CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), DNSNames: []string{"localhost", "nats"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
		leaf.IPAddresses = append(leaf.IPAddresses, ip)
	} else if ip == nil {
		leaf.DNSNames = append(leaf.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	write := func(path, typ string, b []byte) error {
		return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600)
	}
	return errors.Join(write(s.CA, "CERTIFICATE", caDER), write(s.ServerCert, "CERTIFICATE", der),
		write(s.ServerKey, "EC PRIVATE KEY", keyDER))
}
