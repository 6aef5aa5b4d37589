package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeAPI is a server that answers IAM sign-ins with its own token and
// every other call with an empty listing, and records the X-Auth-Token of
// every request it gets.
type fakeAPI struct {
	*httptest.Server
	token string // what a sign-in returns

	mu   sync.Mutex
	seen []string // X-Auth-Token of each request but the sign-ins
}

func newFakeAPI(t *testing.T, token string) *fakeAPI {
	f := &fakeAPI{token: token}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v3/auth/tokens" {
			w.Header().Set("X-Subject-Token", f.token)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"token":{"expires_at":"2099-01-01T00:00:00Z","user":{"id":"us1"},"roles":[{"name":"admin"}]}}`))
			return
		}
		f.mu.Lock()
		f.seen = append(f.seen, r.Header.Get("X-Auth-Token"))
		f.mu.Unlock()
		w.Write([]byte(`{"data":{"result":[],"page_no":1,"page_size":100,"total_count":0,"error_code":"0","error_msg":"OK"},"error_code":"0","error_msg":"OK"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

// tokens returns the tokens seen since the last call, and forgets them.
func (f *fakeAPI) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.seen
	f.seen = nil
	return s
}

// TestLoginPerEndpoint checks that a stored login is sent only to the
// endpoint it was issued for: another endpoint, from --endpoint or
// PHONEFLEET_ENDPOINT, needs its own login (or an explicit --token).
func TestLoginPerEndpoint(t *testing.T) {
	a, b := newFakeAPI(t, "tokenA"), newFakeAPI(t, "tokenB")
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("PHONEFLEET_ENDPOINT", "")
	t.Setenv("PHONEFLEET_TOKEN", "")
	cli := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return runCLIInput(t, stdin, args...)
	}
	list := func(wantToken string, f *fakeAPI, args ...string) {
		t.Helper()
		if _, errOut, code := cli("", append([]string{"instances", "list", "-o", "json"}, args...)...); code != 0 {
			t.Fatalf("instances list %v: exit %d %q", args, code, errOut)
		}
		if got := f.tokens(); len(got) != 1 || got[0] != wantToken {
			t.Fatalf("instances list %v: the server saw tokens %q, want [%q]", args, got, wantToken)
		}
	}
	refused := func(endpoint string, args ...string) {
		t.Helper()
		_, errOut, code := cli("", append([]string{"instances", "list", "-o", "json"}, args...)...)
		for _, f := range []*fakeAPI{a, b} {
			if got := f.tokens(); len(got) != 0 {
				t.Fatalf("instances list %v without a login for %s: %s saw tokens %q, want no request", args, endpoint, f.URL, got)
			}
		}
		if code != 2 || !strings.Contains(errOut, "phonefleet login --endpoint "+endpoint) {
			t.Fatalf("instances list %v without a login for %s: exit %d %q, want 2 and how to log in", args, endpoint, code, errOut)
		}
	}
	login := func(f *fakeAPI) {
		t.Helper()
		if _, errOut, code := cli("correct horse\n", "login", "--endpoint", f.URL, "--domain", "acme", "--user", "alice", "--password-stdin"); code != 0 {
			t.Fatalf("login %s: exit %d %q", f.URL, code, errOut)
		}
		st, err := os.Stat(filepath.Join(cfg, "phonefleet", "login.json"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("login.json: %v %v, want mode 0600", st, err)
		}
	}

	// One login: other endpoints need their own.
	{
		login(a)
		list("tokenA", a)
		list("tokenA", a, "--endpoint", a.URL+"/")                                       // the same endpoint, spelt with a slash
		list("tokenA", a, "--endpoint", strings.Replace(a.URL, "http://", "HTTP://", 1)) // and in capitals
		refused(b.URL, "--endpoint", b.URL)
		os.Setenv("PHONEFLEET_ENDPOINT", b.URL)
		refused(b.URL)
		os.Setenv("PHONEFLEET_ENDPOINT", "")
		// An explicit token is sent where it is given.
		list("explicit", b, "--endpoint", b.URL, "--token", "explicit")
		os.Setenv("PHONEFLEET_TOKEN", "fromenv")
		list("fromenv", b, "--endpoint", b.URL)
		os.Setenv("PHONEFLEET_TOKEN", "")
	}

	// Two logins: each endpoint gets its own token.
	{
		login(b)
		list("tokenB", b) // the latest login is the default
		list("tokenA", a, "--endpoint", a.URL)
		os.Setenv("PHONEFLEET_ENDPOINT", a.URL)
		list("tokenA", a)
		list("tokenB", b, "--endpoint", b.URL) // the flag wins over the environment
		os.Setenv("PHONEFLEET_ENDPOINT", "")
	}

	{
		// A file from before logins were kept per endpoint holds one login:
		// it is that endpoint's login, and the default.
		path := filepath.Join(cfg, "phonefleet", "login.json")
		old := `{"endpoint": "` + a.URL + `/", "token": "oldA", "domain": "acme", "user": "alice"}`
		if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		list("oldA", a)
		list("oldA", a, "--endpoint", a.URL)
		refused(b.URL, "--endpoint", b.URL)
		// Logging in elsewhere keeps it.
		login(b)
		list("tokenB", b)
		list("oldA", a, "--endpoint", a.URL)
	}
}

func TestNormalizeEndpoint(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", ""},
		{"HTTPS://API.Example.COM:443/", "https://api.example.com", ""},
		{"http://api.example.com:80", "http://api.example.com", ""},
		{"https://api.example.com:80", "https://api.example.com:80", ""},
		{"https://api.example.com/fleet//", "https://api.example.com/fleet", ""},
		{"https://[::1]:8443", "https://[::1]:8443", ""},
		{"ftp://x", "", "http:// or https://"},
		{"127.0.0.1:8080", "", "http:// or https://"},
		{"http://", "", "host"},
		{"http://u:p@x", "", "user"},
		{"http://x/?a=1", "", "query"},
		{"http://x/#f", "", "fragment"},
	} {
		got, err := normalizeEndpoint(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("normalizeEndpoint(%q)=%q, %v, want %q", tc.in, got, err, tc.want)
		} else if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("normalizeEndpoint(%q)=%q, %v, want an error about %s", tc.in, got, err, tc.err)
		}
	}
}

// FuzzNormalizeEndpoint checks that a normalised endpoint normalises to
// itself, so two spellings of one endpoint share one login.
func FuzzNormalizeEndpoint(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/", "HTTPS://a.b:443/x/", "http://[::1]:80", "http://a/%2F/", "http://x:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normalizeEndpoint(s)
		if err != nil {
			return
		}
		if n2, err := normalizeEndpoint(n); err != nil || n2 != n {
			t.Fatalf("normalizeEndpoint(%q)=%q, and again %q, %v", s, n, n2, err)
		}
	})
}
