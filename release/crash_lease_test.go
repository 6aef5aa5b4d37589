package release

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestCrash_LeasedJobDeliveredOnceAfterLease kills serve with SIGKILL while
// a release job is leased and its delivery is in progress at the receiver
// (not between attempts). The job keeps its lease: a restarted serve, and
// any other node, must leave it alone until the lease runs out, then deliver
// it once more, and only once.
func TestCrash_LeasedJobDeliveredOnceAfterLease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the phonefleet binary, and waits out a release lease")
	}
	bin := testingutil.MustBuildBinary(t)
	dbPath := filepath.Join(t.TempDir(), "phonefleet.db")
	testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "lease", "--db", dbPath)
	token := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "lease", "--db", dbPath))

	// The first delivery is held until its connection goes away with the
	// killed process; later ones are confirmed.
	inFlight := make(chan struct{}, 1)
	var mu sync.Mutex
	var arrivals []time.Time
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		if n == 1 {
			inFlight <- struct{}{}
			<-r.Context().Done()
			return http.StatusInternalServerError // nobody reads it
		}
		return http.StatusOK
	})
	serveFlags := []string{"--db", dbPath,
		"--release-driver", "webhook", "--webhook-url", rcv.URL, "--webhook-secret", testSecret,
		"--release-backoff", "1s", "--release-workers", "2"}

	srv := testingutil.MustStartNode(t, bin, serveFlags...)
	var created struct {
		InstanceInfos []struct {
			InstanceID string `json:"instanceId"`
		} `json:"instanceInfos"`
	}
	srv.MustDo(t, "POST", "/v1/instances/create", token, json.RawMessage(`{"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g",
		"bandSkuId": "kp.band.bgp.standard", "regionId": "ap-southeast-1", "instanceNamePrefix": "lease",
		"bandSize": 2, "count": 1, "chargeParam": {"chargingMode": 1, "periodType": 2, "periodNum": 1}}`), &created)
	if n := len(created.InstanceInfos); n != 1 {
		t.Fatalf("bought %d instances, want 1", n)
	}
	id := created.InstanceInfos[0].InstanceID
	// The job cannot be claimed before it exists, so its lease ends no
	// earlier than DefaultLease from now.
	unsubscribed := time.Now()
	srv.MustDo(t, "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": []string{id}}, nil)

	recv(t, inFlight)
	srv.Kill(t)

	db := mustOpenDB(t, dbPath)
	job := findJobs(t, db)[id]
	if job == nil || job.State != phonefleet.JobStatePending || job.Attempts != 0 || job.LastError != "" {
		t.Fatalf("after SIGKILL mid-delivery job=%+v, want pending with no attempt recorded", job)
	}

	// A restarted serve polls all along, but claims the job only once the
	// dead process's lease has run out.
	srv = testingutil.MustStartNode(t, bin, serveFlags...)
	waitJobs(t, db, []string{id}, func(j *phonefleet.Command) bool { return j.State == phonefleet.JobStateDone }, "done")
	srv.Stop(t) // waits for deliveries in flight: nothing more can arrive
	if code := srv.ExitCode(); code != 0 {
		t.Fatalf("serve exited with %d after SIGTERM:\n%s", code, srv.Stderr)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 2 {
		t.Fatalf("receiver got %d deliveries, want 2: the one cut off by the crash and one after the lease", len(arrivals))
	}
	if early := arrivals[1].Sub(unsubscribed); early < DefaultLease {
		t.Fatalf("redelivered %s after the unsubscribe, before the %s lease of the dead process could run out", early, DefaultLease)
	}
	evs := rcv.events(job.EventID)
	if len(evs) != 2 || evs[0] != evs[1] || evs[0].InstanceID != id {
		t.Fatalf("events=%+v, want the same event for %s twice", evs, id)
	}
	if rcv.badSignatures() != 0 {
		t.Fatalf("%d deliveries with a bad signature", rcv.badSignatures())
	}
	if states, err := db.FindInstanceStatuses(t.Context(), findJobs(t, db)[id].TenantID, []string{id}); err != nil {
		t.Fatal(err)
	} else if states[id].State != phonefleet.InstanceStateReleased {
		t.Fatalf("instance %s is %q, want released", id, states[id].State)
	}
}
