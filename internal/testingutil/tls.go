package testingutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCert is a self-signed server certificate for 127.0.0.1 and
// localhost, written to files as serve's --tls-cert and --tls-key take them.
type TestCert struct {
	CertFile, KeyFile string
	Serial            *big.Int
	Cert              *x509.Certificate
}

// MustWriteTestCert generates a self-signed ECDSA certificate with the
// given serial number and writes it and its key as PEM into dir, under
// names of its own (name.crt, name.key).
func MustWriteTestCert(tb testing.TB, dir, name string, serial int64) TestCert {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "phonefleet test " + name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	tc := TestCert{
		CertFile: filepath.Join(dir, name+".crt"),
		KeyFile:  filepath.Join(dir, name+".key"),
		Serial:   cert.SerialNumber,
		Cert:     cert,
	}
	if err := os.WriteFile(tc.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(tc.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return tc
}

// MustInstall copies the certificate and key of c over dst's files, as an
// operator renewing a certificate in place would (each file replaced by a
// rename, so a reader never sees half a file).
func (c TestCert) MustInstall(tb testing.TB, dst TestCert) {
	tb.Helper()
	for _, f := range [][2]string{{c.CertFile, dst.CertFile}, {c.KeyFile, dst.KeyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			tb.Fatal(err)
		}
		tmp := f[1] + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(tmp, f[1]); err != nil {
			tb.Fatal(err)
		}
	}
}
