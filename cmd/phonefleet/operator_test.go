package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeAdmin answers IAM sign-ins with token and every admin call with an
// empty list, and records "token METHOD path" of each admin call.
type fakeAdmin struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newFakeAdmin(t *testing.T, token string) *fakeAdmin {
	f := &fakeAdmin{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v3/auth/tokens" {
			w.Header().Set("X-Subject-Token", token)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"token":{"expires_at":"2099-01-01T00:00:00Z","user":{"id":"us1"},"roles":[{"name":"operator-admin"}]}}`))
			return
		}
		f.mu.Lock()
		f.seen = append(f.seen, r.Header.Get("X-Auth-Token")+" "+r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		w.Write([]byte(`{"data":[],"error_code":"0","error_msg":"OK"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAdmin) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.seen
	f.seen = nil
	return s
}

// TestOperatorWhere checks where operator commands act: --db or
// PHONEFLEET_DB on that database; else a stored operator login (never a
// tenant login) through the admin API; else the default database file.
func TestOperatorWhere(t *testing.T) {
	t.Chdir(t.TempDir()) // no phonefleet.db here
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("PHONEFLEET_ENDPOINT", "")
	t.Setenv("PHONEFLEET_TOKEN", "")
	t.Setenv("PHONEFLEET_DB", "")
	tenantAPI, opAPI := newFakeAdmin(t, "tenant-token"), newFakeAdmin(t, "operator-token")
	db := filepath.Join(t.TempDir(), "p.db")
	if _, errOut, code := runCLI(t, "tenant", "create", "acme", "--db", db); code != 0 {
		t.Fatalf("tenant create --db: %d %s", code, errOut)
	}

	// A tenant login is never an operator's: without an operator login the
	// default database file is used, and it does not exist.
	if _, errOut, code := runCLIInput(t, "pw-123456\n", "login", "--endpoint", tenantAPI.URL, "--domain", "acme", "--user", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("tenant login: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "tenant", "list"); code == 0 || !strings.Contains(errOut, "phonefleet.db does not exist") {
		t.Fatalf("tenant list with only a tenant login: exit %d %q, want the missing default database", code, errOut)
	}
	if got := tenantAPI.calls(); len(got) != 0 {
		t.Fatalf("the tenant login's server was called: %v", got)
	}

	// login --operator takes no other domain.
	if _, errOut, code := runCLIInput(t, "pw-123456\n", "login", "--operator", "--endpoint", opAPI.URL, "--domain", "acme", "--user", "root", "--password-stdin"); code != 2 || !strings.Contains(errOut, "phonefleet-operators") {
		t.Fatalf("login --operator --domain acme: exit %d %q, want a usage error", code, errOut)
	}
	if _, errOut, code := runCLIInput(t, "pw-123456\n", "login", "--operator", "--endpoint", opAPI.URL, "--user", "root", "--password-stdin"); code != 0 {
		t.Fatalf("operator login: %d %s", code, errOut)
	}
	// With the operator login, commands go through the admin API...
	if _, errOut, code := runCLI(t, "tenant", "list"); code != 0 {
		t.Fatalf("tenant list: %d %s", code, errOut)
	}
	if got := opAPI.calls(); len(got) != 1 || got[0] != "operator-token GET /v1/phonefleet/admin/tenants" {
		t.Fatalf("admin calls %v, want the operator token listing tenants", got)
	}
	// ...and tenant commands still use the tenant login.
	runCLI(t, "instances", "list", "-o", "json") // the fake's answer is no instance page; only where it went counts
	if got := tenantAPI.calls(); len(got) != 1 || !strings.HasPrefix(got[0], "tenant-token ") {
		t.Fatalf("instances list went to %v, want the tenant login", got)
	}
	opAPI.calls()

	// An explicit --db, or PHONEFLEET_DB, wins over the login.
	out, errOut, code := runCLI(t, "tenant", "list", "--db", db)
	if code != 0 || !strings.Contains(out, `"name":"acme"`) {
		t.Fatalf("tenant list --db: exit %d %q %q", code, out, errOut)
	}
	t.Setenv("PHONEFLEET_DB", db)
	if out, _, code := runCLI(t, "tenant", "list"); code != 0 || !strings.Contains(out, `"name":"acme"`) {
		t.Fatalf("tenant list with PHONEFLEET_DB: exit %d %q", code, out)
	}
	if got := opAPI.calls(); len(got) != 0 {
		t.Fatalf("--db or PHONEFLEET_DB still called the server: %v", got)
	}
	t.Setenv("PHONEFLEET_DB", "")

	// An endpoint without an operator login of its own is refused; its
	// token never goes elsewhere.
	if _, errOut, code := runCLI(t, "tenant", "list", "--endpoint", tenantAPI.URL); code != 2 || !strings.Contains(errOut, "no operator login at") {
		t.Fatalf("tenant list --endpoint without an operator login: exit %d %q", code, errOut)
	}
	if got := append(tenantAPI.calls(), opAPI.calls()...); len(got) != 0 {
		t.Fatalf("calls %v, want none", got)
	}
}
