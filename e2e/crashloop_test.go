package e2e

import (
	"flag"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
)

// crashKills is how many times TestCrashLoop kills the server: 20 by
// default (the CI's short form), more with -crashloop.kills.
var crashKills = flag.Int("crashloop.kills", 20, "SIGKILLs of TestCrashLoop")

// TestCrashLoop runs unsubscribe load against the server and SIGKILLs it at
// a random point of the load, again and again, restarting it each time.
// Afterwards every unsubscribe answered "0" is durable (the instance is
// deleting), no instance was refunded twice (each is sent twice, by two
// clients at once), and every refund has its release job. Releases go to a
// webhook that always fails, so the state stays as answered.
func TestCrashLoop(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	flags := heldReleaseFlags(t)
	const perCycle = 24
	acked := map[string]bool{}
	var all []string

	for cycle := 0; cycle < *crashKills; cycle++ {
		n := MustServe(t, db, flags...)
		ids := MustBuy(t, n.URL, acme.Admin, buyBody(perCycle, 1, 2, 1))
		all = append(all, ids...)

		// Each ID is queued twice; four clients take from the queue. The
		// kill comes after a random number of answers, so at a random
		// point of the load.
		queue := make(chan string, 2*len(ids))
		for _, id := range ids {
			queue <- id
			queue <- id
		}
		close(queue)
		killAfter := rand.IntN(2 * len(ids))
		var mu sync.Mutex
		answers := 0
		killed := make(chan struct{})
		var once sync.Once
		kill := func() { once.Do(func() { n.Kill(t); close(killed) }) }
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range queue {
					r, err := n.Do(t.Context(), "POST", "/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": []string{id}})
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					if r.Status == 200 && r.Code() == "0" {
						acked[id] = true
					}
					answers++
					last := answers >= killAfter
					mu.Unlock()
					if last {
						kill()
						return
					}
				}
			}()
		}
		wg.Wait()
		kill()
		<-killed
	}

	n := MustServe(t, db, flags...)
	s := map[string]float64{}
	for i := 0; i < len(all); i += 100 {
		for id, st := range statuses(t, n.URL, acme.Admin, all[i:min(i+100, len(all))]) {
			s[id] = st
		}
	}
	for id := range acked {
		if s[id] != 3 {
			t.Errorf("instance %s was acknowledged unsubscribed but has status %v after the crashes", id, s[id])
		}
	}
	refunded := map[string]int{}
	for _, r := range jsonLines(t, MustCLI(t, db, "refunds")) {
		refunded[r["instance_id"].(string)]++
	}
	jobs := map[string]int{}
	for _, j := range jsonLines(t, MustCLI(t, db, "jobs")) {
		if j["type"] == "release" {
			jobs[j["instance_id"].(string)]++
		}
	}
	deleting := 0
	for _, id := range all {
		if refunded[id] > 1 {
			t.Errorf("instance %s refunded %d times", id, refunded[id])
		}
		if refunded[id] != jobs[id] {
			t.Errorf("instance %s: %d refunds but %d release jobs", id, refunded[id], jobs[id])
		}
		if (s[id] == 3) != (refunded[id] == 1) {
			t.Errorf("instance %s: status %v with %d refunds", id, s[id], refunded[id])
		}
		if s[id] == 3 {
			deleting++
		}
	}
	t.Logf("%d kills: %d instances, %d unsubscribes acknowledged, %d deleting", *crashKills, len(all), len(acked), deleting)
	if len(acked) == 0 {
		t.Fatal("no unsubscribe was acknowledged: the load never ran")
	}
}
