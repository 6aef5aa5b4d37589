package http

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// KeyPair is a TLS certificate and key read from files, which Reload reads
// again (after the files were renewed) without stopping the server:
// handshakes that start after a successful Reload present the new
// certificate, connections already open keep theirs, and a Reload that
// fails keeps the previous one.
type KeyPair struct {
	CertFile, KeyFile string

	cur atomic.Pointer[tls.Certificate]
}

// LoadKeyPair reads the PEM certificate (chain) and key of a server.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	kp := &KeyPair{CertFile: certFile, KeyFile: keyFile}
	if err := kp.Reload(); err != nil {
		return nil, err
	}
	return kp, nil
}

// Reload reads the files again and, if they hold a valid pair, serves it
// from the next handshake on. On an error the current pair stays.
func (kp *KeyPair) Reload() error {
	cert, err := tls.LoadX509KeyPair(kp.CertFile, kp.KeyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", kp.CertFile, kp.KeyFile, err)
	}
	if len(cert.Certificate) == 0 {
		return errors.New("load TLS certificate: no certificate")
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parse TLS certificate %s: %w", kp.CertFile, err)
		}
	}
	kp.cur.Store(&cert)
	return nil
}

// Leaf returns the certificate served now.
func (kp *KeyPair) Leaf() *x509.Certificate { return kp.cur.Load().Leaf }

// GetCertificate is the tls.Config hook: it returns the current pair.
func (kp *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return kp.cur.Load(), nil
}

// TLSConfig returns a server configuration that serves the current pair,
// TLS 1.2 or newer, and offers HTTP/2 and HTTP/1.1.
func (kp *KeyPair) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: kp.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
