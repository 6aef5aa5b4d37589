package release

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

func TestMain(m *testing.M) { testingutil.Main(m) }

// TestCrash_PendingJobSurvivesSIGKILL is the black-box run of issue #3: a
// real `phonefleet serve --release-driver webhook` against a receiver that
// fails every delivery at first; instances are bought, two unsubscribed and
// the third rebooted over HTTP; serve is killed with SIGKILL while the
// commands are pending; once the receiver answers 2xx, a restarted serve
// delivers each one, with valid signatures and one event ID per command, the
// unsubscribed instances are released and the rebooted one is running.
func TestCrash_PendingJobSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the phonefleet binary")
	}
	bin := testingutil.MustBuildBinary(t)
	dbPath := filepath.Join(t.TempDir(), "phonefleet.db")

	testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "crash", "--db", dbPath)
	token := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "crash", "--db", dbPath))

	var up atomic.Bool // false: the data plane answers 500
	var mu sync.Mutex
	confirmed := map[string]int{} // 2xx answers by event ID
	okCount := func(eventID string) int { mu.Lock(); defer mu.Unlock(); return confirmed[eventID] }
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		if !up.Load() {
			return http.StatusInternalServerError
		}
		mu.Lock()
		confirmed[r.Header.Get(HeaderEventID)]++
		mu.Unlock()
		return http.StatusOK
	})
	serveFlags := []string{"--db", dbPath,
		"--release-driver", "webhook", "--webhook-url", rcv.URL, "--webhook-secret", testSecret,
		"--release-backoff", "1s", "--release-max-attempts", "20", "--release-workers", "2"}

	// First run: buy three instances, unsubscribe two.
	srv := testingutil.MustStartNode(t, bin, serveFlags...)
	var created struct {
		InstanceInfos []struct {
			InstanceID string `json:"instanceId"`
		} `json:"instanceInfos"`
	}
	srv.MustDo(t, "POST", "/v1/instances/create", token, json.RawMessage(`{"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g",
		"bandSkuId": "kp.band.bgp.standard", "regionId": "ap-southeast-1", "instanceNamePrefix": "crash",
		"bandSize": 2, "count": 3, "chargeParam": {"chargingMode": 1, "periodType": 2, "periodNum": 1,
		"isAutoPay": 1, "isAutoRenew": 0}}`), &created)
	if n := len(created.InstanceInfos); n != 3 {
		t.Fatalf("bought %d instances, want 3", n)
	}
	ids := []string{created.InstanceInfos[0].InstanceID, created.InstanceInfos[1].InstanceID}
	kept := created.InstanceInfos[2].InstanceID
	srv.MustDo(t, "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": ids}, nil)
	srv.MustDo(t, "POST", "/v1/instances/reboot", token, map[string]any{"instance_ids": []string{kept}}, nil)
	all := append(slices.Clone(ids), kept)

	// Kill it once every job has failed at least once and waits, pending,
	// for its next attempt (about a second away).
	db := mustOpenDB(t, dbPath)
	waitJobs(t, db, all, func(j *phonefleet.Command) bool {
		return j.State == phonefleet.JobStatePending && j.Attempts >= 1
	}, "pending after a failed attempt")
	srv.Kill(t)

	jobs := findJobs(t, db)
	for _, id := range all {
		if j := jobs[id]; j.State != phonefleet.JobStatePending || !strings.Contains(j.LastError, "500") {
			t.Fatalf("after SIGKILL job %s=%+v, want pending after status 500", id, j)
		}
	}
	if got := okCount(jobs[ids[0]].EventID) + okCount(jobs[ids[1]].EventID) + okCount(jobs[kept].EventID); got != 0 {
		t.Fatalf("%d deliveries confirmed before the restart, want 0", got)
	}

	// The data plane comes up; a restarted serve delivers the pending jobs.
	up.Store(true)
	srv = testingutil.MustStartNode(t, bin, serveFlags...)
	waitJobs(t, db, all, func(j *phonefleet.Command) bool { return j.State == phonefleet.JobStateDone }, "done")

	var status struct {
		StatusResults []struct {
			InstanceID string `json:"instance_id"`
			Status     int    `json:"status"`
		} `json:"status_results"`
	}
	srv.MustDo(t, "POST", "/v1/instances/batch-query-status", token, map[string]any{"instance_ids": append([]string{kept}, ids...)}, &status)
	want := map[string]int{kept: phonefleet.StatusRunning, ids[0]: phonefleet.StatusUnknown, ids[1]: phonefleet.StatusUnknown}
	if len(status.StatusResults) != 3 {
		t.Fatalf("status results=%+v, want 3", status.StatusResults)
	}
	for _, r := range status.StatusResults {
		if r.Status != want[r.InstanceID] {
			t.Fatalf("instance %s status=%d, want %d", r.InstanceID, r.Status, want[r.InstanceID])
		}
	}

	jobs = findJobs(t, db)
	if j := jobs[kept]; j.Type != phonefleet.CommandReboot {
		t.Fatalf("rebooted instance %s has job %+v, want its reboot", kept, j)
	}
	if jobs[ids[0]].EventID == jobs[ids[1]].EventID || jobs[ids[0]].EventID == jobs[kept].EventID {
		t.Fatalf("two commands share event ID %s", jobs[ids[0]].EventID)
	}
	for _, id := range all {
		wantType := EventType
		if id == kept {
			wantType = "instance.reboot"
		}
		evs := rcv.events(jobs[id].EventID)
		if len(evs) < 2 {
			t.Fatalf("event %s delivered %d times, want failures before the crash and one success after", jobs[id].EventID, len(evs))
		}
		for _, ev := range evs {
			if ev.InstanceID != id || ev.Type != wantType || ev.JobID != jobs[id].ID {
				t.Fatalf("event %s carries %+v, want instance %s", jobs[id].EventID, ev, id)
			}
		}
		if n := okCount(jobs[id].EventID); n != 1 {
			t.Fatalf("event %s confirmed %d times, want 1", jobs[id].EventID, n)
		}
	}
	// Every delivery the receiver got was for one of the two event IDs:
	// the event ID did not change across retries or the restart.
	rcv.mu.Lock()
	nEvents := len(rcv.byID)
	rcv.mu.Unlock()
	if nEvents != 3 {
		t.Fatalf("receiver saw %d distinct event IDs, want 3", nEvents)
	}
	if rcv.badSignatures() != 0 {
		t.Fatalf("%d deliveries with a bad signature", rcv.badSignatures())
	}
	srv.Stop(t)
	if code := srv.ExitCode(); code != 0 {
		t.Fatalf("serve exited with %d after SIGTERM:\n%s", code, srv.Stderr)
	}
}

// waitJobs polls the database, which another process writes, until every
// job of ids satisfies cond (30 s at most).
func waitJobs(tb testing.TB, store phonefleet.CommandService, ids []string, cond func(*phonefleet.Command) bool, what string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		jobs, err := store.FindCommands(ctx, phonefleet.CommandFilter{})
		if err != nil && ctx.Err() == nil {
			tb.Fatal(err)
		}
		byID := map[string]*phonefleet.Command{}
		for _, j := range jobs {
			byID[j.InstanceID] = j
		}
		ok := true
		for _, id := range ids {
			if j := byID[id]; j == nil || !cond(j) {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			var b strings.Builder
			for _, id := range ids {
				fmt.Fprintf(&b, "%s: %+v\n", id, byID[id])
			}
			tb.Fatalf("jobs not %s within 30s:\n%s", what, b.String())
		}
	}
}
