package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestTestClock: serve --test-clock warns, moves business time on request,
// and keeps it in the database across a restart; without the flag the
// paths do not exist and the stored offset is ignored.
func TestTestClock(t *testing.T) {
	db := filepath.Join(t.TempDir(), "clock.db")
	MustCLI(t, db, "tenant", "create", "acme")
	token := strings.TrimSpace(MustCLI(t, db, "token", "issue", "--tenant", "acme"))

	clockNow := func(url string) time.Time {
		t.Helper()
		r := call(t, "GET", url+"/v1/_test/clock", token, "", nil)
		now, err := time.Parse(time.RFC3339Nano, r.Data()["now"].(string))
		if r.Status != 200 || err != nil {
			t.Fatalf("GET /v1/_test/clock: %d %s", r.Status, r.Raw)
		}
		return now
	}

	n := MustServe(t, db, "--test-clock")
	if logs := n.Stderr.String(); !strings.Contains(logs, "TEST CLOCK ON") {
		t.Fatalf("no warning in the logs:\n%s", logs)
	}
	r := call(t, "POST", n.URL+"/v1/_test/clock", token, "application/json", []byte(`{"advance":"121h"}`))
	if r.Status != 200 || r.Code() != "0" {
		t.Fatalf("advance: %d %s", r.Status, r.Raw)
	}
	moved, _ := time.Parse(time.RFC3339Nano, r.Data()["now"].(string))
	if off := time.Until(moved); off < 120*time.Hour || off > 122*time.Hour {
		t.Fatalf("business time %v is %v ahead, want about 121h", moved, off)
	}
	n.Stop(t)

	// Another process, later: the same offset.
	n = MustServe(t, db, "--test-clock")
	if got := clockNow(n.URL); got.Before(moved) || time.Until(got) < 120*time.Hour {
		t.Fatalf("after a restart business time is %v, want at least %v", got, moved)
	}
	n.Stop(t)

	n = MustServe(t, db)
	if r := call(t, "GET", n.URL+"/v1/_test/clock", token, "", nil); r.Status != 404 || r.Code() != "APIGW.0101" {
		t.Fatalf("without --test-clock: %d %s, want 404 APIGW.0101", r.Status, r.Raw)
	}
	body := []byte(`{"os":"AOSP14","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",` +
		`"instanceNamePrefix":"c","bandSize":4,"count":1,"chargeParam":{"chargingMode":0}}`)
	if r := call(t, "POST", n.URL+"/v1/instances/create", token, "application/json", body); r.Status != 200 {
		t.Fatalf("buy: %d %s", r.Status, r.Raw)
	}
	for _, e := range jsonLines(t, MustCLI(t, db, "audit", "--limit", "1")) {
		at, err := time.Parse(time.RFC3339Nano, e["at"].(string))
		if err != nil || time.Since(at).Abs() > time.Hour {
			t.Fatalf("audit at %v without --test-clock, want wall time", e["at"])
		}
	}
}

