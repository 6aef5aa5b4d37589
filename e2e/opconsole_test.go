package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// adminList calls a GET of the admin API and decodes its data, a list.
func adminList(t *testing.T, url, token string, v any) {
	t.Helper()
	r := call(t, "GET", url, token, "", nil)
	wantOK(t, r)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Raw, &env); err != nil || json.Unmarshal(env.Data, v) != nil {
		t.Fatalf("GET %s: %s", url, r.Raw)
	}
}

// TestOperatorConsole drives the console in headless Chromium as an
// operator: the tenants with phones by state, this month's revenue and
// refunds and quota use, suspending and resuming one; the hosts page of a
// server without hosts; a failed job retried once the data plane answers;
// the audit across tenants narrowed by filters, with actors, addresses and
// dry runs. An operator-viewer sees every write button disabled; a tenant
// user still gets the tenant console. Every page fits 1280×800 and
// 390×844 without sideways scrolling; screenshots of each go to the
// test's artifact directory.
func TestOperatorConsole(t *testing.T) {
	browser := chromium(t)
	db := filepath.Join(t.TempDir(), "pf.db")
	mustBootstrapOperator(t, db)
	bin := testingutil.MustBuildBinary(t)
	acme := MustTenant(t, db, "acme")
	acmeAdmin := acme.Admin
	for _, args := range [][]string{
		{"operator", "create", "watcher", "--role", "operator-viewer", "--password-stdin"},
		{"user", "create", "--tenant", "acme", "--name", "alice", "--password-stdin"},
	} {
		if r := testingutil.RunCLIInput(t, bin, []string{"PHONEFLEET_DB=" + db}, operatorPassword+"\n", args...); r.Code != 0 {
			t.Fatalf("%v: %d %s", args, r.Code, r.Stderr)
		}
	}
	beta := MustTenant(t, db, "beta")
	MustCLI(t, db, "tenant", "update", "beta", "--max-instances", "5")

	// The data plane refuses every release, with markup in its answer
	// (which the job's last error quotes), until failing is cleared.
	var failing atomic.Bool
	failing.Store(true)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<b id="injected">down</b>`)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(receiver.Close)
	node := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", receiver.URL, "--webhook-secret", "s3cret",
		"--release-max-attempts", "1", "--token-cache-ttl", "0")
	root := operatorToken(t, node.URL, "root")

	acmeIDs := MustBuy(t, node.URL, acmeAdmin, buyBody(3, 1, 2, 1))
	MustBuy(t, node.URL, acmeAdmin, buyBody(1, 0, 0, 0))
	MustBuy(t, node.URL, beta.Admin, buyBody(2, 1, 2, 1))
	wantOK(t, postJSON(t, node.URL+"/v1/instances/delete?dry_run=true", acmeAdmin, map[string]any{"instanceIdList": acmeIDs[:1]}))
	wantOK(t, postJSON(t, node.URL+"/v1/instances/delete", acmeAdmin, map[string]any{"instanceIdList": acmeIDs[:1]}))

	// What the tenants page must show, from the catalogue and the refunds.
	month := cataloguePrice(t, call(t, "GET", node.URL+"/v1/instances/sku?type=0", acmeAdmin, "", nil), "cn-north-4", "kp.pro.2u4g")
	var refunds []struct {
		Amount int64 `json:"amount"`
	}
	adminList(t, node.URL+"/v1/phonefleet/admin/refunds?tenant=acme", root, &refunds)
	if month <= 0 || len(refunds) != 1 || refunds[0].Amount <= 0 {
		t.Fatalf("monthPrice %v, acme's refunds %+v", month, refunds)
	}
	wantRevenue, wantRefunds := int64(month)*3, refunds[0].Amount

	// The release fails for good at its first refusal.
	type job struct {
		ID         string `json:"job_id"`
		InstanceID string `json:"instance_id"`
	}
	var failed []job
	for deadline := time.Now().Add(15 * time.Second); len(failed) == 0; {
		adminList(t, node.URL+"/v1/phonefleet/admin/jobs?state=failed", root, &failed)
		if len(failed) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the release job did not fail")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg := newBrowserPage(t, ctx, browser, 1280, 800)
	run, eval, shot, text := pg.run, pg.eval, pg.shot, pg.text
	signIn := func(user, domain string, operator bool, ready string) {
		t.Helper()
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(node.URL + "/console/"),
			evalStep(`(sessionStorage.clear(), location.hash = "#signin", true)`),
			chromedp.Navigate(node.URL + "/console/#signin"),
			chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
			setField(`#signin-form input[name=user]`, user),
		}
		if operator {
			steps = append(steps, chromedp.Click(chromedp.CSS(`#signin-form input[name=operator]`)))
		} else {
			steps = append(steps, setField(`#signin-form input[name=domain]`, domain))
		}
		steps = append(steps, setField(`#signin-form input[name=password]`, ""),
			chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), operatorPassword+kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(ready)))
		run("sign in as "+user, steps...)
	}
	fits := func(page string) {
		t.Helper()
		if scroll, inner := pg.pageWidth(); scroll > inner {
			t.Errorf("the %s page is %d px wide in a window of %d: it scrolls sideways", page, scroll, inner)
		}
	}
	enabledWrites := func() int {
		var n int
		eval("enabled write buttons", `document.querySelectorAll("main button[data-action]:not(:disabled)").length`, &n)
		return n
	}
	type tenantRow struct {
		Running, Deleting, Released, Quota, Revenue, Refunds, RevenueText, RefundsText, Status, Suspended string
	}
	tenantExpr := func(name string) string {
		return `(tr => tr && ({Running: tr.querySelector("[data-col=running]").textContent, Deleting: tr.querySelector("[data-col=deleting]").textContent,
			Released: tr.querySelector("[data-col=released]").textContent, Quota: tr.querySelector("[data-col=quota]").textContent,
			Revenue: tr.querySelector("[data-col=revenue]").dataset.minor, Refunds: tr.querySelector("[data-col=refunds]").dataset.minor,
			RevenueText: tr.querySelector("[data-col=revenue]").textContent, RefundsText: tr.querySelector("[data-col=refunds]").textContent,
			Status: tr.querySelector("[data-col=status]").textContent, Suspended: tr.dataset.suspended}))(document.querySelector('#tenants tr[data-name="` + name + `"]'))`
	}

	// An operator-viewer reads everything and can change nothing.
	signIn("watcher", "", true, `#tenants[data-total="2"]`)
	if got := text("#who"); got != "watcher @ phonefleet-operators (operator-viewer)" {
		t.Errorf("viewer signed in as %q", got)
	}
	var navs struct {
		Tenant   bool `json:"tenant"`
		Operator bool `json:"operator"`
	}
	eval("navs", `({tenant: !document.querySelector("#nav").hidden, operator: !document.querySelector("#opnav").hidden})`, &navs)
	if navs.Tenant || !navs.Operator {
		t.Errorf("operator's navigation: tenant pages shown %v, operator pages shown %v", navs.Tenant, navs.Operator)
	}
	var buttons int
	eval("viewer's buttons", `document.querySelectorAll("#tenants button[data-action]:disabled").length`, &buttons)
	if n := enabledWrites(); n != 0 || buttons != 2 {
		t.Errorf("viewer on the tenants page: %d enabled write buttons, %d disabled; want 0 and 2", n, buttons)
	}
	run("viewer's jobs", chromedp.Click(chromedp.CSS(`#opnav a[data-page="jobs"]`)), chromedp.WaitVisible(chromedp.CSS(`#jobs[data-total="1"]`)),
		shot("op-01-viewer-jobs"))
	if n := enabledWrites(); n != 0 {
		t.Errorf("viewer on the failed jobs page: %d enabled write buttons", n)
	}

	// An operator-admin.
	signIn("root", "", true, `#tenants[data-total="2"]`)
	if got := text("#who"); got != "root @ phonefleet-operators (operator-admin)" {
		t.Errorf("operator signed in as %q", got)
	}
	run("tenants", shot("op-02-tenants"))
	var row tenantRow
	eval("acme's row", tenantExpr("acme"), &row)
	want := tenantRow{Running: "3", Deleting: "1", Released: "0", Quota: "4 / 10000",
		Revenue: strconv.FormatInt(wantRevenue, 10), Refunds: strconv.FormatInt(wantRefunds, 10),
		RevenueText: usd(wantRevenue), RefundsText: usd(wantRefunds), Status: "active", Suspended: "false"}
	if row != want {
		t.Errorf("acme's row:\n got %+v\nwant %+v", row, want)
	}
	eval("beta's row", tenantExpr("beta"), &row)
	if row.Running != "2" || row.Quota != "2 / 5" || row.Revenue != strconv.FormatInt(int64(month)*2, 10) || row.Refunds != "0" {
		t.Errorf("beta's row: %+v", row)
	}
	if n := enabledWrites(); n != 2 {
		t.Errorf("operator-admin: %d enabled write buttons on the tenants page, want 2", n)
	}

	// Suspend beta: its API refuses it; resume.
	run("suspend beta",
		chromedp.Click(chromedp.CSS(`#tenants tr[data-name="beta"] button[data-action=suspend]`)),
		chromedp.WaitVisible(chromedp.CSS(`#dialog-ok`)),
		chromedp.Click(chromedp.CSS(`#dialog-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`#tenants tr[data-name="beta"][data-suspended="true"]`)),
		shot("op-03-tenants-suspended"))
	if got := text(`#tenants tr[data-name="beta"] [data-col=status]`); got != "suspended" {
		t.Errorf("beta's status after suspending: %q", got)
	}
	wantErr(t, call(t, "GET", node.URL+"/v1/instances/batch-query?page_no=1&page_size=1", beta.Admin, "", nil), 400, "KOOPHONE.API.1004")
	run("resume beta",
		chromedp.Click(chromedp.CSS(`#tenants tr[data-name="beta"] button[data-action=resume]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tenants tr[data-name="beta"][data-suspended="false"]`)))
	wantOK(t, call(t, "GET", node.URL+"/v1/instances/batch-query?page_no=1&page_size=1", beta.Admin, "", nil))

	// Hosts: this server has none, and says so.
	run("hosts", chromedp.Click(chromedp.CSS(`#opnav a[data-page="hosts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#hosts-empty`)), shot("op-04-hosts"))
	if got := pg.attr("#hosts", "data-available"); got != "false" {
		t.Errorf("hosts available: %q", got)
	}
	if got := text("#hosts-empty"); !strings.Contains(got, "No data-plane hosts are configured") {
		t.Errorf("hosts page: %q", got)
	}

	// Failed jobs: the release, its error shown as text; retried once the
	// data plane answers, it leaves the list and is done.
	run("jobs", chromedp.Click(chromedp.CSS(`#opnav a[data-page="jobs"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#jobs[data-total="1"]`)), shot("op-05-jobs"))
	var jr struct {
		Instance, Tenant, Type, Attempts, Error string
		Injected                                bool
	}
	eval("job row", `(tr => ({Instance: tr.querySelector("[data-col=instance]").textContent, Tenant: tr.querySelector("[data-col=tenant]").textContent,
		Type: tr.querySelector("[data-col=type]").textContent, Attempts: tr.querySelector("[data-col=attempts]").textContent,
		Error: tr.querySelector("[data-col=error]").textContent, Injected: document.querySelector("#injected") !== null}))(document.querySelector("#jobs tbody tr[data-id]"))`, &jr)
	if jr.Instance != acmeIDs[0] || jr.Tenant != "acme" || jr.Type != "release" || jr.Attempts != "1" ||
		!strings.Contains(jr.Error, `<b id="injected">down</b>`) || jr.Injected {
		t.Errorf("failed job row: %+v", jr)
	}
	failing.Store(false)
	run("retry", chromedp.Click(chromedp.CSS(`#jobs tr[data-id="`+failed[0].ID+`"] button[data-action=retry]`)),
		chromedp.WaitVisible(chromedp.CSS(`#notice`)),
		chromedp.WaitVisible(chromedp.CSS(`#jobs[data-total="0"]`)))
	var done []job
	for deadline := time.Now().Add(15 * time.Second); len(done) == 0; {
		adminList(t, node.URL+"/v1/phonefleet/admin/jobs?state=done", root, &done)
		if len(done) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the retried job is not done")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if done[0].ID != failed[0].ID {
		t.Errorf("done jobs %+v, want the retried %s", done, failed[0].ID)
	}
	run("jobs reloaded", chromedp.Click(chromedp.CSS(`#jobs-reload`)), chromedp.WaitVisible(chromedp.CSS(`#jobs[data-total="0"]`)))

	// The audit across tenants: who, from where, dry runs; filters narrow it.
	type auditRow struct {
		Tenant, Action, Actor, Addr, Mark string
		DryRun                            bool
	}
	rowsExpr := `Array.from(document.querySelectorAll("#opaudit tbody tr[data-id]"), tr => ({Tenant: tr.querySelector("[data-col=tenant]").textContent,
		Action: tr.querySelector("[data-col=action]").textContent, Actor: tr.querySelector("[data-col=actor]").textContent,
		Addr: tr.querySelector("[data-col=addr]").textContent, DryRun: tr.dataset.dryRun === "true",
		Mark: (tr.querySelector(".badge.dry-run") || {textContent: ""}).textContent}))`
	run("audit", chromedp.Click(chromedp.CSS(`#opnav a[data-page="opaudit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#opaudit[data-count]`)), shot("op-06-audit"))
	var rows []auditRow
	eval("audit rows", rowsExpr, &rows)
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Tenant+" "+r.Action+" "+r.Actor+" "+r.Addr+" "+r.Mark] = true
	}
	acmeTok, _, _ := strings.Cut(acmeAdmin, ".")
	for _, w := range []string{"operators admin.jobRetry root 127.0.0.1 ", "operators admin.tenantSuspend root 127.0.0.1 ",
		"operators admin.tenantResume root 127.0.0.1 ", "acme instanceDelete " + acmeTok + " 127.0.0.1 dry run",
		"acme instanceDelete " + acmeTok + " 127.0.0.1 ", "beta instanceCreate " + strings.SplitN(beta.Admin, ".", 2)[0] + " 127.0.0.1 "} {
		if !seen[w] {
			t.Errorf("audit across tenants lacks %q; rows %+v", w, rows)
		}
	}
	run("audit filtered by tenant and action",
		setField(`#opaudit-filters select[name=tenant]`, "acme"),
		setField(`#opaudit-filters input[name=action]`, "instanceDelete"),
		chromedp.Click(chromedp.CSS(`#opaudit-filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#opaudit[data-count="2"]`)),
		shot("op-07-audit-filtered"))
	rows = nil
	eval("filtered audit rows", rowsExpr, &rows)
	if len(rows) != 2 || rows[0].Action != "instanceDelete" || rows[0].DryRun || !rows[1].DryRun || rows[1].Mark != "dry run" || rows[0].Tenant != "acme" {
		t.Errorf("audit of acme's unsubscribes: %+v", rows)
	}
	run("audit filtered by actor",
		setField(`#opaudit-filters select[name=tenant]`, ""),
		setField(`#opaudit-filters input[name=action]`, ""),
		setField(`#opaudit-filters input[name=actor]`, "root"),
		chromedp.Click(chromedp.CSS(`#opaudit-filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#opaudit[data-count="3"]`)))
	rows = nil
	eval("audit rows by root", rowsExpr, &rows)
	if len(rows) != 3 || rows[0].Action != "admin.jobRetry" || rows[0].Actor != "root" {
		t.Errorf("audit by root: %+v", rows)
	}

	// Every page fits a phone; the tables read as cards.
	for _, size := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		run(size.name, chromedp.EmulateViewport(size.width, size.height))
		for _, p := range []struct{ page, ready string }{
			{"tenants", `#tenants[data-total="2"]`}, {"hosts", `#hosts-empty`}, {"jobs", `#jobs[data-total]`}, {"opaudit", `#opaudit[data-count]`},
		} {
			run(size.name+" "+p.page, chromedp.Click(chromedp.CSS(`#opnav a[data-page="`+p.page+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(p.ready)), shot("op-08-"+p.page+"-"+size.name))
			fits(size.name + " " + p.page)
		}
	}
	// On a phone the tenant's figures are still there, labelled (the
	// retried release is done: acme holds 3 now).
	var phone struct {
		Quota   string `json:"quota"`
		Visible bool   `json:"visible"`
	}
	run("phone tenants", chromedp.Click(chromedp.CSS(`#opnav a[data-page="tenants"]`)), chromedp.WaitVisible(chromedp.CSS(`#tenants[data-total="2"]`)))
	eval("phone tenant row", `(td => ({quota: td.textContent, visible: td.checkVisibility()}))(document.querySelector('#tenants tr[data-name="acme"] [data-col=quota]'))`, &phone)
	if phone.Quota != "3 / 10000" || !phone.Visible {
		t.Errorf("acme's quota on a phone: %+v", phone)
	}
	run("desktop again", chromedp.EmulateViewport(1280, 800))

	// A server with data-plane hosts lists them. This one has none, so the
	// page is given an answer in the admin API's envelope, a host's name
	// carrying markup that must show as text.
	run("hosts listed",
		evalStep(`(() => { const real = window.fetch; window.fetch = (url, opts) => String(url).startsWith("/v1/phonefleet/admin/hosts")
			? Promise.resolve(new Response(JSON.stringify({error_code: "0", error_msg: "OK", data: [
				{id: "h1", name: "<i id=hostinj>rack-1</i>", address: "10.0.0.5", region: "cn-north-4", capacity: 120, free: 7, state: "reachable", drift: 2},
				{id: "h2", name: "rack-2", capacity: 60, free: 0, unreachable: true}]}), {status: 200, headers: {"Content-Type": "application/json"}}))
			: real(url, opts); return true; })()`),
		chromedp.Click(chromedp.CSS(`#opnav a[data-page="tenants"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tenants[data-total="2"]`)),
		chromedp.Click(chromedp.CSS(`#opnav a[data-page="hosts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#hosts[data-available="true"][data-total="2"]`)),
		shot("op-10-hosts-listed"))
	var hosts []string
	eval("host rows", `Array.from(document.querySelectorAll("#hosts tbody tr"), tr => Array.from(tr.querySelectorAll("td"), td => td.textContent).join("|"))
		.concat(document.querySelector("#hostinj") ? ["injected"] : [])`, &hosts)
	if strings.Join(hosts, "\n") != "<i id=hostinj>rack-1</i>10.0.0.5|cn-north-4|120|7|reachable|2\nrack-2|–|60|0|unreachable|–" {
		t.Errorf("hosts listed:\n%s", strings.Join(hosts, "\n"))
	}
	var emptyShown bool
	eval("hosts' empty state", `document.querySelector("#hosts-empty").checkVisibility()`, &emptyShown)
	if emptyShown {
		t.Errorf("the empty state shows beside the hosts")
	}

	// A pasted operator token opens the operator pages too.
	run("operator token",
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-form`)),
		chromedp.SendKeys(chromedp.CSS(`#token-form input[name=token]`), root+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#tenants[data-total="2"]`)))

	// A tenant's user still gets the tenant console, by password or token.
	signIn("alice", "acme", false, `#fleet[data-total]`)
	eval("tenant navs", `({tenant: !document.querySelector("#nav").hidden, operator: !document.querySelector("#opnav").hidden})`, &navs)
	if !navs.Tenant || navs.Operator || text("#who") != "alice @ acme" {
		t.Errorf("tenant user: tenant pages %v, operator pages %v, who %q", navs.Tenant, navs.Operator, text("#who"))
	}
	run("tenant's token",
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-form`)),
		chromedp.SendKeys(chromedp.CSS(`#token-form input[name=token]`), acmeAdmin+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#fleet[data-total="3"]`)),
		evalStep(`location.hash = "#tenants"`),
		chromedp.WaitVisible(chromedp.CSS(`#fleet[data-total="3"]`)),
		shot("op-09-tenant-console"))
	eval("tenant navs", `({tenant: !document.querySelector("#nav").hidden, operator: !document.querySelector("#opnav").hidden})`, &navs)
	if !navs.Tenant || navs.Operator {
		t.Errorf("tenant token: tenant pages %v, operator pages %v", navs.Tenant, navs.Operator)
	}
}
