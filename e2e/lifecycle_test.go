package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// advanceClock moves the tenant's business time forward by d.
func advanceClock(t testing.TB, url, token, d string) {
	t.Helper()
	r := call(t, "POST", url+"/v1/_test/clock", token, "application/json", []byte(fmt.Sprintf(`{"advance":%q}`, d)))
	if r.Status != 200 || r.Code() != "0" {
		t.Fatalf("advance %s: %d %s", d, r.Status, r.Raw)
	}
}

// batchItem returns the batch-query item of the instance (released ones
// included).
func batchItem(t testing.TB, url, token, id string) map[string]any {
	t.Helper()
	for _, st := range []string{"running", "expired", "frozen", "deleting", "released"} {
		r := call(t, "GET", url+"/v1/instances/batch-query?page_no=1&page_size=10&instance_id="+id+"&state="+st, token, "", nil)
		if r.Status != 200 {
			t.Fatalf("batch-query state=%s: %d %s", st, r.Status, r.Raw)
		}
		data, _ := r.Body["data"].(map[string]any)
		if result, _ := data["result"].([]any); len(result) == 1 {
			return result[0].(map[string]any)
		}
	}
	t.Fatalf("instance %s is in no state", id)
	return nil
}

// waitState polls batch-query until the instance is in state; the sweep
// runs within seconds of a clock move. It returns the item.
func waitState(t testing.TB, url, token, id, state string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		item := batchItem(t, url, token, id)
		if item["state"] == state {
			return item
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s is %v after 15s, want %s", id, item["state"], state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLifecycle_Walk buys a monthly phone on a server with --test-clock and
// walks it through its life by moving the tenant's clock: past expiry it
// is expired and still takes commands; past the grace period it is frozen
// (batch-query frozen_status 1, running_status 1, reboot → 2004, the data
// plane told instance.freeze); past the retention period it is released
// (instance.release, no refund of money). Each step is audited with the
// user system, and a tenant's own periods replace the deployment's.
func TestLifecycle_Walk(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	beta := MustTenant(t, db, "beta")
	// beta's own periods: one day of grace, two of retention.
	if out := jsonLines(t, MustCLI(t, db, "tenant", "update", "beta", "--grace-period", "24h", "--retention-period", "48h")); out[0]["grace_period"] != "24h0m0s" || out[0]["retention_period"] != "48h0m0s" {
		t.Fatalf("tenant update printed %v", out)
	}
	dp := newDataPlane(t)
	dp.status = func(dataPlaneEvent) int { return http.StatusOK } // confirmed at once
	n := MustServe(t, db, "--test-clock", "--release-driver", "webhook", "--webhook-url", dp.srv.URL,
		"--webhook-secret", dataPlaneSecret, "--grace-period", "360h", "--retention-period", "360h")

	id := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))[0]
	other := MustBuy(t, n.URL, beta.Admin, buyBody(1, 1, 2, 1))[0]
	item := waitState(t, n.URL, acme.Admin, id, "running")
	if item["expire_status"] != 0.0 || item["frozen_status"] != 0.0 {
		t.Fatalf("new phone: %v", item)
	}
	expires, err := time.Parse(time.RFC3339, item["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}

	// A month and a day later: expired, still working.
	advanceClock(t, n.URL, acme.Admin, "768h")
	item = waitState(t, n.URL, acme.Admin, id, "expired")
	if item["expire_status"] != 1.0 || item["frozen_status"] != 0.0 || item["running_status"] != 2.0 {
		t.Fatalf("expired phone: %v", item)
	}
	if st := statuses(t, n.URL, acme.Admin, []string{id}); st[id] != 2 {
		t.Fatalf("batch-query-status of an expired phone=%v, want 2", st[id])
	}
	jobs := cmdJobs(t, post(t, n.URL, "reboot", acme.Admin, "req-reboot", map[string]any{"instance_ids": []string{id}}), id)
	dp.expect("instance.reboot", acme.ID, "req-reboot", jobs)
	// The other tenant's clock did not move: its phone runs on.
	if it := batchItem(t, n.URL, beta.Admin, other); it["state"] != "running" {
		t.Fatalf("other tenant's phone is %v, want running", it["state"])
	}

	// Past the 15 days of grace: frozen, refusing work, the data plane told.
	advanceClock(t, n.URL, acme.Admin, "360h")
	item = waitState(t, n.URL, acme.Admin, id, "frozen")
	if item["frozen_status"] != 1.0 || item["running_status"] != 1.0 || item["expire_status"] != 1.0 {
		t.Fatalf("frozen phone: %v", item)
	}
	freeze := dp.next()
	if freeze.str("type") != "instance.freeze" || freeze.str("instance_id") != id || freeze.str("tenant_id") != acme.ID {
		t.Fatalf("delivery %s, want instance.freeze of %s", freeze.Raw, id)
	}
	if st := statuses(t, n.URL, acme.Admin, []string{id}); st[id] != 1 {
		t.Fatalf("batch-query-status of a frozen phone=%v, want 1", st[id])
	}
	r := post(t, n.URL, "reboot", acme.Admin, "req-reboot-2", map[string]any{"instance_ids": []string{id}})
	wantErr(t, r, 400, "KOOPHONE.API.2004")
	if want := "the instance already frozen. frozen instances: " + id; r.Msg() != want {
		t.Fatalf("error_msg=%q, want %q", r.Msg(), want)
	}
	wantErr(t, post(t, n.URL, "assign", acme.Admin, "req-assign", pairsBody("alice", id)), 400, "KOOPHONE.API.2004")
	wantErr(t, post(t, n.URL, "prepare", acme.Admin, "req-prepare", map[string]any{"user_id": "alice", "instance_ids": []string{id}}), 400, "KOOPHONE.API.2004")

	// Past the 15 days of retention: released, with no refund.
	advanceClock(t, n.URL, acme.Admin, "360h")
	waitState(t, n.URL, acme.Admin, id, "released")
	rel := dp.next()
	if rel.str("type") != "instance.release" || rel.str("instance_id") != id {
		t.Fatalf("delivery %s, want instance.release of %s", rel.Raw, id)
	}
	for _, rf := range jsonLines(t, MustCLI(t, db, "refunds", "--tenant", "acme")) {
		t.Fatalf("refund %v after a release at the end of retention, want none", rf)
	}
	if st := statuses(t, n.URL, acme.Admin, []string{id}); st[id] != 0 {
		t.Fatalf("batch-query-status of a released phone=%v, want 0", st[id])
	}

	// The audit trail: three steps by system, at business times after the
	// expiry.
	var steps []string
	for _, e := range jsonLines(t, MustCLI(t, db, "audit", "--tenant", "acme")) {
		if e["actor"] != "system" {
			continue
		}
		steps = append(steps, e["action"].(string))
		if at, err := time.Parse(time.RFC3339Nano, e["at"].(string)); err != nil || at.Before(expires) {
			t.Fatalf("audit event %v at %v, want a business time after the expiry %v", e["action"], e["at"], expires)
		}
	}
	slices.Reverse(steps)
	if want := []string{"lifecycleExpire", "lifecycleFreeze", "lifecycleRelease"}; !slices.Equal(steps, want) {
		t.Fatalf("system audit events=%v, want %v", steps, want)
	}

	// beta's phone follows beta's own periods: one day of grace, two of
	// retention.
	betaExpires, err := time.Parse(time.RFC3339, batchItem(t, n.URL, beta.Admin, other)["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	to := betaExpires.Add(time.Hour).Format(time.RFC3339)
	if r := call(t, "POST", n.URL+"/v1/_test/clock", beta.Admin, "application/json", []byte(`{"now":"`+to+`"}`)); r.Status != 200 {
		t.Fatalf("move beta's clock: %d %s", r.Status, r.Raw)
	}
	waitState(t, n.URL, beta.Admin, other, "expired")
	advanceClock(t, n.URL, beta.Admin, "24h")
	waitState(t, n.URL, beta.Admin, other, "frozen")
	advanceClock(t, n.URL, beta.Admin, "48h")
	waitState(t, n.URL, beta.Admin, other, "released")
}
