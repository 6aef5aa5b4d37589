package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDeletePayPerUse walks POST /v1/phonefleet/instances/delete-pay-per-use
// as docs/api.md describes it: a tenant at its quota with pay-per-use
// phones deletes one, the data plane is told to release it, and once it is
// released the quota is free again; the checks run in their documented
// order, failures change nothing, a repeat is a no-op, and every call is
// audited.
func TestDeletePayPerUse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	MustCLI(t, db, "migrate")
	acme := tenantEnv{Name: "acme"}
	acme.ID = MustLine(t, MustCLI(t, db, "tenant", "create", "acme", "--max-instances", "3"))
	acme.Admin = MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", "acme"))
	acme.Viewer = MustLine(t, MustCLI(t, db, "token", "issue", "--tenant", "acme", "--role", "viewer"))
	globex := MustTenant(t, db, "globex")
	dp := newDataPlane(t)
	n := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", dp.srv.URL, "--webhook-secret", dataPlaneSecret,
		"--release-backoff", "50ms")
	url := n.URL + "/v1/phonefleet/instances/delete-pay-per-use"

	ppu := MustBuy(t, n.URL, acme.Admin, buyBody(2, 0, 0, 0))
	monthly := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))[0]
	foreign := MustBuy(t, n.URL, globex.Admin, buyBody(1, 0, 0, 0))[0]
	// At the quota: nothing more can be bought.
	wantErr(t, postJSON(t, n.URL+"/v1/instances/create", acme.Admin, buyBody(1, 0, 0, 0)), 400, "PHONEFLEET.QUOTA.0001")

	body := func(ids ...string) map[string]any { return map[string]any{"instanceIdList": ids} }
	before := items(t, n.URL, acme.Admin)

	// Checks in order: 401, 1001, 1000 (body), 1012, then billing mode.
	wantErr(t, postJSON(t, url, "", body(ppu[0])), 401, "APIGW.0301")
	if r := postJSON(t, url, acme.Viewer, body(ppu[0])); r.Status != 400 || r.Code() != "KOOPHONE.API.1001" ||
		!strings.Contains(r.Msg(), "koophone:cloudphoneResource:instanceDelete") {
		t.Fatalf("viewer: %d %s, want 1001 naming instanceDelete", r.Status, r.Raw)
	}
	for _, bad := range []any{
		[]byte(`{"instanceIdList":[]}`), []byte(`{"instanceIdList":["a","a"]}`), []byte(`{"instanceIdList":["no spaces"]}`),
		[]byte(`{"InstanceIdList":["` + ppu[0] + `"]}`),
	} {
		if r := postJSON(t, url, acme.Admin, bad); r.Status != 400 || r.Code() != "KOOPHONE.API.1000" || !strings.Contains(strings.ToLower(r.Msg()), "instanceidlist") {
			t.Fatalf("body %s: %d %s, want 1000 naming instanceIdList", bad, r.Status, r.Raw)
		}
	}
	r := postJSON(t, url, acme.Admin, body(ppu[0], foreign, "nosuchid", monthly))
	wantErr(t, r, 400, "KOOPHONE.API.1012")
	if want := "instances do not belong to the tenant: " + foreign + ", nosuchid"; r.Msg() != want {
		t.Fatalf("error_msg=%q, want %q", r.Msg(), want)
	}
	r = postJSON(t, url, acme.Admin, body(ppu[0], monthly))
	wantErr(t, r, 400, "KOOPHONE.API.1000")
	if !strings.Contains(r.Msg(), "not pay-per-use instances: "+monthly) {
		t.Fatalf("error_msg=%q, want it to name %s as not pay-per-use", r.Msg(), monthly)
	}
	if after := items(t, n.URL, acme.Admin); !sameStates(before, after) {
		t.Fatalf("a refused call changed instances:\nbefore %v\nafter  %v", before, after)
	}

	// A dry run checks and changes nothing.
	r = postJSON(t, url+"?dry_run=true", acme.Admin, body(ppu[0]))
	wantOK(t, r)
	if d := r.Data(); d["dryRun"] != true {
		t.Fatalf("dry run data %s", r.Raw)
	}
	if after := items(t, n.URL, acme.Admin); !sameStates(before, after) {
		t.Fatal("a dry run changed instances")
	}

	// Delete: deleting, the data plane told to release it, no refund.
	r = postJSON(t, url, acme.Admin, body(ppu[0]))
	wantOK(t, r)
	if _, ok := r.Body["data"]; !ok || r.Body["data"] != nil {
		t.Fatalf("success body %s, want data null", r.Raw)
	}
	if st := statuses(t, n.URL, acme.Admin, []string{ppu[0], ppu[1]}); st[ppu[0]] != 3 || st[ppu[1]] != 2 {
		t.Fatalf("statuses %v, want %s going offline (3) and %s running (2)", st, ppu[0], ppu[1])
	}
	rel := dp.next()
	if rel.str("type") != "instance.release" || rel.str("instance_id") != ppu[0] || rel.str("tenant_id") != acme.ID {
		t.Fatalf("delivery %s, want instance.release of %s", rel.Raw, ppu[0])
	}
	for _, rf := range jsonLines(t, MustCLI(t, db, "refunds", "--tenant", "acme")) {
		t.Fatalf("refund %v after a pay-per-use deletion, want none", rf)
	}
	// Still held until released.
	wantErr(t, postJSON(t, n.URL+"/v1/instances/create", acme.Admin, buyBody(1, 0, 0, 0)), 400, "PHONEFLEET.QUOTA.0001")

	// Idempotent: a repeat while deleting, and after the release, is a no-op.
	wantOK(t, postJSON(t, url, acme.Admin, body(ppu[0])))
	wantOK(t, report(t, n.URL, rel.str("job_id"), `{"state":"done"}`))
	if st := statuses(t, n.URL, acme.Admin, []string{ppu[0]}); st[ppu[0]] != 0 {
		t.Fatalf("status of the released phone %v, want 0", st[ppu[0]])
	}
	wantOK(t, postJSON(t, url, acme.Admin, body(ppu[0])))

	// Released: the quota is free again.
	MustBuy(t, n.URL, acme.Admin, buyBody(1, 0, 0, 0))

	// Every call was audited under its own action, successes and failures.
	r = call(t, "GET", n.URL+"/v1/phonefleet/audit?action=instanceDeletePayPerUse&page_no=1&page_size=100", acme.Admin, "", nil)
	wantOK(t, r)
	events, _ := r.Data()["result"].([]any)
	codes := map[string]int{}
	for _, e := range events {
		m := e.(map[string]any)
		codes[m["error_code"].(string)]++
		if m["client_addr"] != "127.0.0.1" {
			t.Fatalf("audit event %v, want client_addr 127.0.0.1", m)
		}
	}
	// 1001, four 1000 bodies and the billing mode, 1012, the dry run, the
	// deletion and two no-ops (the unauthenticated call has no tenant).
	if codes["0"] != 4 || codes["KOOPHONE.API.1000"] != 5 || codes["KOOPHONE.API.1012"] != 1 || codes["KOOPHONE.API.1001"] != 1 {
		t.Fatalf("audit codes %v in %s", codes, r.Raw)
	}
}

// sameStates reports whether two batch-query listings hold the same
// instances in the same states.
func sameStates(a, b map[string]map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for id, it := range a {
		if b[id] == nil || b[id]["state"] != it["state"] || b[id]["running_status"] != it["running_status"] {
			return false
		}
	}
	return true
}
