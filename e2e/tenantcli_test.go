package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/client"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestTenantCLI tries the tenant commands as a new user would: start
// "serve --demo" (the README's command), log in with the password it
// prints, list the instances, unsubscribe one after confirming the refund
// preview; then the environment's endpoint and token, buy, status, assign,
// reboot, and the refusals (no --db, no confirmation, no login).
func TestTenantCLI(t *testing.T) {
	bin := testingutil.MustBuildBinary(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	node := MustServe(t, db, "--demo")
	_, adminToken, _ := demoOutput(t, node)
	password := demoPassword(t, node)
	cfg := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + cfg, "PHONEFLEET_ENDPOINT=", "PHONEFLEET_TOKEN="}
	cli := func(stdin string, args ...string) testingutil.CLIResult {
		t.Helper()
		return testingutil.RunCLIInput(t, bin, env, stdin, args...)
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		r := cli(stdin, args...)
		if r.Code != 0 {
			t.Fatalf("phonefleet %s: exit %d\nstderr: %s", strings.Join(args, " "), r.Code, r.Stderr)
		}
		return r.Stdout
	}

	if r := cli("", "instances", "list"); r.Code != 2 || !strings.Contains(r.Stderr, "not logged in") {
		t.Fatalf("list before login: %d %q", r.Code, r.Stderr)
	}
	if r := cli("wrong-password\n", "login", "--endpoint", node.URL, "--domain", "demo", "--user", "demo", "--password-stdin"); r.Code != 1 ||
		!strings.Contains(r.Stderr, "The username or password is wrong.") {
		t.Fatalf("login with a wrong password: %d %q", r.Code, r.Stderr)
	}
	if out := must(password+"\n", "login", "--endpoint", node.URL, "--domain", "demo", "--user", "demo", "--password-stdin"); out != "" {
		t.Errorf("login printed %q on stdout", out)
	}
	st, err := os.Stat(filepath.Join(cfg, "phonefleet", "login.json"))
	if err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("login.json has mode %v, want 0600", st.Mode().Perm())
	}

	// The stored token goes to the endpoint it was issued for only: another
	// server, named by --endpoint or PHONEFLEET_ENDPOINT, never sees it.
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("X-Auth-Token"))
		mu.Unlock()
		http.Error(w, "{}", http.StatusUnauthorized)
	}))
	defer other.Close()
	for _, args := range [][]string{{"instances", "list", "--endpoint", other.URL}, {"instances", "status", "--endpoint", other.URL + "/", "x1"}} {
		if r := cli("", args...); r.Code != 2 || !strings.Contains(r.Stderr, "phonefleet login --endpoint "+other.URL) {
			t.Errorf("%v with no login there: %d %q, want a usage error saying how to log in", args, r.Code, r.Stderr)
		}
	}
	env = append(env, "PHONEFLEET_ENDPOINT="+other.URL)
	if r := cli("", "instances", "list"); r.Code != 2 || !strings.Contains(r.Stderr, "phonefleet login --endpoint "+other.URL) {
		t.Errorf("PHONEFLEET_ENDPOINT=another server: %d %q, want a usage error saying how to log in", r.Code, r.Stderr)
	}
	env = env[:len(env)-1]
	mu.Lock()
	if len(leaked) != 0 {
		t.Fatalf("another endpoint got %d requests with tokens %q, want none", len(leaked), leaked)
	}
	mu.Unlock()

	// Not a terminal: JSON lines by default.
	items := jsonLines(t, must("", "instances", "list"))
	var monthly, payPerUse []string
	for _, it := range items {
		if it["billing_mode"] == "prePaid" && it["state"] == "running" {
			monthly = append(monthly, it["instance_id"].(string))
		} else if it["billing_mode"] == "postPaid" && it["state"] == "running" {
			payPerUse = append(payPerUse, it["instance_id"].(string))
		}
	}
	if len(items) != 3 || len(monthly) == 0 {
		t.Fatalf("demo instances: %v", items)
	}
	if out := must("", "instances", "list", "-o", "table"); !strings.HasPrefix(out, "ID ") || strings.Count(out, "\n") != 4 {
		t.Errorf("table: %q", out)
	}
	if r := cli("", "instances", "list", "--db", db); r.Code != 2 || !strings.Contains(r.Stderr, "--db") {
		t.Errorf("instances list --db: %d %q, want a usage error naming --db", r.Code, r.Stderr)
	}

	target := monthly[0]
	cl := client.New(node.URL, adminToken)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dry, err := cl.UnsubscribeDryRun(ctx, []string{target})
	if err != nil {
		t.Fatal(err)
	}
	preview := jsonLines(t, must("", "instances", "unsubscribe", "--dry-run", target))
	if len(preview) != 1 || preview[0]["refund"] != float64(dry.TotalRefund) || preview[0]["dry_run"] != true {
		t.Fatalf("--dry-run: %v, want the server's refund %d", preview, dry.TotalRefund)
	}
	// Without a yes, nothing happens; the preview was shown on stderr.
	r := cli("no\n", "instances", "unsubscribe", target)
	if r.Code != 1 || !strings.Contains(r.Stderr, "total refund: ") || !strings.Contains(r.Stderr, "not confirmed") || r.Stdout != "" {
		t.Fatalf("unsubscribe answered no: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if s, _ := cl.BatchQueryStatus(ctx, []string{target}); s[0].Status != 2 {
		t.Fatalf("after no, status %d, want 2 (running)", s[0].Status)
	}
	done := jsonLines(t, must("yes\n", "instances", "unsubscribe", target))
	if len(done) != 1 || done[0]["refund"] != float64(dry.TotalRefund) || done[0]["dry_run"] != false {
		t.Fatalf("unsubscribe: %v", done)
	}
	if s, _ := cl.BatchQueryStatus(ctx, []string{target}); s[0].Status == 2 {
		t.Fatalf("after yes, %s is still running", target)
	}
	refunds, err := cl.Refunds(ctx, 1, 10)
	if err != nil || refunds.TotalCount == 0 || refunds.Result[0].InstanceID != target || refunds.Result[0].Amount != dry.TotalRefund {
		t.Fatalf("refunds after the CLI unsubscribed: %+v %v", refunds, err)
	}

	// The demo's pay-per-use phone: refused by unsubscribe, deleted by
	// delete-pay-per-use after a yes; a monthly one is refused before
	// anything changes.
	if len(payPerUse) != 1 {
		t.Fatalf("demo pay-per-use instances: %v", items)
	}
	ppu := payPerUse[0]
	if r := cli("", "instances", "delete-pay-per-use", "--yes", ppu, monthly[1]); r.Code != 1 || !strings.Contains(r.Stderr, "not pay-per-use instances: "+monthly[1]) {
		t.Fatalf("delete-pay-per-use of a monthly phone: %d %q", r.Code, r.Stderr)
	}
	if got := jsonLines(t, must("", "instances", "delete-pay-per-use", "--dry-run", ppu)); len(got) != 1 || got[0]["noop"] != false || got[0]["dry_run"] != true {
		t.Fatalf("delete-pay-per-use --dry-run: %v", got)
	}
	if r := cli("no\n", "instances", "delete-pay-per-use", ppu); r.Code != 1 || !strings.Contains(r.Stderr, "not confirmed") || r.Stdout != "" {
		t.Fatalf("delete-pay-per-use answered no: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if s, _ := cl.BatchQueryStatus(ctx, []string{ppu}); s[0].Status != 2 {
		t.Fatalf("after no, status %d, want 2 (running)", s[0].Status)
	}
	if got := jsonLines(t, must("yes\n", "instances", "delete-pay-per-use", ppu)); len(got) != 1 || got[0]["instance_id"] != ppu || got[0]["dry_run"] != false {
		t.Fatalf("delete-pay-per-use: %v", got)
	}
	if s, _ := cl.BatchQueryStatus(ctx, []string{ppu}); s[0].Status == 2 {
		t.Fatalf("after yes, %s is still running", ppu)
	}

	// The environment's endpoint and token win over the stored login.
	env = []string{"XDG_CONFIG_HOME=" + t.TempDir(), "PHONEFLEET_ENDPOINT=" + node.URL, "PHONEFLEET_TOKEN=" + adminToken}
	bought := jsonLines(t, must("", "instances", "buy", "--sku", "kp.pro.2u4g", "--region", "cn-north-4", "--count", "2", "--prefix", "cli"))
	if len(bought) != 2 || bought[0]["instance_name"] != "cli-0001" {
		t.Fatalf("buy: %v", bought)
	}
	a, b := bought[0]["instance_id"].(string), bought[1]["instance_id"].(string)
	if got := jsonLines(t, must("", "instances", "assign", "--user", "u1", a)); len(got) != 1 || got[0]["user_id"] != "u1" {
		t.Fatalf("assign: %v", got)
	}
	if got := jsonLines(t, must("", "instances", "reboot", b)); len(got) != 1 || got[0]["job_id"] == "" {
		t.Fatalf("reboot: %v", got)
	}
	status := jsonLines(t, must("", "instances", "status", a, target))
	if len(status) != 2 || status[0]["text"] != "running" {
		t.Fatalf("status: %v", status)
	}
	if out := must("", "instances", "list", "--user", "u1", "-o", "json"); !strings.Contains(out, a) || strings.Count(out, "\n") != 1 {
		t.Fatalf("list --user u1: %q", out)
	}
	if r := cli("", "instances", "unsubscribe", "--token", "wrong", target); r.Code != 1 || !strings.Contains(r.Stderr, "token is invalid") {
		t.Errorf("a wrong --token: %d %q", r.Code, r.Stderr)
	}
}
