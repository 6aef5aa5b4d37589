package release

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// TestCrash_PendingJobSurvivesSIGKILL is the black-box run of issue #3: a
// real `phonefleet serve --release-driver webhook` against a receiver that
// fails every delivery at first; instances are bought and unsubscribed over
// HTTP; serve is killed with SIGKILL while the jobs are pending; once the
// receiver answers 2xx, a restarted serve delivers each job, with valid
// signatures and one event ID per instance, and the untouched instance is
// still running.
func TestCrash_PendingJobSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the phonefleet binary")
	}
	dir := t.TempDir()
	bin := buildPhonefleet(t, dir)
	dbPath := filepath.Join(dir, "phonefleet.db")

	runCLI(t, bin, "tenant", "create", "crash", "--db", dbPath)
	token := strings.TrimSpace(runCLI(t, bin, "token", "issue", "--tenant", "crash", "--db", dbPath))

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
	serveArgs := []string{"serve", "--db", dbPath, "--addr", "127.0.0.1:0",
		"--release-driver", "webhook", "--webhook-url", rcv.URL, "--webhook-secret", testSecret,
		"--release-backoff", "1s", "--release-max-attempts", "20", "--release-workers", "2"}

	// First run: buy three instances, unsubscribe two.
	srv := startServe(t, bin, serveArgs)
	var created struct {
		Data struct {
			InstanceInfos []struct {
				InstanceID string `json:"instanceId"`
			} `json:"instanceInfos"`
		} `json:"data"`
	}
	apiCall(t, srv.url+"/v1/instances/create", token, `{"os": "AOSP11", "instanceSkuId": "kp.pro.2u4g",
		"bandSkuId": "kp.band.bgp.standard", "regionId": "ap-southeast-1", "instanceNamePrefix": "crash",
		"bandSize": 2, "count": 3, "chargeParam": {"chargingMode": 1, "periodType": 2, "periodNum": 1,
		"isAutoPay": 1, "isAutoRenew": 0}}`, &created)
	if n := len(created.Data.InstanceInfos); n != 3 {
		t.Fatalf("bought %d instances, want 3", n)
	}
	ids := []string{created.Data.InstanceInfos[0].InstanceID, created.Data.InstanceInfos[1].InstanceID}
	kept := created.Data.InstanceInfos[2].InstanceID
	body, _ := json.Marshal(map[string]any{"instanceIdList": ids})
	apiCall(t, srv.url+"/v1/instances/delete", token, string(body), nil)

	// Kill it once every job has failed at least once and waits, pending,
	// for its next attempt (about a second away).
	db := mustOpenDB(t, dbPath)
	waitJobs(t, db, ids, func(j *phonefleet.ReleaseJob) bool {
		return j.State == phonefleet.JobStatePending && j.Attempts >= 1
	}, "pending after a failed attempt")
	srv.kill(t)

	jobs := findJobs(t, db)
	for _, id := range ids {
		if j := jobs[id]; j.State != phonefleet.JobStatePending || !strings.Contains(j.LastError, "500") {
			t.Fatalf("after SIGKILL job %s=%+v, want pending after status 500", id, j)
		}
	}
	if got := okCount(jobs[ids[0]].EventID) + okCount(jobs[ids[1]].EventID); got != 0 {
		t.Fatalf("%d deliveries confirmed before the restart, want 0", got)
	}

	// The data plane comes up; a restarted serve delivers the pending jobs.
	up.Store(true)
	srv = startServe(t, bin, serveArgs)
	waitJobs(t, db, ids, func(j *phonefleet.ReleaseJob) bool { return j.State == phonefleet.JobStateDone }, "done")

	var status struct {
		Data struct {
			StatusResults []struct {
				InstanceID string `json:"instance_id"`
				Status     int    `json:"status"`
			} `json:"status_results"`
		} `json:"data"`
	}
	body, _ = json.Marshal(map[string]any{"instance_ids": append([]string{kept}, ids...)})
	apiCall(t, srv.url+"/v1/instances/batch-query-status", token, string(body), &status)
	want := map[string]int{kept: phonefleet.StatusRunning, ids[0]: phonefleet.StatusUnknown, ids[1]: phonefleet.StatusUnknown}
	if len(status.Data.StatusResults) != 3 {
		t.Fatalf("status results=%+v, want 3", status.Data.StatusResults)
	}
	for _, r := range status.Data.StatusResults {
		if r.Status != want[r.InstanceID] {
			t.Fatalf("instance %s status=%d, want %d", r.InstanceID, r.Status, want[r.InstanceID])
		}
	}

	jobs = findJobs(t, db)
	if jobs[kept] != nil {
		t.Fatalf("untouched instance %s has a release job", kept)
	}
	if jobs[ids[0]].EventID == jobs[ids[1]].EventID {
		t.Fatalf("two instances share event ID %s", jobs[ids[0]].EventID)
	}
	for _, id := range ids {
		evs := rcv.events(jobs[id].EventID)
		if len(evs) < 2 {
			t.Fatalf("event %s delivered %d times, want failures before the crash and one success after", jobs[id].EventID, len(evs))
		}
		for _, ev := range evs {
			if ev.InstanceID != id || ev.Type != EventType {
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
	if nEvents != 2 {
		t.Fatalf("receiver saw %d distinct event IDs, want 2", nEvents)
	}
	if rcv.badSignatures() != 0 {
		t.Fatalf("%d deliveries with a bad signature", rcv.badSignatures())
	}
	srv.stop(t)
}

// buildPhonefleet builds cmd/phonefleet from the module root into dir.
func buildPhonefleet(tb testing.TB, dir string) string {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "phonefleet")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/phonefleet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build cmd/phonefleet: %v\n%s", err, out)
	}
	return bin
}

