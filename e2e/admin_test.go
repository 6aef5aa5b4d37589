package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pfhttp "github.com/phonefleet/phonefleet/http"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// operatorPassword is every test operator's password.
const operatorPassword = "operator-secret-1"

// flakyDataPlane is a release webhook that refuses every delivery while
// failing is set, and accepts them once it is not.
type flakyDataPlane struct {
	srv     *httptest.Server
	failing atomic.Bool
}

func newFlakyDataPlane(t *testing.T) *flakyDataPlane {
	dp := &flakyDataPlane{}
	dp.failing.Store(true)
	dp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dp.failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(dp.srv.Close)
	return dp
}

// serveFlags are the flags of the nodes of the admin scenario: releases
// go to dp and fail for good at the first refusal; no token cache, so a
// suspension is seen by every node at once.
func serveFlags(dp *flakyDataPlane) []string {
	return []string{"--release-driver", "webhook", "--webhook-url", dp.srv.URL, "--webhook-secret", "s3cret",
		"--release-max-attempts", "1", "--token-cache-ttl", "0"}
}

// operatorCLI runs the CLI as an operator's machine would: no database
// (PHONEFLEET_DB empty, no --db), its own config directory for the stored
// logins.
type operatorCLI struct {
	t   *testing.T
	bin string
	env []string
}

func newOperatorCLI(t *testing.T) *operatorCLI {
	home := t.TempDir()
	return &operatorCLI{t: t, bin: testingutil.MustBuildBinary(t), env: []string{"XDG_CONFIG_HOME=" + home, "HOME=" + home, "PHONEFLEET_DB=", "PHONEFLEET_ENDPOINT="}}
}

func (c *operatorCLI) run(stdin string, args ...string) testingutil.CLIResult {
	c.t.Helper()
	return testingutil.RunCLIInput(c.t, c.bin, c.env, stdin, args...)
}

