package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// waitForLog waits until the node's logs contain want, for at most a
// minute, and fails the test otherwise.
func waitForLog(t *testing.T, n *testingutil.Node, want string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		logs, changed := n.Stderr.Snapshot()
		if strings.Contains(logs, want) {
			return
		}
		select {
		case <-changed:
		case <-n.Exited():
			t.Fatalf("serve exited while waiting for %q:\n%s", want, logs)
		case <-timeout:
			t.Fatalf("no %q in the logs within a minute:\n%s", want, logs)
		}
	}
}

// TestServeTLS_SIGHUP runs serve with --tls-cert and --tls-key, checks that
// clients get HTTP/2 with the certificate's serial, renews the files and
// sends SIGHUP while clients keep calling the API (some on open
// connections, some on a new connection per request): no request fails,
// new connections present the new serial, and the process keeps running.
func TestServeTLS_SIGHUP(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tls.db")
	te := MustTenant(t, db, "acme")
	live := testingutil.MustWriteTestCert(t, dir, "live", 31)
	next := testingutil.MustWriteTestCert(t, dir, "next", 32)
	n := MustServe(t, db, "--tls-cert", live.CertFile, "--tls-key", live.KeyFile)
	if !strings.HasPrefix(n.URL, "https://127.0.0.1:") {
		t.Fatalf("serve logged %s, want an https URL", n.URL)
	}
	pool := x509.NewCertPool()
	pool.AddCert(live.Cert)
	pool.AddCert(next.Cert)
	newClient := func() *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	}
	// get lists the tenant's instances (an authenticated API call) and
	// returns the protocol and the certificate's serial.
	get := func(c *http.Client) (proto, serial string, err error) {
		req, _ := http.NewRequest("GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=10", nil)
		req.Header.Set("X-Auth-Token", te.Viewer)
		resp, err := c.Do(req)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", "", err
		}
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"error_code":"0"`) {
			return "", "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber.String(), nil
	}
	if proto, serial, err := get(newClient()); err != nil || proto != "HTTP/2.0" || serial != "31" {
		t.Fatalf("got %s serial %s err %v, want HTTP/2.0 serial 31", proto, serial, err)
	}

	const workers, before, after = 4, 15, 15
	var started, done sync.WaitGroup
	reloaded := make(chan struct{})
	started.Add(workers)
	var mu sync.Mutex
	var failures []error
	sawNew := make([]bool, workers)
	for i := range workers {
		done.Add(1)
		go func() {
			defer done.Done()
			shared := newClient()
			for phase, count := range []int{before, after} {
				for range count {
					c := shared
					if i%2 == 1 { // a new connection (and handshake) per request
						c = newClient()
					}
					_, serial, err := get(c)
					if c != shared {
						c.CloseIdleConnections()
					}
					if err != nil {
						mu.Lock()
						failures = append(failures, err)
						mu.Unlock()
					} else if phase == 1 && serial == "32" {
						sawNew[i] = true
					}
				}
				if phase == 0 {
					started.Done()
					<-reloaded
				}
			}
		}()
	}
	started.Wait()
	next.MustInstall(t, live)
	n.Signal(t, syscall.SIGHUP)
	waitForLog(t, n, "serial=32")
	close(reloaded)
	done.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed across the reload, first: %v", len(failures), failures[0])
	}
	for i := 1; i < workers; i += 2 {
		if !sawNew[i] {
			t.Fatalf("worker %d made new connections after SIGHUP and never saw serial 32", i)
		}
	}

	// A renewal gone wrong: SIGHUP logs the error and serves the last good
	// certificate.
	if err := os.WriteFile(live.KeyFile, []byte("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Signal(t, syscall.SIGHUP)
	waitForLog(t, n, "keeping the current TLS certificate")
	if _, serial, err := get(newClient()); err != nil || serial != "32" {
		t.Fatalf("after a failed reload: serial %s err %v, want 32", serial, err)
	}
	select {
	case <-n.Exited():
		t.Fatalf("serve exited after SIGHUP:\n%s", n.Stderr)
	default:
	}
}

// TestServe_SIGHUPWithoutTLS checks that SIGHUP does not end a plain HTTP
// serve (systemctl reload must be safe).
func TestServe_SIGHUPWithoutTLS(t *testing.T) {
	n := MustServe(t, filepath.Join(t.TempDir(), "hup.db"))
	n.Signal(t, syscall.SIGHUP)
	waitForLog(t, n, "nothing to reload")
	if r := call(t, "GET", n.URL+"/healthz", "", "", nil); r.Status != 200 {
		t.Fatalf("GET /healthz after SIGHUP: %d", r.Status)
	}
}

// TestServe_ConfigFile starts serve with only --config (and the harness's
// --addr, which wins over the file's): the database, the test clock, the
// JSON log format and the trusted proxies come from the file. A file with an
// unknown key does not start.
func TestServe_ConfigFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "from-config.db")
	te := MustTenant(t, db, "acme")
	cfg := filepath.Join(dir, "phonefleet.yaml")
	text := fmt.Sprintf("# written by TestServe_ConfigFile\ndb: %s\naddr: 127.0.0.1:1\ntest-clock: true\nlog-format: json\ntrusted-proxies:\n  - 10.0.0.0/8\n  - 192.0.2.1\nrequest-timeout: 20s\n", db)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	n := testingutil.MustStartNode(t, testingutil.MustBuildBinary(t), "--config", cfg)
	if r := call(t, "GET", n.URL+"/v1/_test/clock", te.Admin, "", nil); r.Status != 200 {
		t.Fatalf("GET /v1/_test/clock: %d %s, want 200 (test-clock: true in the file)", r.Status, r.Raw)
	}
	n.Stop(t)
	sc := bufio.NewScanner(strings.NewReader(n.Stderr.String()))
	lines := 0
	for sc.Scan() {
		lines++
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line["msg"] == nil || line["level"] == nil {
			t.Fatalf("log line %d is not a JSON object with msg and level: %q", lines, sc.Text())
		}
	}
	if logs := n.Stderr.String(); lines < 2 || !strings.Contains(logs, "TEST CLOCK ON") {
		t.Fatalf("logs:\n%s", logs)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("db: "+db+"\nrate-limt: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := testingutil.RunCLI(t, testingutil.MustBuildBinary(t), nil, "serve", "--config", bad, "--addr", "127.0.0.1:0")
	if res.Code != 2 || !strings.Contains(res.Stderr, `"rate-limt"`) || !strings.Contains(res.Stderr, "bad.yaml:2") {
		t.Fatalf("serve with an unknown key: exit %d stderr %q, want 2 naming bad.yaml:2 and the key", res.Code, res.Stderr)
	}
}

// TestVersion runs phonefleet version and --version on the built binary.
func TestVersion(t *testing.T) {
	bin := testingutil.MustBuildBinary(t)
	text := testingutil.MustRunCLI(t, bin, nil, "--version")
	if line := MustLine(t, text); !strings.HasPrefix(line, "phonefleet ") || !strings.Contains(line, " go1.") {
		t.Fatalf("--version printed %q", line)
	}
	var bi map[string]any
	if err := json.Unmarshal([]byte(MustLine(t, testingutil.MustRunCLI(t, bin, nil, "version", "-o", "json"))), &bi); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "commit", "commit_time", "modified", "build_time", "go_version", "platform"} {
		if _, ok := bi[k]; !ok {
			t.Fatalf("version -o json has no %q: %v", k, bi)
		}
	}
}
