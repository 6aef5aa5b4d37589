package http_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestConsole_Files checks the console's page and assets are served with
// their types and a policy that keeps the browser on this origin, and that
// nothing else under /console/ is.
func TestConsole_Files(t *testing.T) {
	s := MustOpenServer(t)
	for path, ctype := range map[string]string{
		"/console/":            "text/html; charset=utf-8",
		"/console/index.html":  "text/html; charset=utf-8",
		"/console/console.js":  "text/javascript; charset=utf-8",
		"/console/console.css": "text/css; charset=utf-8",
	} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype || len(body) == 0 ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("GET %s: %d %q %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"), len(body))
		}
	}
	for _, path := range []string{"/console/nope.js", "/console/../console/console.js", "/console/console.js?x=1", "/console/sub/console.js", "/console/console.go"} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s, want 404 APIGW.0101", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestConsole_NoOtherHosts checks the console's files name no other host:
// no fonts, scripts or API calls from elsewhere.
func TestConsole_NoOtherHosts(t *testing.T) {
	files, err := filepath.Glob("console/*")
	if err != nil || len(files) < 3 {
		t.Fatalf("console files: %v %v", files, err)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s refers to %q", f, m)
		}
	}
}