// runCLI runs the binary and returns its stdout.
func runCLI(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("phonefleet %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// serveProc is a running `phonefleet serve`.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}

	mu  sync.Mutex
	log bytes.Buffer // its stderr
}

var listeningAddrRE = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)

// startServe starts serve and waits for its "listening" log line.
func startServe(tb testing.TB, bin string, args []string) *serveProc {
	tb.Helper()
	p := &serveProc{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start serve: %v", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listeningAddrRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "listening") {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if tb.Failed() {
			tb.Logf("serve stderr:\n%s", p.logs())
		}
	})

	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.exited:
		tb.Fatalf("serve exited before listening:\n%s", p.logs())
	case <-time.After(30 * time.Second):
		tb.Fatalf("serve did not log listening within 30s:\n%s", p.logs())
	}
	return p
}

func (p *serveProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serveProc) kill(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		tb.Fatalf("kill serve: %v", err)
	}
	recv(tb, p.exited)
}

// stop sends SIGTERM and expects a clean exit.
func (p *serveProc) stop(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatalf("stop serve: %v", err)
	}
	recv(tb, p.exited)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		tb.Fatalf("serve exited with %d after SIGTERM:\n%s", code, p.logs())
	}
}

// apiCall POSTs body with the token and decodes a success envelope into out.
func apiCall(tb testing.TB, url, token, body string, out any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		ErrorCode string `json:"error_code"`
	}
	if err := json.Unmarshal(b, &env); err != nil || resp.StatusCode != http.StatusOK || env.ErrorCode != "0" {
		tb.Fatalf("POST %s: status %d: %s", url, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("decode %s: %v", b, err)
		}
	}
}

// waitJobs polls the database, which another process writes, until every
// job of ids satisfies cond (30 s at most).
func waitJobs(tb testing.TB, store phonefleet.ReleaseJobService, ids []string, cond func(*phonefleet.ReleaseJob) bool, what string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		jobs, err := store.FindReleaseJobs(ctx, phonefleet.ReleaseJobFilter{})
		if err != nil && ctx.Err() == nil {
			tb.Fatal(err)
		}
		byID := map[string]*phonefleet.ReleaseJob{}
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
