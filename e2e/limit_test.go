package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDeleteLimit unsubscribes the most instances one request may name,
// 100, through the binary, and refuses 101 without changing anything.
func TestDeleteLimit(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db, heldReleaseFlags(t)...)
	api := n.URL + "/v1/instances"
	ids := MustBuy(t, n.URL, acme.Admin, buyBody(101, 1, 2, 1))

	r := postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": ids})
	wantErr(t, r, 400, "KOOPHONE.API.1000")
	if !strings.Contains(r.Msg(), "instanceIdList") {
		t.Fatalf("msg %q does not name instanceIdList", r.Msg())
	}
	for id, s := range statuses(t, n.URL, acme.Admin, ids[:100]) {
		if s != 2 {
			t.Fatalf("instance %s status %v after a refused request, want 2", id, s)
		}
	}
	if out := MustCLI(t, db, "refunds", "--tenant", "acme"); out != "" {
		t.Fatalf("refunds after a refused request: %q", out)
	}

	wantOK(t, postJSON(t, api+"/delete", acme.Admin, map[string]any{"instanceIdList": ids[:100]}))
	for id, s := range statuses(t, n.URL, acme.Admin, ids[:100]) {
		if s != 3 {
			t.Fatalf("instance %s status %v after unsubscribe, want 3", id, s)
		}
	}
	if s := statuses(t, n.URL, acme.Admin, ids[100:]); s[ids[100]] != 2 {
		t.Fatalf("the 101st instance: status %v, want 2", s[ids[100]])
	}
	refunds := jsonLines(t, MustCLI(t, db, "refunds", "--tenant", "acme"))
	seen := map[string]bool{}
	for _, rf := range refunds {
		seen[rf["instance_id"].(string)] = true
	}
	if len(refunds) != 100 || len(seen) != 100 || seen[ids[100]] {
		t.Fatalf("%d refunds for %d instances, want one for each of the 100", len(refunds), len(seen))
	}
}
