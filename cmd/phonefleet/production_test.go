package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestMain_TLS boots serve with --tls-cert and --tls-key, checks HTTP/2,
// and reloads a renewed certificate through Reload (what SIGHUP calls),
// then a broken one, which keeps the renewed one.
func TestMain_TLS(t *testing.T) {
	dir := t.TempDir()
	live := testingutil.MustWriteTestCert(t, dir, "live", 11)
	next := testingutil.MustWriteTestCert(t, dir, "next", 22)
	m, _ := MustRunMain(t, func(c *Config) { c.TLSCert, c.TLSKey = live.CertFile, live.KeyFile })
	if !strings.HasPrefix(m.HTTPServer.URL(), "https://") {
		t.Fatalf("URL()=%s, want https", m.HTTPServer.URL())
	}
	pool := x509.NewCertPool()
	pool.AddCert(live.Cert)
	pool.AddCert(next.Cert)
	get := func() (proto, serial string) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(m.HTTPServer.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /readyz: %d", resp.StatusCode)
		}
		return resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if proto, serial := get(); proto != "HTTP/2.0" || serial != "11" {
		t.Fatalf("got %s serial %s, want HTTP/2.0 serial 11", proto, serial)
	}
	next.MustInstall(t, live)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, serial := get(); serial != "22" {
		t.Fatalf("after Reload: serial %s, want 22", serial)
	}
	testingutil.MustWriteTestCert(t, t.TempDir(), "other", 33).MustInstall(t, testingutil.TestCert{CertFile: live.CertFile, KeyFile: dir + "/unused.key"})
	if err := m.Reload(); err == nil {
		t.Fatal("Reload of a certificate with another key succeeded")
	}
	if _, serial := get(); serial != "22" {
		t.Fatalf("after a failed Reload: serial %s, want 22 kept", serial)
	}
}

// TestMain_JSONLogs checks that --log-format json writes one JSON object
// per line, each with time, level and msg, including the HTTP server's own
// messages.
func TestMain_JSONLogs(t *testing.T) {
	m, _ := MustRunMain(t, func(c *Config) { c.LogFormat, c.LogLevel = "json", "debug" })
	for _, path := range []string{"/healthz", "/v1/instances/batch-query", "/nowhere"} {
		resp, err := http.Get(m.HTTPServer.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m.Reload() // logs that there is nothing to reload
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	logs := m.Stderr.(*testingutil.SyncBuffer).String()
	sc := bufio.NewScanner(strings.NewReader(logs))
	n := 0
	for sc.Scan() {
		n++
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %d is not a JSON object: %v\n%s", n, err, sc.Text())
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := line[k]; !ok {
				t.Fatalf("log line %d has no %q: %s", n, k, sc.Text())
			}
		}
	}
	if n < 3 || !strings.Contains(logs, `"msg":"listening"`) || !strings.Contains(logs, "nothing to reload") {
		t.Fatalf("%d log lines, want the listening and reload lines among them:\n%s", n, logs)
	}
}

// TestVersion checks both spellings, both formats, and that -ldflags
// values win over the build information.
func TestVersion(t *testing.T) {
	text := mustCLI(t, "version")
	if text != mustCLI(t, "--version") {
		t.Fatalf("version and --version differ: %q", text)
	}
	if strings.Count(text, "\n") != 1 || !strings.HasPrefix(text, "phonefleet ") || !strings.Contains(text, " go1.") {
		t.Fatalf("version printed %q, want one line with the Go version", text)
	}
	version, commit, buildTime = "v1.4.0", "0123456789abcdef0123", "2026-12-08T01:00:00Z"
	t.Cleanup(func() { version, commit, buildTime = "", "", "" })
	text = mustCLI(t, "version")
	if want := "phonefleet v1.4.0 commit 0123456789ab built 2026-12-08T01:00:00Z go1."; !strings.HasPrefix(text, want) {
		t.Fatalf("version printed %q, want it to start %q", text, want)
	}
	var bi BuildInfo
	out := mustCLI(t, "version", "-o", "json")
	if err := json.Unmarshal([]byte(out), &bi); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("version -o json printed %q: %v", out, err)
	}
	if bi.Version != "v1.4.0" || bi.Commit != "0123456789abcdef0123" || bi.BuildTime != "2026-12-08T01:00:00Z" || !strings.HasPrefix(bi.GoVersion, "go1.") || bi.Platform == "" {
		t.Fatalf("version -o json = %+v", bi)
	}
	if _, errOut, code := runCLI(t, "version", "-o", "yaml"); code != 2 || !strings.Contains(errOut, "-o") {
		t.Fatalf("version -o yaml: code %d err %q, want a usage error", code, errOut)
	}
}