func (c *operatorCLI) must(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.Code != 0 {
		c.t.Fatalf("phonefleet %s: exit %d\nstderr: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// operatorToken signs an operator in and returns the token.
func operatorToken(t *testing.T, url, name string) string {
	t.Helper()
	body := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": name, "password": operatorPassword, "domain": map[string]any{"name": "phonefleet-operators"}}}}}}
	buf, _ := json.Marshal(body)
	r := testingutil.MustDo(t, "POST", url+"/v3/auth/tokens", "", "application/json", buf)
	if r.Status != 201 || r.Header.Get("X-Subject-Token") == "" {
		t.Fatalf("operator sign-in: %d %s", r.Status, r.Raw)
	}
	return r.Header.Get("X-Subject-Token")
}

// mustBootstrapOperator creates the operator root where the database is.
func mustBootstrapOperator(t *testing.T, db string) {
	t.Helper()
	r := testingutil.RunCLIInput(t, testingutil.MustBuildBinary(t), []string{"PHONEFLEET_DB=" + db}, operatorPassword+"\n", "operator", "create", "root", "--password-stdin")
	if r.Code != 0 {
		t.Fatalf("operator create: exit %d: %s", r.Code, r.Stderr)
	}
	MustLine(t, r.Stdout)
}

// cataloguePrice returns the monthPrice of sku in region in a catalogue
// answer, 0 if it is not listed there.
func cataloguePrice(t *testing.T, cat *testingutil.Response, region, sku string) float64 {
	t.Helper()
	var data struct {
		List []struct {
			RegionID string `json:"regionId"`
			SKUs     []struct {
				ID         string  `json:"cbcSkuId"`
				MonthPrice float64 `json:"monthPrice"`
			} `json:"skuResponses"`
		} `json:"skuSpecResponseList"`
	}
	raw, _ := json.Marshal(cat.Body["data"])
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	for _, r := range data.List {
		for _, s := range r.SKUs {
			if r.RegionID == region && s.ID == sku {
				return s.MonthPrice
			}
		}
	}
	return 0
}

// adminRoutes returns every "METHOD path" of the admin API, from the
// OpenAPI document (a test there checks it lists exactly what the server
// serves).
func adminRoutes(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(pfhttp.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var routes []string
	for path, ops := range doc.Paths {
		if !strings.HasPrefix(path, pfhttp.AdminPrefix+"/") {
			continue
		}
		for method := range ops {
			routes = append(routes, strings.ToUpper(method)+" "+regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x"))
		}
	}
	if len(routes) < 20 {
		t.Fatalf("only %d admin routes documented", len(routes))
	}
	return routes
}

// TestAdmin_SQLite administers one node on SQLite only through the admin
// API and the remote operator CLI.
func TestAdmin_SQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	dp := newFlakyDataPlane(t)
	// The first operator is made where the database is, as the first
	// tenant was.
	mustBootstrapOperator(t, db)
	n := MustServe(t, db, serveFlags(dp)...)
	runAdminScenario(t, []*testingutil.Node{n}, dp)
}

// TestAdmin_PostgresTwoNodes administers a two-node PostgreSQL deployment
// only through the admin API and the remote operator CLI: the operator's
// side has no database URL.
func TestAdmin_PostgresTwoNodes(t *testing.T) {
	dbURL := mustPostgresDatabase(t)
	dp := newFlakyDataPlane(t)
	mustBootstrapOperator(t, dbURL)
	a := MustServe(t, dbURL, serveFlags(dp)...)
	b := MustServe(t, dbURL, serveFlags(dp)...)
	runAdminScenario(t, []*testingutil.Node{a, b}, dp)
}

// mustPostgresDatabase creates a fresh database on the test server and
// returns its URL; it skips (saying so) without
// PHONEFLEET_TEST_POSTGRES_URL.
func mustPostgresDatabase(t *testing.T) string {
	t.Helper()
	adminURL := os.Getenv("PHONEFLEET_TEST_POSTGRES_URL")
	if adminURL == "" {
		t.Skip("PHONEFLEET_TEST_POSTGRES_URL not set: the PostgreSQL deployment is not tested")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", adminURL, err)
	}
	defer conn.Close(ctx)
	name := "pf_e2e_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u := strings.Replace(adminURL, "/"+cfg.Database, "/"+name, 1)
	if u == adminURL {
		t.Fatalf("cannot name database %s in %s", name, adminURL)
	}
	return u
}

// runAdminScenario drives the nodes (one database) as an operator without
// database access: requests alternate between the nodes.
func runAdminScenario(t *testing.T, nodes []*testingutil.Node, dp *flakyDataPlane) {
	node := func(i int) string { return nodes[i%len(nodes)].URL }
	cli := newOperatorCLI(t)
	admin := func(i int) string { return node(i) + pfhttp.AdminPrefix }

	// Sign in from the CLI and create what a tenant needs, remotely.
	cli.must(operatorPassword+"\n", "login", "--operator", "--endpoint", node(0), "--user", "root", "--password-stdin")
	tenantID := MustLine(t, cli.must("", "tenant", "create", "acme", "--max-instances", "5"))
	if !strings.HasPrefix(tenantID, "tn") {
		t.Fatalf("tenant create printed %q, want a tenant ID", tenantID)
	}
	MustLine(t, cli.must("pass-word-1\n", "user", "create", "--tenant", "acme", "--name", "alice", "--password-stdin"))
	cli.must(operatorPassword+"\n", "operator", "create", "watcher", "--role", "operator-viewer", "--password-stdin")
	tenantToken := MustLine(t, cli.must("", "token", "issue", "--tenant", "acme"))
	// Another node answers for the same operator login's server? No: the
	// login is per endpoint; the other node takes a token of its own.
	root := operatorToken(t, node(1), "root")
	watcher := operatorToken(t, node(0), "watcher")

	// A price for one region, seen by the catalogue and charged.
	skuOut := cli.must("", "sku", "price", "kp.pro.2u4g", "--region", "cn-north-4", "--month-price", "2500", "--year-price", "25000", "--hour-price", "5")
	if !strings.Contains(skuOut, `"month_price":2500`) {
		t.Fatalf("sku price printed %s", skuOut)
	}
	cat := call(t, "GET", node(1)+"/v1/instances/sku?type=0", tenantToken, "", nil)
	wantOK(t, cat)
	if cn, ap := cataloguePrice(t, cat, "cn-north-4", "kp.pro.2u4g"), cataloguePrice(t, cat, "ap-southeast-1", "kp.pro.2u4g"); cn != 2500 || ap != 1990 {
		t.Fatalf("catalogue monthPrice cn-north-4 %v, ap-southeast-1 %v; want the region's 2500 and the base 1990", cn, ap)
	}
	ids := MustBuy(t, node(1), tenantToken, buyBody(2, 1, 2, 1))

	// Suspend: every tenant API answers 1004 on every node; the phones
	// keep running.
	cli.must("", "tenant", "suspend", "acme")
	for i := range nodes {
		r := call(t, "GET", node(i)+"/v1/instances/batch-query?page_no=1&page_size=10", tenantToken, "", nil)
		wantErr(t, r, 400, "KOOPHONE.API.1004")
		if r.Msg() != "Services not subscribed." {
			t.Fatalf("1004 message %q", r.Msg())
		}
		wantErr(t, postJSON(t, node(i)+"/v1/instances/delete", tenantToken, map[string]any{"instanceIdList": ids}), 400, "KOOPHONE.API.1004")
	}
	tenants := jsonLines(t, cli.must("", "tenant", "list"))
	if len(tenants) != 1 || tenants[0]["name"] != "acme" || tenants[0]["suspended_at"] == nil ||
		tenants[0]["instances"].(map[string]any)["running"] != float64(2) {
		t.Fatalf("tenant list while suspended: %v", tenants)
	}
	cli.must("", "tenant", "resume", "acme")
	for i := range nodes {
		wantOK(t, call(t, "GET", node(i)+"/v1/instances/batch-query?page_no=1&page_size=10", tenantToken, "", nil))
	}

	// A tenant token reaches no admin path, on any node: 404 as if there
	// were none. Without a token: 401.
	for _, route := range adminRoutes(t) {
		method, path, _ := strings.Cut(route, " ")
		for i := range nodes {
			var body []byte
			ct := ""
			if method == "POST" {
				body, ct = []byte(`{}`), "application/json"
			}
			wantErr(t, call(t, method, node(i)+path, tenantToken, ct, body), 404, "APIGW.0101")
		}
		wantErr(t, call(t, method, node(0)+path, "", "", nil), 401, "APIGW.0301")
	}

	// Without --test-clock there are no clocks, even for operators.
	wantErr(t, call(t, "GET", admin(0)+"/clocks/acme", root, "", nil), 404, "APIGW.0101")

	// operator-viewer reads, and is refused writes (audited).
	r := call(t, "GET", admin(0)+"/tenants", watcher, "", nil)
	wantOK(t, r)
	wantErr(t, postJSON(t, admin(1)+"/tenants", watcher, map[string]any{"name": "viewer-made"}), 400, "KOOPHONE.API.1001")
	wantErr(t, postJSON(t, admin(0)+"/tenants/acme/suspend", watcher, map[string]any{}), 400, "KOOPHONE.API.1001")

	// Bad input names the field and changes nothing.
	r = postJSON(t, admin(1)+"/tenants", root, map[string]any{"name": 5})
	wantErr(t, r, 400, "KOOPHONE.API.1000")
	if !strings.Contains(r.Msg(), "name") {
		t.Fatalf("bad name: message %q does not name the field", r.Msg())
	}
	wantErr(t, postJSON(t, admin(1)+"/tenants", root, map[string]any{"name": "phonefleet-operators"}), 400, "KOOPHONE.API.1000")
	r = postJSON(t, admin(0)+"/skus/kp.pro.2u4g/prices", root, map[string]any{"region": "cn-north-4", "month_price": -1, "year_price": 1, "hour_price": 1})
	wantErr(t, r, 400, "KOOPHONE.API.1000")
	if !strings.Contains(r.Msg(), "month_price") {
		t.Fatalf("bad price: message %q does not name the field", r.Msg())
	}
	wantErr(t, postJSON(t, admin(0)+"/tenants/nobody/quota", root, map[string]any{"max_instances": 3}), 404, "PHONEFLEET.ADMIN.0001")
	if got := jsonLines(t, cli.must("", "tenant", "list")); len(got) != 1 {
		t.Fatalf("refused calls changed the tenants: %v", got)
	}

	// Deleting a tenant that holds instances is refused.
	r = call(t, "DELETE", admin(1)+"/tenants/acme", root, "", nil)
	wantErr(t, r, 409, "PHONEFLEET.ADMIN.0002")
	if res := cli.run("", "tenant", "delete", "acme"); res.Code == 0 || !strings.Contains(res.Stderr, "not released") {
		t.Fatalf("tenant delete of a tenant holding instances: exit %d, %s", res.Code, res.Stderr)
	}

	// A failed release job is retried through the admin API.
	wantOK(t, postJSON(t, node(0)+"/v1/instances/delete", tenantToken, map[string]any{"instanceIdList": ids[:1]}))
	deadline := time.Now().Add(15 * time.Second)
	var failed []map[string]any
	for len(failed) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the release job did not fail")
		}
		failed = jsonLines(t, cli.must("", "jobs", "--state", "failed"))
		if len(failed) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if failed[0]["instance_id"] != ids[0] {
		t.Fatalf("failed jobs=%v", failed)
	}
	dp.failing.Store(false)
	cli.must("", "jobs", "retry", failed[0]["job_id"].(string))
	for {
		done := jsonLines(t, cli.must("", "jobs", "--state", "done"))
		if len(done) == 1 && done[0]["job_id"] == failed[0]["job_id"] {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the retried job is not done: %v", done)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A retired SKU is not sold and not listed; its instances keep running.
	cli.must("", "sku", "retire", "kp.pro.2u4g")
	wantErr(t, postJSON(t, node(1)+"/v1/instances/create", tenantToken, buyBody(1, 1, 2, 1)), 400, "KOOPHONE.API.3002")
	cat = call(t, "GET", node(0)+"/v1/instances/sku?type=0", tenantToken, "", nil)
	if cataloguePrice(t, cat, "cn-north-4", "kp.pro.2u4g") != 0 || cataloguePrice(t, cat, "cn-north-4", "kp.pro.4u8g") == 0 {
		t.Fatalf("catalogue lists the retired SKU: %s", cat.Raw)
	}
	if st := statuses(t, node(0), tenantToken, ids[1:]); st[ids[1]] != 2 {
		t.Fatalf("instance of the retired SKU: status %v, want running (2)", st)
	}

	// The audit says who did what, refusals included.
	var events []map[string]any
	for _, e := range jsonLines(t, cli.must("", "audit")) {
		if a, _ := e["action"].(string); strings.HasPrefix(a, "admin.") {
			events = append(events, e)
		}
	}
	want := map[string]string{"admin.tenantCreate/0": "root", "admin.tenantSuspend/0": "root", "admin.tenantResume/0": "root",
		"admin.tenantCreate/KOOPHONE.API.1001": "watcher", "admin.tenantCreate/KOOPHONE.API.1000": "root",
		"admin.skuPrice/0": "root", "admin.skuPrice/KOOPHONE.API.1000": "root", "admin.jobRetry/0": "root", "admin.skuRetire/0": "root",
		"admin.tenantDelete/PHONEFLEET.ADMIN.0002": "root", "admin.userCreate/0": "root", "admin.tokenIssue/0": "root"}
	for _, e := range events {
		key := e["action"].(string) + "/" + e["error_code"].(string)
		if user, ok := want[key]; ok && e["user"] == user {
			delete(want, key)
		}
	}
	if len(want) > 0 {
		t.Fatalf("audit lacks %v; admin events: %v", want, events)
	}

	// The remote audit takes the same filters as the local one: only the
	// suspension, by its actor, and the same as CSV.
	suspends := jsonLines(t, cli.must("", "audit", "--action", "admin.tenantSuspend", "--actor", "root"))
	if len(suspends) == 0 {
		t.Fatalf("audit --action admin.tenantSuspend --actor root: nothing")
	}
	for _, e := range suspends {
		if e["action"] != "admin.tenantSuspend" || e["actor"] != "root" {
			t.Fatalf("filtered audit has %v", e)
		}
	}
	if rows := strings.Split(strings.TrimSpace(cli.must("", "audit", "--action", "admin.tenantSuspend", "--actor", "root", "--format", "csv")), "\n"); len(rows) != len(suspends)+1 || !strings.Contains(rows[0], "actor") {
		t.Fatalf("audit as CSV: %q, want a header and %d rows", rows, len(suspends))
	}
}

// TestAdmin_Clock moves a tenant's test clock through the admin API, with
// serve --test-clock.
func TestAdmin_Clock(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	mustBootstrapOperator(t, db)
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db, "--test-clock")
	root := operatorToken(t, n.URL, "root")
	var before, after struct{ Tenant, Now string }
	n.MustDo(t, "GET", pfhttp.AdminPrefix+"/clocks/acme", root, nil, &before)
	r := postJSON(t, n.URL+pfhttp.AdminPrefix+"/clocks/acme", root, map[string]any{"advance": "24h"})
	wantOK(t, r)
	n.MustDo(t, "GET", pfhttp.AdminPrefix+"/clocks/acme", root, nil, &after)
	b, _ := time.Parse(time.RFC3339Nano, before.Now)
	a, _ := time.Parse(time.RFC3339Nano, after.Now)
	if after.Tenant != "acme" || a.Sub(b) < 24*time.Hour {
		t.Fatalf("clock before %v after %v, want 24h on", before, after)
	}
	wantErr(t, postJSON(t, n.URL+pfhttp.AdminPrefix+"/clocks/acme", root, map[string]any{"advance": "-1h"}), 400, "KOOPHONE.API.1000")
	wantErr(t, call(t, "GET", n.URL+pfhttp.AdminPrefix+"/clocks/acme", acme.Admin, "", nil), 404, "APIGW.0101")
	events := jsonLines(t, MustCLI(t, db, "audit", "--tenant", "acme"))
	if len(events) == 0 || events[0]["action"] != "testClockMove" || events[0]["user"] != "root" || events[0]["error_code"] != "0" {
		t.Fatalf("audit of acme: %v, want the move by root first", events)
	}

	// The operator CLI shows and moves it remotely, with no database.
	cli := newOperatorCLI(t)
	cli.must(operatorPassword+"\n", "login", "--operator", "--endpoint", n.URL, "--user", "root", "--password-stdin")
	shown, err := time.Parse(time.RFC3339Nano, MustLine(t, cli.must("", "clock", "show", "--tenant", "acme")))
	if err != nil || shown.Before(a) {
		t.Fatalf("clock show through the admin API: %v, %v; want at or after %v", shown, err, a)
	}
	moved := MustLine(t, cli.must("", "clock", "set", "2400-01-01T00:00:00Z", "--tenant", "acme"))
	if moved != "2400-01-01T00:00:00Z" {
		t.Fatalf("clock set through the admin API printed %q", moved)
	}
	if r := cli.run("", "clock", "advance", "-1s", "--tenant", "acme"); r.Code == 0 || !strings.Contains(r.Stderr, "advance") {
		t.Fatalf("clock advance -1s through the admin API: exit %d, stderr %q", r.Code, r.Stderr)
	}
	events = jsonLines(t, cli.must("", "audit", "--tenant", "acme", "--action", "testClockMove", "--limit", "1"))
	if len(events) != 1 || events[0]["actor"] != "root" || !strings.Contains(events[0]["detail"].(string), "to 2400-01-01T00:00:00Z") {
		t.Fatalf("remote clock move audited as %v, want by root, to 2400", events)
	}
}
