package http_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// tlsClient returns a client that trusts the given certificates and
// negotiates HTTP/2; each client has a transport (and connections) of its
// own.
func tlsClient(certs ...testingutil.TestCert) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c.Cert)
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
}

// getServed sends GET url and returns the protocol and the serial number
// of the certificate the server presented.
func getServed(c *http.Client, url string) (proto, serial string, err error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", &statusError{resp.StatusCode}
	}
	return resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber.String(), nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }

// TestServer_TLS serves HTTPS with HTTP/2 from a KeyPair, swaps the
// certificate files and reloads them while clients keep sending requests
// (some on open connections, some on a new connection each time): no
// request fails, and new connections see the new certificate's serial.
func TestServer_TLS(t *testing.T) {
	dir := t.TempDir()
	live := testingutil.MustWriteTestCert(t, dir, "live", 1001)
	next := testingutil.MustWriteTestCert(t, dir, "next", 2002)
	kp, err := pfhttp.LoadKeyPair(live.CertFile, live.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := MustOpenServer(t, func(s *TestServer) { s.Server.TLSConfig = kp.TLSConfig() })
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL()=%q, want https://", s.URL())
	}
	url := s.URL() + "/healthz"

	proto, serial, err := getServed(tlsClient(live, next), url)
	if err != nil {
		t.Fatal(err)
	}
	if proto != "HTTP/2.0" || serial != "1001" {
		t.Fatalf("got %s with serial %s, want HTTP/2.0 with 1001", proto, serial)
	}

	// Workers send requests until the reload is done and then `after` more
	// each; the reload happens once every worker has sent `before`.
	const workers, before, after = 4, 20, 20
	var started, reloaded sync.WaitGroup
	started.Add(workers)
	reloaded.Add(1)
	var mu sync.Mutex
	var failures []error
	sawNew := make([]bool, workers)
	var done sync.WaitGroup
	for i := range workers {
		done.Add(1)
		go func() {
			defer done.Done()
			shared := tlsClient(live, next)
			fresh := i%2 == 1 // odd workers make a new connection per request
			for phase, count := range []int{before, after} {
				for range count {
					c := shared
					if fresh {
						c = tlsClient(live, next)
					}
					_, serial, err := getServed(c, url)
					if fresh {
						c.CloseIdleConnections()
					}
					if err != nil {
						mu.Lock()
						failures = append(failures, err)
						mu.Unlock()
					} else if phase == 1 && serial == "2002" {
						sawNew[i] = true
					}
				}
				if phase == 0 {
					started.Done()
					reloaded.Wait()
				}
			}
		}()
	}
	started.Wait()
	next.MustInstall(t, live)
	if err := kp.Reload(); err != nil {
		t.Fatal(err)
	}
	reloaded.Done()
	done.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed across the reload, first: %v", len(failures), failures[0])
	}
	for i := 1; i < workers; i += 2 {
		if !sawNew[i] {
			t.Fatalf("worker %d made new connections after the reload and never saw serial 2002", i)
		}
	}
	if got := kp.Leaf().SerialNumber.String(); got != "2002" {
		t.Fatalf("Leaf().SerialNumber=%s, want 2002", got)
	}

	// A reload of files that are not a key pair fails and keeps serving
	// the current one.
	if err := os.WriteFile(live.CertFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := kp.Reload(); err == nil || !strings.Contains(err.Error(), live.CertFile) {
		t.Fatalf("Reload() of a broken file = %v, want an error naming %s", err, live.CertFile)
	}
	if _, serial, err := getServed(tlsClient(live, next), url); err != nil || serial != "2002" {
		t.Fatalf("after a failed reload: serial %s, err %v; want 2002", serial, err)
	}
}

// TestServer_TLSPlainRequest checks that a plain HTTP request to the TLS
// listener gets no API answer and the server keeps serving HTTPS.
func TestServer_TLSPlainRequest(t *testing.T) {
	cert := testingutil.MustWriteTestCert(t, t.TempDir(), "c", 7)
	kp, err := pfhttp.LoadKeyPair(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := MustOpenServer(t, func(s *TestServer) { s.Server.TLSConfig = kp.TLSConfig() })
	plain := strings.Replace(s.URL(), "https://", "http://", 1) + "/healthz"
	if resp, err := http.Get(plain); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP to the TLS listener answered 200")
		}
	}
	if _, _, err := getServed(tlsClient(cert), s.URL()+"/healthz"); err != nil {
		t.Fatalf("HTTPS after a plain request: %v", err)
	}
}

// TestLoadKeyPair_Errors checks that a missing or mismatched pair is an
// error naming the files.
func TestLoadKeyPair_Errors(t *testing.T) {
	dir := t.TempDir()
	a := testingutil.MustWriteTestCert(t, dir, "a", 1)
	b := testingutil.MustWriteTestCert(t, dir, "b", 2)
	for _, tc := range []struct{ name, cert, key string }{
		{"Missing", dir + "/none.crt", a.KeyFile},
		{"Mismatch", a.CertFile, b.KeyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pfhttp.LoadKeyPair(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.cert) {
				t.Fatalf("LoadKeyPair=%v, want an error naming %s", err, tc.cert)
			}
		})
	}
}
