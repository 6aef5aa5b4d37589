package e2e

import (
	"flag"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// lifecycleKills is how many times TestLifecycle_CrashLoop kills the server
// in each step of the lifecycle.
var lifecycleKills = flag.Int("lifecycle.kills", 3, "SIGKILLs per lifecycle step of TestLifecycle_CrashLoop")

// countState returns how many of the tenant's instances are in state, by
// batch-query's total_count.
func countState(t testing.TB, n *testingutil.Node, token, state string) int {
	t.Helper()
	r := call(t, "GET", n.URL+"/v1/instances/batch-query?page_no=1&page_size=1&state="+state, token, "", nil)
	data, _ := r.Body["data"].(map[string]any)
	total, ok := data["total_count"].(float64)
	if r.Status != 200 || !ok {
		t.Fatalf("batch-query state=%s: %d %s", state, r.Status, r.Raw)
	}
	return int(total)
}

// TestLifecycle_CrashLoop moves 1,500 monthly phones through their
// lifecycle while SIGKILLing the server in the middle of each step's sweep,
// again and again, restarting it each time. Afterwards every phone took
// each step exactly once, in order: three audit events by system, one
// freeze and one release command (the release done), no refund.
func TestLifecycle_CrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the server many times")
	}
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	flags := []string{"--test-clock", "--grace-period", "48h", "--retention-period", "48h", "--rate-limit", "0"}
	n := MustServe(t, db, flags...)
	const count = 1500
	ids := MustBuy(t, n.URL, acme.Admin, buyBody(count, 1, 2, 1))
	expires, err := time.Parse(time.RFC3339, batchItem(t, n.URL, acme.Admin, ids[0])["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}

	kills, midway := 0, 0
	for _, step := range []struct {
		at    time.Duration // after the expiry
		state string
	}{{time.Hour, "expired"}, {49 * time.Hour, "frozen"}, {97 * time.Hour, "released"}} {
		to := expires.Add(step.at).Format(time.RFC3339)
		if r := call(t, "POST", n.URL+"/v1/_test/clock", acme.Admin, "application/json", []byte(`{"now":"`+to+`"}`)); r.Status != 200 {
			t.Fatalf("move the clock: %d %s", r.Status, r.Raw)
		}
		for range *lifecycleKills {
			// Kill once the sweep has made some progress past a random
			// point; a restarted server goes on by itself.
			threshold := countState(t, n, acme.Admin, step.state) + 1 + rand.IntN(300)
			deadline := time.Now().Add(30 * time.Second)
			for countState(t, n, acme.Admin, step.state) < min(threshold, count) {
				if time.Now().After(deadline) {
					t.Fatalf("no progress to %s within 30s", step.state)
				}
			}
			n.Kill(t)
			kills++
			if threshold < count {
				midway++ // killed after seeing the step under way, not done
			}
			n = MustServe(t, db, flags...)
		}
		deadline := time.Now().Add(60 * time.Second)
		for countState(t, n, acme.Admin, step.state) < count {
			if time.Now().After(deadline) {
				t.Fatalf("not all %d phones %s within 60s", count, step.state)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	n.Stop(t)

	steps := map[string][]string{}
	for _, e := range jsonLines(t, MustCLI(t, db, "audit", "--tenant", "acme")) {
		if e["actor"] == "system" {
			id := e["instance_ids"].([]any)[0].(string)
			steps[id] = append([]string{e["action"].(string)}, steps[id]...)
		}
	}
	commands := map[string][]string{}
	for _, j := range jsonLines(t, MustCLI(t, db, "jobs", "--tenant", "acme")) {
		id := j["instance_id"].(string)
		commands[id] = append(commands[id], j["type"].(string)+"/"+j["state"].(string))
	}
	if rs := jsonLines(t, MustCLI(t, db, "refunds", "--tenant", "acme")); len(rs) != 0 {
		t.Fatalf("%d refunds, want none", len(rs))
	}
	want := []string{"lifecycleExpire", "lifecycleFreeze", "lifecycleRelease"}
	for _, id := range ids {
		if !slices.Equal(steps[id], want) {
			t.Fatalf("instance %s: system audit events %v, want %v", id, steps[id], want)
		}
		// A freeze still undelivered when the retention period ended is
		// replaced by the release, as any command in flight is.
		if got := commands[id]; len(got) != 2 || (got[0] != "freeze/done" && got[0] != "freeze/canceled") || got[1] != "release/done" {
			t.Fatalf("instance %s: commands %v, want one freeze (done or replaced) and one release, done", id, got)
		}
	}
	t.Logf("%d kills (%d in the middle of a step); %d phones each expired, froze and were released once", kills, midway, count)
}
