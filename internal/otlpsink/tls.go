// tls.go owns the sink's TLS material: one self-signed CA that is also the
// server certificate (127.0.0.1, ::1, localhost), and on request a client
// certificate it signed, all written as PEM files so a client under test can
// be configured exactly as a user would configure it.
package otlpsink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// tlsFiles are the paths of the PEM files written for one sink.
type tlsFiles struct {
	ca, clientCert, clientKey string
}

// newTLS writes ca.pem (and client.pem, client-key.pem when clientAuth) to
// dir and returns the server configuration.
func newTLS(dir string, clientAuth bool) (*tls.Config, tlsFiles, error) {
	var files tlsFiles
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, files, fmt.Errorf("tls: generate key: %w", err)
	}
	// A short validity is enough for a test run; an hour of backdating
	// tolerates a skewed clock in a container.
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "otlpsink test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		// Go checks extended key usage along the whole chain, so the CA
		// must allow client auth for the client certificate it signs.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, files, fmt.Errorf("tls: create ca: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, files, fmt.Errorf("tls: parse ca: %w", err)
	}
	files.ca = filepath.Join(dir, "ca.pem")
	if err := writePEM(files.ca, "CERTIFICATE", caDER); err != nil {
		return nil, files, err
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{caDER}, PrivateKey: caKey, Leaf: caCert}},
		MinVersion:   tls.VersionTLS12,
	}
	if !clientAuth {
		return conf, files, nil
	}

	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, files, fmt.Errorf("tls: generate client key: %w", err)
	}
	client := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "otlpsink client"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, client, caCert, &clientKey.PublicKey, caKey)
	if err != nil {
		return nil, files, fmt.Errorf("tls: create client cert: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		return nil, files, fmt.Errorf("tls: marshal client key: %w", err)
	}
	files.clientCert = filepath.Join(dir, "client.pem")
	files.clientKey = filepath.Join(dir, "client-key.pem")
	if err := writePEM(files.clientCert, "CERTIFICATE", clientDER); err != nil {
		return nil, files, err
	}
	if err := writePEM(files.clientKey, "PRIVATE KEY", keyDER); err != nil {
		return nil, files, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	conf.ClientCAs = pool
	conf.ClientAuth = tls.RequireAndVerifyClientCert
	return conf, files, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func writePEM(path, typ string, der []byte) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("tls: write %s: %w", path, err)
	}
	return nil
}
