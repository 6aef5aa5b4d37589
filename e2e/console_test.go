package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// chromium returns the path of a Chromium or Chrome binary. Without one the
// test is skipped, unless PHONEFLEET_REQUIRE_BROWSER is set (CI sets it,
// after installing Chromium), when it fails.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PHONEFLEET_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium on PATH and PHONEFLEET_REQUIRE_BROWSER is set")
	}
	t.Skip("no Chromium on PATH (apt-get install chromium): the console's browser test needs it")
	return ""
}

// usd formats minor units as en-US currency, as the console shows them.
func usd(minor int64) string {
	s := strconv.FormatInt(minor/100, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return fmt.Sprintf("$%s.%02d", s, minor%100)
}

// TestConsole drives the web console in headless Chromium as an operator
// would: a wrong token and a wrong password show the API's messages; the
// user signs in, sees that pay-per-use rows cannot be unsubscribed, filters
// the fleet, selects instances, sees a refund preview whose total is the
// dry run's, confirms, and sees the rows go offline; then buys with the
// price shown before confirming, and reads refunds and the audit trail.
// Screenshots of each page go to the test's artifact directory (kept with
// go test -artifacts).
func TestConsole(t *testing.T) {
	browser := chromium(t)
	db := filepath.Join(t.TempDir(), "pf.db")
	te := MustTenant(t, db, "acme")
	bin := testingutil.MustBuildBinary(t)
	if r := testingutil.RunCLIInput(t, bin, []string{"PHONEFLEET_DB=" + db}, "correct horse battery\n",
		"user", "create", "--tenant", "acme", "--name", "alice", "--password-stdin"); r.Code != 0 {
		t.Fatalf("user create: %d %s", r.Code, r.Stderr)
	}
	// The data plane takes each release and holds it until the test lets
	// go, so the rows stay "going offline" until then, and the console's
	// badges must then turn "released" on their own.
	letGo := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-letGo:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(receiver.Close)
	var once sync.Once
	release := func() { once.Do(func() { close(letGo) }) }
	t.Cleanup(release)
	node := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", receiver.URL, "--webhook-secret", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := client.New(node.URL, te.Admin)
	buy := func(prefix, region string, mode, n int) []string {
		req := client.CreateRequest{OS: "AOSP14", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID, RegionID: region,
			InstanceNamePrefix: prefix, BandSize: 2, Count: n, ChargeParam: client.ChargeParam{ChargingMode: mode}}
		if mode == 1 {
			req.ChargeParam.PeriodType, req.ChargeParam.PeriodNum = 2, 3
		}
		res, err := cl.Create(ctx, req, "")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, in := range res.InstanceInfos {
			ids = append(ids, in.InstanceID)
		}
		return ids
	}
	web := buy("web", "ap-southeast-1", 1, 3)
	buy("db", "cn-north-4", 1, 2)
	ppu := buy("ppu", "ap-southeast-1", 0, 1)[0]

	pg := newBrowserPage(t, ctx, browser, 1280, 800)
	run, eval, shot, text, attr := pg.run, pg.eval, pg.shot, pg.text, pg.attr

	// Errors show the API's own message.
	run("paste a wrong token",
		chromedp.Navigate(node.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.SendKeys(chromedp.CSS(`#token-form input[name=token]`), "not-a-token"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if got := text("#error"); got != "Incorrect IAM authentication information: token is invalid (APIGW.0301)" {
		t.Errorf("wrong token: error %q", got)
	}
	run("sign in with a wrong password",
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=user]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=domain]`), "acme"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), "wrong"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#error`)),
		pollTrue(`document.querySelector("#error").textContent.includes("password")`, 10*time.Second))
	if got := text("#error"); !strings.Contains(got, "The username or password is wrong.") {
		t.Errorf("wrong password: error %q", got)
	}

	// Sign in with the keyboard alone.
	run("sign in",
		setField(`#signin-form input[name=password]`, ""),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), "correct horse battery"),
		shot("01-signin"),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name=password]`), kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#fleet[data-total="6"]`)))
	if got := text("#who"); got != "alice @ acme" {
		t.Errorf("signed in as %q", got)
	}
	if got := text(`#fleet tr[data-billing="postPaid"] .reason`); got != "cannot be unsubscribed" {
		t.Errorf("pay-per-use row's reason: %q", got)
	}
	// A pay-per-use row in the selection is left out of unsubscribe, and
	// the note says why.
	run("select the pay-per-use row",
		chromedp.Click(chromedp.CSS(`#fleet tr[data-billing="postPaid"] input[type=checkbox]`)),
		chromedp.WaitVisible(chromedp.CSS(`#selection-note`)),
		shot("02-fleet"))
	if note := text("#selection-note"); !strings.Contains(note, "pay-per-use instances cannot be unsubscribed") {
		t.Errorf("selection note: %q", note)
	}
	var disabled bool
	eval("unsubscribe button", `document.querySelector("#act-unsubscribe").disabled`, &disabled)
	if !disabled {
		t.Error("unsubscribe is enabled with only a pay-per-use instance selected")
	}
	run("deselect", chromedp.Click(chromedp.CSS(`#fleet tr[data-billing="postPaid"] input[type=checkbox]`)))

	// Search by exact name, then filter by region and billing mode, select
	// the page, preview.
	run("search",
		chromedp.SendKeys(chromedp.CSS(`#filters input[name=q]`), "db-0002"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#fleet[data-total="1"]`)))
	if got := text(`#fleet tbody tr td:nth-child(3)`); got != "db-0002" {
		t.Errorf("search for db-0002 found %q", got)
	}
	run("filter",
		setField(`#filters input[name=q]`, ""),
		setField(`#filters input[name=region]`, "ap-southeast-1"),
		setField(`#filters select[name=billing_mode]`, "prePaid"),
		chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#fleet[data-total="3"]`)),
		chromedp.Click(chromedp.CSS(`#select-all`)),
		shot("03-fleet-filtered-selected"))
	if got := text("#selection-count"); got != "3 selected" {
		t.Fatalf("selection: %q", got)
	}
	var names []string
	eval("rows", `Array.from(document.querySelectorAll("#fleet tbody tr td:nth-child(3)"), td => td.textContent)`, &names)
	slices.Sort(names) // bought in one order: the same creation time
	if strings.Join(names, ",") != "web-0001,web-0002,web-0003" {
		t.Errorf("filtered rows: %v", names)
	}
	run("preview",
		chromedp.Click(chromedp.CSS(`#act-unsubscribe`)),
		chromedp.WaitVisible(chromedp.CSS(`#preview-total`)),
		shot("04-unsubscribe-preview"))
	dry, err := cl.UnsubscribeDryRun(ctx, web)
	if err != nil {
		t.Fatal(err)
	}
	if got := attr("#preview-total", "data-minor"); got != strconv.FormatInt(dry.TotalRefund, 10) || dry.TotalRefund <= 0 {
		t.Errorf("preview total %s minor units, dry run %d", got, dry.TotalRefund)
	}
	if got := text("#preview-total"); got != usd(dry.TotalRefund) {
		t.Errorf("preview total shown as %q, want %q", got, usd(dry.TotalRefund))
	}
	var previewRows int
	eval("preview rows", `document.querySelectorAll("#preview tbody tr").length`, &previewRows)
	if previewRows != 3 {
		t.Errorf("preview lists %d instances, want 3", previewRows)
	}
	if got, want := text("#dialog-ok"), "Unsubscribe 3 instances, refund "+usd(dry.TotalRefund); got != want {
		t.Errorf("confirmation button %q, want %q", got, want)
	}

	// Confirm: the rows go offline.
	run("confirm",
		chromedp.Click(chromedp.CSS(`#dialog-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`#notice`)),
		chromedp.WaitVisible(chromedp.CSS(`#fleet tbody .badge[data-status="deleting"]`)))
	var offline []string
	eval("badges", `Array.from(document.querySelectorAll("#fleet tbody .badge"), b => b.textContent)`, &offline)
	if strings.Join(offline, ",") != "going offline,going offline,going offline" {
		t.Errorf("badges after unsubscribing: %v", offline)
	}
	if got := text("#notice"); !strings.Contains(got, "Unsubscribed 3 instances; "+usd(dry.TotalRefund)) {
		t.Errorf("result: %q", got)
	}
	run("screenshot", shot("05-fleet-going-offline"))
	st, err := cl.BatchQueryStatus(ctx, web)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Status != 3 {
			t.Errorf("%s has status %d after the console unsubscribed it, want 3", s.InstanceID, s.Status)
		}
	}
	// The data plane confirms: the badges refresh to "released" without a
	// reload.
	release()
	run("released",
		pollTrue(`document.querySelectorAll('#fleet tbody .badge[data-status="released"]').length === 3`, 18*time.Second),
		shot("05b-fleet-released"))

	// Buy: the price is computed before confirming.
	cat, err := cl.SKUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var month int64
	for _, r := range cat.SKUSpecResponseList {
		for _, s := range r.SKUResponses {
			if r.RegionID == "cn-north-4" && s.CBCSKUID == "kp.pro.2u4g" {
				month = s.MonthPrice
			}
		}
	}
	run("buy page",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="buy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#buy-price[data-minor]`)))
	// The Buy page starts on the catalogue's first region, with its models.
	var buyDefaults struct {
		Region string `json:"region"`
		SKUs   int    `json:"skus"`
	}
	eval("buy defaults", `({region: document.querySelector("#buy-form select[name=regionId]").value, skus: document.querySelector("#buy-form select[name=instanceSkuId]").options.length})`, &buyDefaults)
	if first := cat.SKUSpecResponseList[0]; buyDefaults.Region != first.RegionID || buyDefaults.SKUs != len(first.SKUResponses) {
		t.Errorf("Buy page opened on region %q with %d models, want the catalogue's first, %q with %d", buyDefaults.Region, buyDefaults.SKUs, first.RegionID, len(first.SKUResponses))
	}
	// A confirm dialog left open closes when the page changes.
	// (The Back button, or a link followed from outside: the modal dialog
	// covers the page's own links.)
	run("dialog left open",
		chromedp.Click(chromedp.CSS(`#buy-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#dialog-ok`)),
		func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`(location.hash = "#refunds", true)`)(ctx, target)
			return chromedp.Void{}, err
		},
		chromedp.WaitVisible(chromedp.CSS(`#refunds[data-total]`)))
	var dialogOpen bool
	eval("dialog after navigation", `document.querySelector("#dialog").open`, &dialogOpen)
	if dialogOpen {
		t.Error("the confirm dialog stayed open after going to another page")
	}
	run("back to buy",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="buy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#buy-price[data-minor]`)),
		setField(`#buy-form select[name=regionId]`, "cn-north-4"),
		setField(`#buy-form select[name=instanceSkuId]`, "kp.pro.2u4g"),
		setField(`#buy-form input[name=count]`, ""),
		chromedp.SendKeys(chromedp.CSS(`#buy-form input[name=count]`), "2"),
		setField(`#buy-form input[name=periodNum]`, ""),
		chromedp.SendKeys(chromedp.CSS(`#buy-form input[name=periodNum]`), "3"),
		setField(`#buy-form input[name=instanceNamePrefix]`, "new"),
		shot("06-buy"))
	if got := attr("#buy-price", "data-minor"); got != strconv.FormatInt(month*3*2, 10) {
		t.Errorf("price of 2 for 3 months: %s, want %d", got, month*3*2)
	}
	run("buy",
		chromedp.Click(chromedp.CSS(`#buy-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#dialog-ok`)))
	if got := text("#dialog-ok"); got != "Buy for "+usd(month*3*2) {
		t.Errorf("purchase confirmation %q", got)
	}
	run("confirm purchase",
		chromedp.Click(chromedp.CSS(`#dialog-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`#buy-result`)))
	if page, err := cl.BatchQuery(ctx, client.Query{InstanceName: "new-0002"}); err != nil || page.TotalCount != 1 || page.Result[0].Region != "cn-north-4" {
		t.Errorf("after buying 2 in the console: %+v %v", page, err)
	}

	run("refunds",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="refunds"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#refunds[data-total="3"]`)),
		shot("07-refunds"))
	run("audit",
		chromedp.Click(chromedp.CSS(`#nav a[data-page="audit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit[data-total]`)),
		shot("08-audit"))
	// Newest first: the console's purchase and unsubscribe by alice, the
	// test's own preview with the admin token, and alice's preview in the
	// console, both marked as dry runs; all from the loopback address.
	type auditRow struct {
		Action string `json:"action"`
		Actor  string `json:"actor"`
		Addr   string `json:"addr"`
		DryRun bool   `json:"dry_run"`
		Mark   string `json:"mark"`
	}
	rowsExpr := `Array.from(document.querySelectorAll("#audit tbody tr[data-id]"), tr => ({action: tr.querySelector("[data-col=action]").textContent,
		actor: tr.querySelector("[data-col=actor]").textContent, addr: tr.querySelector("[data-col=addr]").textContent,
		dry_run: tr.dataset.dryRun === "true", mark: (tr.querySelector(".badge.dry-run") || {textContent: ""}).textContent}))`
	var rows []auditRow
	eval("audit rows", rowsExpr, &rows)
	// The admin token has no name: its ID (the part before the dot) is the actor.
	adminID, _, _ := strings.Cut(te.Admin, ".")
	want := []auditRow{{"instanceCreate", "alice", "127.0.0.1", false, ""}, {"instanceDelete", "alice", "127.0.0.1", false, ""},
		{"instanceDelete", adminID, "127.0.0.1", true, "dry run"}, {"instanceDelete", "alice", "127.0.0.1", true, "dry run"},
		{"instanceCreate", adminID, "127.0.0.1", false, ""}}
	if len(rows) < len(want) {
		t.Fatalf("audit rows %+v, want at least %+v", rows, want)
	}
	for i, w := range want {
		if rows[i] != w {
			t.Errorf("audit row %d: %+v, want %+v", i, rows[i], w)
		}
	}
	var headers []string
	eval("audit columns", `Array.from(document.querySelectorAll("#audit thead th"), th => th.textContent)`, &headers)
	if got := strings.Join(headers, ","); got != "When,Action,Result,Actor,Address,Instances,Detail,Request" {
		t.Errorf("audit columns %s", got)
	}
	// The filters: only the previews of unsubscribes.
	run("audit filters",
		setField(`#audit-filters select[name=action]`, "instanceDelete"),
		setField(`#audit-filters input[name=actor]`, "alice"),
		chromedp.Click(chromedp.CSS(`#audit-filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit[data-total="2"]`)),
		shot("08b-audit-filtered"))
	rows = nil
	eval("filtered audit rows", rowsExpr, &rows)
	if len(rows) != 2 || rows[0].Action != "instanceDelete" || rows[1].Action != "instanceDelete" || !rows[1].DryRun {
		t.Errorf("audit filtered by action and actor: %+v", rows)
	}

	// Export CSV hands the browser a file of the filtered events, with a
	// header row. (The download is caught before it leaves the page.)
	run("audit export",
		func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`(() => { window.exported = null;
				const toObject = URL.createObjectURL;
				URL.createObjectURL = (blob) => { window.exportedBlob = blob; return toObject.call(URL, blob); };
				HTMLAnchorElement.prototype.click = function () {
					const name = this.download;
					window.exportedBlob.text().then(text => { window.exported = {name, text}; });
				};
				return true; })()`)(ctx, target)
			return chromedp.Void{}, err
		},
		chromedp.Click(chromedp.CSS(`#audit-export-csv`)),
		pollTrue(`window.exported !== null`, 10*time.Second))
	var exported struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}
	eval("exported file", `window.exported`, &exported)
	if csvLines := strings.Split(strings.TrimSpace(exported.Text), "\n"); exported.Name != "audit.csv" || len(csvLines) != 3 ||
		!strings.HasPrefix(csvLines[0], "id,at,tenant,actor,") || !strings.Contains(csvLines[2], ",acme,alice,alice,127.0.0.1,true,instanceDelete,") {
		t.Errorf("exported %q:\n%s", exported.Name, exported.Text)
	}

	// A phone-width screen: every page fits without sideways scrolling of
	// the page (a table may scroll inside its own box).
	run("phone width", chromedp.EmulateViewport(390, 844))
	for _, pg := range []struct{ page, ready string }{
		{"fleet", `#fleet[data-total]`}, {"buy", `#buy-price[data-minor]`}, {"refunds", `#refunds[data-total]`}, {"audit", `#audit[data-total]`},
	} {
		run("phone "+pg.page,
			chromedp.Click(chromedp.CSS(`#nav a[data-page="`+pg.page+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(pg.ready)),
			shot("09-"+pg.page+"-phone"))
		var widths struct {
			Scroll int `json:"scroll"`
			Inner  int `json:"inner"`
		}
		eval("page width", `({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`, &widths)
		if widths.Scroll > widths.Inner {
			t.Errorf("at 390 px the %s page is %d px wide, more than the window's %d: it scrolls sideways", pg.page, widths.Scroll, widths.Inner)
		}
	}
	// The audit page on a phone still shows who acted and marks the dry run.
	rows = nil
	eval("phone audit rows", `Array.from(document.querySelectorAll("#audit tbody tr[data-id]"), tr => ({action: tr.querySelector("[data-col=action]").textContent,
		actor: tr.querySelector("[data-col=actor]").checkVisibility() ? tr.querySelector("[data-col=actor]").textContent : "(hidden)",
		addr: tr.querySelector("[data-col=addr]").textContent, dry_run: tr.dataset.dryRun === "true",
		mark: (tr.querySelector(".badge.dry-run") || {checkVisibility: () => false}).checkVisibility() ? "dry run" : ""}))`, &rows)
	if len(rows) < 2 || rows[1].Actor != "alice" || rows[1].Mark != "dry run" {
		t.Errorf("audit on a phone: %+v, want alice's dry run marked", rows)
	}

	// Delete on a pay-per-use phone: the server's dry run lists it, and
	// once confirmed its charge stops and it goes offline.
	run("delete pay-per-use",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Click(chromedp.CSS(`#nav a[data-page="fleet"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#fleet[data-total]`)),
		setField(`#filters input[name=region]`, ""),
		setField(`#filters select[name=billing_mode]`, "postPaid"),
		chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#fleet[data-total="1"]`)),
		chromedp.Click(chromedp.CSS(`#fleet tr[data-billing="postPaid"] input[type=checkbox]`)),
		chromedp.Click(chromedp.CSS(`#act-delete`)),
		chromedp.WaitVisible(chromedp.CSS(`#delete-preview li[data-id="`+ppu+`"]`)),
		shot("10-delete-pay-per-use"))
	if got := text("#dialog-ok"); got != "Delete 1 pay-per-use instance" {
		t.Errorf("delete confirmation button %q", got)
	}
	run("confirm delete",
		chromedp.Click(chromedp.CSS(`#dialog-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`#notice`)))
	if got := text("#notice"); !strings.Contains(got, "Deleted 1 pay-per-use instance; their charges have stopped.") {
		t.Errorf("delete result: %q", got)
	}
	if st, err := cl.BatchQueryStatus(ctx, []string{ppu}); err != nil || (st[0].Status != 3 && st[0].Status != 0) {
		t.Errorf("after the console deleted %s: %+v, %v; want going offline (3) or released (0)", ppu, st, err)
	}
}