// TestTestClock_PerTenant runs the probes against a real server
// with --test-clock: one tenant's moves leave another's clock and refund
// as they were; a move to year 2400 or to the end of year 9999 answers
// that time exactly, the clock shows it and a purchase records it; any
// non-negative advance is accepted; the operator CLI moves one tenant's
// clock under the running server; every move is audited.
func TestTestClock_PerTenant(t *testing.T) {
	db := filepath.Join(t.TempDir(), "clocks.db")
	acme, beta := MustTenant(t, db, "acme"), MustTenant(t, db, "beta")
	n := MustServe(t, db, "--test-clock")
	clockNow := func(token string) time.Time {
		t.Helper()
		r := call(t, "GET", n.URL+"/v1/_test/clock", token, "", nil)
		now, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r.Data()["now"]))
		if r.Status != 200 || err != nil {
			t.Fatalf("GET /v1/_test/clock: %d %s", r.Status, r.Raw)
		}
		return now
	}
	move := func(token, body string) (*testingutil.Response, time.Time) {
		t.Helper()
		r := call(t, "POST", n.URL+"/v1/_test/clock", token, "application/json", []byte(body))
		now, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(r.Data()["now"]))
		return r, now
	}
	within := func(got, from time.Time) bool { return !got.Before(from) && got.Sub(from) < time.Minute }

	// Beta on its day 6; acme's advance of 10 days changes nothing of it.
	id := MustBuy(t, n.URL, beta.Admin, buyBody(1, 1, 2, 1))[0]
	if r, _ := move(beta.Admin, `{"advance":"144h"}`); r.Status != 200 {
		t.Fatalf("beta advance: %d %s", r.Status, r.Raw)
	}
	dry := func() any {
		r := postJSON(t, n.URL+"/v1/instances/delete?dry_run=true", beta.Admin, map[string]any{"instanceIdList": []string{id}})
		wantOK(t, r)
		return r.Data()["totalRefund"]
	}
	betaNow, before := clockNow(beta.Admin), dry()
	if r, _ := move(acme.Admin, `{"advance":"240h"}`); r.Status != 200 {
		t.Fatalf("acme advance: %d %s", r.Status, r.Raw)
	}
	if got := clockNow(beta.Admin); !within(got, betaNow) {
		t.Fatalf("beta's clock %v after acme's advance, want just after %v", got, betaNow)
	}
	if after := dry(); after != before {
		t.Fatalf("beta's refund %v after acme's advance, %v before", after, before)
	}

	// Year 2400 and the end of year 9999, exactly.
	for _, at := range []string{"2400-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"} {
		want, _ := time.Parse(time.RFC3339Nano, at)
		r, got := move(acme.Admin, fmt.Sprintf(`{"now":%q}`, at))
		if r.Status != 200 || fmt.Sprint(r.Data()["now"]) != at {
			t.Fatalf("now %s: %d %s", at, r.Status, r.Raw)
		}
		if shown := clockNow(acme.Admin); !within(shown, got) || (at[:4] == "9999" && !shown.Equal(want)) {
			t.Fatalf("GET after now %s: %v", at, shown)
		}
		bought := MustBuy(t, n.URL, acme.Admin, buyBody(1, 0, 0, 0))[0]
		in, found := items(t, n.URL, acme.Admin)[bought]
		created, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(in["created_at"]))
		// The listing writes whole seconds.
		if found && (!within(created, want.Truncate(time.Second)) || (at[:4] == "9999" && !created.Equal(want.Truncate(time.Second)))) {
			t.Fatalf("bought at business time %s: created_at %v", at, in["created_at"])
		}
		if !found {
			t.Fatalf("instance %s not listed", bought)
		}
	}
	if r, _ := move(acme.Admin, `{"advance":"1ns"}`); r.Status != 400 || r.Code() != "KOOPHONE.API.1000" || !strings.Contains(r.Msg(), "advance 1ns would move business time past") {
		t.Fatalf("advance past 9999: %d %s", r.Status, r.Raw)
	}

	// Any non-negative advance; a negative one names advance.
	for _, d := range []string{"0s", "1ns", "1us", "121h"} {
		if r, _ := move(beta.Admin, fmt.Sprintf(`{"advance":%q}`, d)); r.Status != 200 {
			t.Fatalf("advance %s: %d %s", d, r.Status, r.Raw)
		}
	}
	if r, _ := move(beta.Admin, `{"advance":"-1s"}`); r.Status != 400 || !strings.Contains(r.Msg(), "advance must not be negative") {
		t.Fatalf("advance -1s: %d %s", r.Status, r.Raw)
	}

	// The operator CLI moves beta's clock under the running server.
	betaNow = clockNow(beta.Admin)
	cli := MustLine(t, MustCLI(t, db, "clock", "advance", "24h", "--tenant", "beta"))
	cliNow, err := time.Parse(time.RFC3339Nano, cli)
	if err != nil || !within(cliNow, betaNow.Add(24*time.Hour)) {
		t.Fatalf("clock advance 24h printed %q, want just after %v", cli, betaNow.Add(24*time.Hour))
	}
	if got := clockNow(beta.Admin); !within(got, cliNow) {
		t.Fatalf("the server shows beta at %v after the CLI moved it to %v", got, cliNow)
	}

	// Every move is an audit event of its own tenant.
	count := func(tenant, by string) int {
		k := 0
		for _, e := range jsonLines(t, MustCLI(t, db, "audit", "--tenant", tenant)) {
			if e["action"] == "testClockMove" && e["error_code"] == "0" && strings.Contains(fmt.Sprint(e["detail"]), by) {
				k++
			}
		}
		return k
	}
	if a, b, cliMoves := count("acme", "by token "), count("beta", "by token "), count("beta", "by operator/cli"); a != 3 || b != 5 || cliMoves != 1 {
		t.Fatalf("audited moves: acme %d, beta %d, beta by the CLI %d; want 3, 5, 1", a, b, cliMoves)
	}
}
