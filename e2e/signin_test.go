package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// signInBody is the IAM password body for user of domain.
func signInBody(domain, user, password string) []byte {
	return fmt.Appendf(nil, `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"password":%q,"domain":{"name":%q}}}},"scope":{"project":{"name":"cn-north-4"}}}}`,
		user, password, domain)
}

// mustSignInUser creates tenant acme and its user alice on db.
func mustSignInUser(t *testing.T, db string) {
	t.Helper()
	MustTenant(t, db, "acme")
	if r := testingutil.RunCLIInput(t, testingutil.MustBuildBinary(t), []string{"PHONEFLEET_DB=" + db}, "correct horse battery\n",
		"user", "create", "--tenant", "acme", "--name", "alice", "--password-stdin"); r.Code != 0 {
		t.Fatalf("user create: %d %s", r.Code, r.Stderr)
	}
}

// signInAll sends the bodies at once (each with the extra headers) and
// returns the statuses, in the bodies' order.
func signInAll(t *testing.T, url string, bodies [][]byte, headers ...string) []int {
	t.Helper()
	statuses := make([]int, len(bodies))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, b := range bodies {
		wg.Go(func() {
			<-start
			r, err := testingutil.Do(t.Context(), "POST", url+"/v3/auth/tokens", "", "application/json", b, headers...)
			if err != nil {
				t.Errorf("sign-in %d: %v", i, err)
				return
			}
			statuses[i] = r.Status
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

// passwordChecks reads the node's count of password checks.
func passwordChecks(t *testing.T, url string) int {
	t.Helper()
	return int(mustScrape(t, url).value("phonefleet_iam_password_checks_total"))
}

// Simultaneous wrong passwords get at most the allowed number of password
// checks, counted by the server: 5 for one name, 20 for one address.
func TestSignIn_Concurrent(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	mustSignInUser(t, db)

	for _, tc := range []struct {
		name  string
		n     int
		user  func(i int) string
		limit int
	}{
		{"OneName", 30, func(int) string { return "alice" }, 5},
		{"OneAddress", 150, func(i int) string { return fmt.Sprintf("user%d", i) }, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := MustServe(t, db) // lockouts are per node: start afresh
			bodies := make([][]byte, tc.n)
			for i := range bodies {
				bodies[i] = signInBody("acme", tc.user(i), "wrong password")
			}
			count := map[int]int{}
			for _, s := range signInAll(t, n.URL, bodies) {
				count[s]++
			}
			checks := passwordChecks(t, n.URL)
			if count[401] > tc.limit || count[401]+count[429] != tc.n || checks != count[401] {
				t.Fatalf("%d simultaneous wrong passwords: answers %v and %d password checks, want at most %d checks (401) and the rest 429",
					tc.n, count, checks, tc.limit)
			}
			// The right password is refused unchecked.
			r := call(t, "POST", n.URL+"/v3/auth/tokens", "", "application/json", signInBody("acme", "alice", "correct horse battery"))
			if r.Status != 429 || passwordChecks(t, n.URL) != checks {
				t.Fatalf("right password afterwards: %d %s, want 429 without a check", r.Status, r.Raw)
			}
		})
	}
}

// Behind a load balancer (--trusted-proxies), clients are told apart by
// X-Forwarded-For: other clients' failures do not lock out a real user, and
// the audit trail records the forwarded address. Without the flag the
// header is ignored; a bad CIDR is a usage error naming the flag.
func TestSignIn_TrustedProxies(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	mustSignInUser(t, db)
	spray := func(url string) {
		t.Helper()
		for i := range 20 {
			r := call(t, "POST", url+"/v3/auth/tokens", "", "application/json", signInBody("acme", fmt.Sprintf("user%d", i), "wrong"),
				"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
			if r.Status != 401 {
				t.Fatalf("failure %d: %d %s, want 401", i, r.Status, r.Raw)
			}
		}
	}

	t.Run("Trusted", func(t *testing.T) {
		n := MustServe(t, db, "--trusted-proxies", "10.0.0.0/8,127.0.0.1/32")
		spray(n.URL)
		r := call(t, "POST", n.URL+"/v3/auth/tokens", "", "application/json", signInBody("acme", "alice", "correct horse battery"),
			"X-Forwarded-For", "192.0.2.7")
		if r.Status != 201 {
			t.Fatalf("real user's sign-in: %d %s, want 201", r.Status, r.Raw)
		}
		token := r.Header.Get("X-Subject-Token")
		r = call(t, "POST", n.URL+"/v1/instances/delete", token, "application/json", []byte(`{"instanceIdList":["nosuchinstance0001"]}`),
			"X-Forwarded-For", "192.0.2.7, 10.1.2.3")
		wantErr(t, r, 400, "KOOPHONE.API.1012")
		events := jsonLines(t, MustCLI(t, db, "audit", "--limit", "1"))
		if len(events) != 1 || events[0]["client_addr"] != "192.0.2.7" {
			t.Fatalf("phonefleet audit: %v, want client_addr 192.0.2.7", events)
		}
		r = call(t, "GET", n.URL+"/v1/phonefleet/audit?page_no=1&page_size=1", token, "", nil)
		items, _ := r.Data()["result"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["client_addr"] != "192.0.2.7" {
			t.Fatalf("GET /v1/phonefleet/audit: %s, want client_addr 192.0.2.7", r.Raw)
		}
	})
	t.Run("Untrusted", func(t *testing.T) {
		n := MustServe(t, db)
		spray(n.URL)
		r := call(t, "POST", n.URL+"/v3/auth/tokens", "", "application/json", signInBody("acme", "alice", "correct horse battery"),
			"X-Forwarded-For", "192.0.2.7")
		if r.Status != 429 {
			t.Fatalf("spoofed X-Forwarded-For without --trusted-proxies: %d %s, want 429", r.Status, r.Raw)
		}
	})
	t.Run("BadCIDR", func(t *testing.T) {
		r := testingutil.RunCLI(t, testingutil.MustBuildBinary(t), nil, "serve", "--db", db, "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8,10.0.0.0/33")
		if r.Code != 2 || !strings.Contains(r.Stderr, "--trusted-proxies") || !strings.Contains(r.Stderr, "10.0.0.0/33") {
			t.Fatalf("bad CIDR: exit %d, stderr %q; want 2 naming --trusted-proxies and the CIDR", r.Code, r.Stderr)
		}
	})
}
