package e2e

import (
	"path/filepath"
	"testing"
)

// TestDurableAfterKill checks DESIGN.md invariant 3: an unsubscribe answered
// "0" survives a SIGKILL of the server right after the answer. The release
// webhook always fails, so the state must come back exactly as answered:
// deleting, one refund, one pending job; and a failed request changed nothing.
func TestDurableAfterKill(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	flags := heldReleaseFlags(t)

	n := MustServe(t, db, flags...)
	ids := MustBuy(t, n.URL, acme.Admin, buyBody(5, 1, 2, 1))
	ppu := MustBuy(t, n.URL, acme.Admin, buyBody(1, 0, 0, 0))[0]
	wantOK(t, postJSON(t, n.URL+"/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": ids[:3]}))
	wantErr(t, postJSON(t, n.URL+"/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": []string{ids[3], ppu}}), 400, "KOOPHONE.API.5001")
	n.Kill(t)

	n = MustServe(t, db, flags...)
	s := statuses(t, n.URL, acme.Admin, append(ids, ppu))
	for i, id := range ids {
		if want := map[bool]float64{true: 3, false: 2}[i < 3]; s[id] != want {
			t.Fatalf("after SIGKILL, %s status %v, want %v (all: %v)", id, s[id], want, s)
		}
	}
	if s[ppu] != 2 {
		t.Fatalf("pay-per-use status %v, want 2", s[ppu])
	}
	refunds := jsonLines(t, MustCLI(t, db, "refunds"))
	jobs := jsonLines(t, MustCLI(t, db, "jobs", "--state", "pending"))
	if len(refunds) != 3 || len(jobs) != 3 {
		t.Fatalf("after SIGKILL: %d refunds and %d pending jobs, want 3 and 3", len(refunds), len(jobs))
	}
}
