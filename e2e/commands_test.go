package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

const dataPlaneSecret = "dp-s3cret"

// dataPlane is a webhook receiver that checks every delivery's signature,
// records it, and takes it with 202 Accepted: the command stays in flight
// until the test reports its outcome, as a real data plane that needs
// minutes would.
type dataPlane struct {
	t      testing.TB
	srv    *httptest.Server
	events chan dataPlaneEvent
	status func(ev dataPlaneEvent) int // the answer; 202 unless set

	mu  sync.Mutex
	bad int // deliveries with a bad signature or header
}

// dataPlaneEvent is one delivery as received.
type dataPlaneEvent struct {
	Fields map[string]any
	Raw    []byte
}

func (e dataPlaneEvent) str(k string) string { s, _ := e.Fields[k].(string); return s }

func newDataPlane(t testing.TB) *dataPlane {
	d := &dataPlane{t: t, events: make(chan dataPlaneEvent, 100)}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev dataPlaneEvent
		ev.Raw = body
		if json.Unmarshal(body, &ev.Fields) != nil || !verifyDelivery(r, body) ||
			r.Header.Get("X-Phonefleet-Event-Id") != ev.str("id") || r.Method != "POST" ||
			r.Header.Get("Content-Type") != "application/json" {
			d.mu.Lock()
			d.bad++
			d.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		d.events <- ev
		status := http.StatusAccepted
		if d.status != nil {
			status = d.status(ev)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// signAt returns the X-Phonefleet-Signature of a request (method, path,
// body) at unix time t under the data plane's secret, as docs/release.md
// specifies it (version 2).
func signAt(t int64, method, path string, body []byte) string {
	m := hmac.New(sha256.New, []byte(dataPlaneSecret))
	fmt.Fprintf(m, "%d.%s %s.", t, method, path)
	m.Write(body)
	return fmt.Sprintf("t=%d,v1=%s", t, hex.EncodeToString(m.Sum(nil)))
}

// lastSigned is the time of the last report signed by report: each report
// is signed a second later than the last, as phonefleet refuses a
// signature it has accepted before.
var lastSigned atomic.Int64

// nextSignTime returns now, or a second after the last report's time.
func nextSignTime() int64 {
	for {
		last := lastSigned.Load()
		t := max(time.Now().Unix(), last+1)
		if lastSigned.CompareAndSwap(last, t) {
			return t
		}
	}
}

// verifyDelivery checks a delivery's signature as docs/release.md tells a
// receiver to: t within 5 minutes, one v1= the HMAC of its time, method,
// path and body.
func verifyDelivery(r *http.Request, body []byte) bool {
	var t int64 = -1
	var v1 []string
	for _, part := range strings.Split(r.Header.Get("X-Phonefleet-Signature"), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			t, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			v1 = append(v1, v)
		}
	}
	if d := time.Since(time.Unix(t, 0)); t < 0 || d > 5*time.Minute || d < -5*time.Minute {
		return false
	}
	want := signAt(t, r.Method, r.URL.EscapedPath(), body)
	for _, v := range v1 {
		if hmac.Equal([]byte(fmt.Sprintf("t=%d,v1=%s", t, v)), []byte(want)) {
			return true
		}
	}
	return false
}

// next returns the next delivery; it fails after 10 s without one.
func (d *dataPlane) next() dataPlaneEvent {
	d.t.Helper()
	select {
	case ev := <-d.events:
		return ev
	case <-time.After(10 * time.Second):
		d.t.Fatal("no webhook delivery within 10s")
	}
	return dataPlaneEvent{}
}

// expect returns the next len(jobs) deliveries by job ID and checks each
// carries its type, instance, tenant and request ID.
func (d *dataPlane) expect(typ, tenantID, requestID string, jobs map[string]string) map[string]dataPlaneEvent {
	d.t.Helper()
	out := map[string]dataPlaneEvent{}
	for range jobs {
		ev := d.next()
		id := ev.str("job_id")
		instance, ok := jobs[id]
		if !ok || ev.str("type") != typ || ev.str("instance_id") != instance || ev.str("tenant_id") != tenantID ||
			ev.str("request_id") != requestID || !strings.HasPrefix(ev.str("id"), "evt_") || ev.str("created_at") == "" {
			d.t.Fatalf("delivery %s, want %s of one of %v for tenant %s, request %s", ev.Raw, typ, jobs, tenantID, requestID)
		}
		out[id] = ev
	}
	return out
}

// report sends the data plane's signed report on a job.
func report(t testing.TB, url, jobID, body string) *testingutil.Response {
	t.Helper()
	path := "/v1/phonefleet/dataplane/jobs/" + jobID
	return call(t, "POST", url+path, "", "application/json", []byte(body),
		"X-Phonefleet-Signature", signAt(nextSignTime(), "POST", path, []byte(body)))
}

// cmdJobs checks the data of unassign, reboot and batch-reset: a task ID
// and one job per instance, in request order; it returns job ID → instance.
func cmdJobs(t testing.TB, r *testingutil.Response, ids ...string) map[string]string {
	t.Helper()
	wantOK(t, r)
	d := r.Data()
	jobs, _ := d["cmd_jobs"].([]any)
	if task, _ := d["task_id"].(string); task == "" || len(jobs) != len(ids) {
		t.Fatalf("data %s, want a task_id and %d cmd_jobs", r.Raw, len(ids))
	}
	out := map[string]string{}
	for i, j := range jobs {
		m := j.(map[string]any)
		id, _ := m["job_id"].(string)
		if m["instance_id"] != ids[i] || id == "" || out[id] != "" {
			t.Fatalf("cmd_jobs[%d]=%v, want instance %s with a new job_id", i, m, ids[i])
		}
		out[id] = ids[i]
	}
	return out
}

// jobFor returns the job ID of instance in jobs.
func jobFor(jobs map[string]string, instance string) string {
	for j, in := range jobs {
		if in == instance {
			return j
		}
	}
	return ""
}

// items returns batch-query's items by instance ID.
func items(t testing.TB, url, token string) map[string]map[string]any {
	t.Helper()
	r := call(t, "GET", url+"/v1/instances/batch-query?page_no=1&page_size=100&include_released=true", token, "", nil)
	wantOK(t, r)
	out := map[string]map[string]any{}
	list, _ := r.Data()["result"].([]any)
	for _, it := range list {
		m := it.(map[string]any)
		out[m["instance_id"].(string)] = m
	}
	return out
}

// prepare returns prepare's statuses, in request order.
func prepare(t testing.TB, url, token, user string, ids ...string) []float64 {
	t.Helper()
	r := postJSON(t, url+"/v1/instances/prepare", token, map[string]any{"user_id": user, "instance_ids": ids})
	wantOK(t, r)
	list, _ := r.Data()["status_list"].([]any)
	if len(list) != len(ids) {
		t.Fatalf("prepare answered %s for %d IDs", r.Raw, len(ids))
	}
	var out []float64
	for i, it := range list {
		m := it.(map[string]any)
		if m["instance_id"] != ids[i] {
			t.Fatalf("status_list[%d]=%v, want %s", i, m, ids[i])
		}
		out = append(out, m["status"].(float64))
	}
	return out
}

// post sends a KooPhone request with an x-request-id.
func post(t testing.TB, url, path, token, requestID string, body any) *testingutil.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return call(t, "POST", url+"/v1/instances/"+path, token, "application/json", b, "X-Request-Id", requestID)
}

func pairsBody(kv ...string) map[string]any {
	var list []map[string]string
	for i := 0; i+1 < len(kv); i += 2 {
		list = append(list, map[string]string{"user_id": kv[i], "instance_id": kv[i+1]})
	}
	return map[string]any{"user_instances": list}
}

// TestCommands drives assignment and the data-plane commands through the
// built binary as a KooPhone client, an operator and a data plane that
// answers 202 and reports later would.
func TestCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	MustCLI(t, db, "migrate")
	acme := MustTenant(t, db, "acme")
	globex := MustTenant(t, db, "globex")
	dp := newDataPlane(t)
	n := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", dp.srv.URL, "--webhook-secret", dataPlaneSecret,
		"--release-backoff", "50ms")
	url := n.URL

	m := MustBuy(t, url, acme.Admin, buyBody(5, 1, 2, 1))
	foreign := MustBuy(t, url, globex.Admin, buyBody(1, 1, 2, 1))[0]

	t.Run("RequestIDHeader", func(t *testing.T) {
		const missing = "missing request header 'x-request-id'."
		for _, path := range []string{"assign", "unassign", "reboot", "batch-reset", "batch-query-status"} {
			body := []byte(`{"instance_ids":["` + m[0] + `"]}`)
			// Missing: 0002 right after authentication, before the action check.
			r := call(t, "POST", url+"/v1/instances/"+path, acme.Viewer, "application/json", body)
			wantErr(t, r, 400, "KOOPHONE.API.0002")
			if r.Msg() != missing {
				t.Fatalf("%s: message %q, want %q", path, r.Msg(), missing)
			}
			wantErr(t, call(t, "POST", url+"/v1/instances/"+path, "", "application/json", body), 401, "APIGW.0301")
			// Present but malformed: 1000 naming it.
			r = call(t, "POST", url+"/v1/instances/"+path, acme.Admin, "application/json", body, "X-Request-Id", "no spaces")
			wantErr(t, r, 400, "KOOPHONE.API.1000")
			if !strings.Contains(r.Msg(), "x-request-id") {
				t.Fatalf("%s: message %q does not name x-request-id", path, r.Msg())
			}
		}
		// Prepare does not require it.
		r := call(t, "POST", url+"/v1/instances/prepare", acme.Admin, "application/json", []byte(`{"user_id":"u","instance_ids":["`+m[0]+`"]}`))
		wantOK(t, r)
	})

	t.Run("Actions", func(t *testing.T) {
		for _, path := range []string{"assign", "unassign", "reboot", "batch-reset", "prepare"} {
			r := post(t, url, path, acme.Viewer, "req-viewer", map[string]any{"user_id": "u", "instance_ids": []string{m[0]},
				"user_instances": []map[string]string{{"user_id": "u", "instance_id": m[0]}}})
			wantErr(t, r, 400, "KOOPHONE.API.1001")
			if !strings.Contains(r.Msg(), "koophone:cloudphoneResource:instance") {
				t.Fatalf("%s: message %q does not name the action", path, r.Msg())
			}
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			body any
			name string
		}{
			{"assign", map[string]any{}, "user_instances"},
			{"assign", pairsBody("alice", m[0], "bob", m[0]), m[0]},
			{"assign", pairsBody("has space", m[0]), "user_instances[0].user_id"},
			{"assign", pairsBody("alice", "bad.id"), "user_instances[0].instance_id"},
			{"assign", map[string]any{"user_instances": []any{map[string]any{"userId": "alice", "instance_id": m[0]}}}, "userId"},
			{"unassign", map[string]any{"user_instances": []any{"x"}}, "user_instances[0]"},
			{"reboot", map[string]any{"instance_ids": []string{}}, "instance_ids"},
			{"reboot", map[string]any{"instanceIds": []string{m[0]}}, "instanceIds"},
			{"batch-reset", map[string]any{"instance_ids": []string{m[0], m[0]}}, "instance_ids"},
			{"prepare", map[string]any{"instance_ids": []string{m[0]}}, "user_id"},
			{"prepare", map[string]any{"user_id": "u", "instance_ids": "x"}, "instance_ids"},
		} {
			r := post(t, url, tc.path, acme.Admin, "req-bad", tc.body)
			wantErr(t, r, 400, "KOOPHONE.API.1000")
			if !strings.Contains(r.Msg(), tc.name) {
				t.Fatalf("%s %v: message %q does not name %q", tc.path, tc.body, r.Msg(), tc.name)
			}
		}
		if it := items(t, url, acme.Admin)[m[0]]; it["assign_status"] != 0.0 || it["running_status"] != 2.0 {
			t.Fatalf("instance after bad input: %v", it)
		}
	})

	t.Run("Assign", func(t *testing.T) {
		r := post(t, url, "assign", acme.Admin, "req-assign-1", pairsBody("alice@x.io", m[0], "bob", m[1]))
		wantOK(t, r)
		if d, ok := r.Body["data"]; !ok || d != nil {
			t.Fatalf("assign data %s, want null", r.Raw)
		}
		its := items(t, url, acme.Admin)
		for id, user := range map[string]string{m[0]: "alice@x.io", m[1]: "bob", m[2]: ""} {
			want := 0.0
			if user != "" {
				want = 1
			}
			if its[id]["assign_status"] != want || its[id]["assign_user"] != user {
				t.Fatalf("item %s=%v, want assign_status %v, assign_user %q", id, its[id], want, user)
			}
		}
		// The assign_user filter.
		r = call(t, "GET", url+"/v1/instances/batch-query?page_no=1&page_size=10&assign_user=bob", acme.Viewer, "", nil)
		if wantOK(t, r); r.Data()["total_count"] != 1.0 {
			t.Fatalf("assign_user=bob: %s", r.Raw)
		}
		// Again, same user: a no-op.
		wantOK(t, post(t, url, "assign", acme.Admin, "req-assign-2", pairsBody("alice@x.io", m[0])))
		// Another user's instance: 2209 naming it; all or nothing.
		r = post(t, url, "assign", acme.Admin, "req-assign-3", pairsBody("carol", m[2], "carol", m[0]))
		wantErr(t, r, 400, "KPAPI.2209")
		if !strings.Contains(r.Msg(), m[0]) || strings.Contains(r.Msg(), m[2]) {
			t.Fatalf("2209 message %q, want %s named and %s not", r.Msg(), m[0], m[2])
		}
		if its := items(t, url, acme.Admin); its[m[2]]["assign_user"] != "" {
			t.Fatalf("refused assign bound %s: %v", m[2], its[m[2]])
		}
		// Missing and foreign: 1001 naming them, in request order.
		r = post(t, url, "assign", acme.Admin, "req-assign-4", pairsBody("carol", "nosuchid", "carol", foreign, "carol", m[2]))
		wantErr(t, r, 400, "KOOPHONE.API.1001")
		if r.Msg() != "no permission on instances: nosuchid, "+foreign {
			t.Fatalf("1001 message %q", r.Msg())
		}
	})

	var rebootJobs map[string]string
	t.Run("Reboot", func(t *testing.T) {
		rebootJobs = cmdJobs(t, post(t, url, "reboot", acme.Admin, "req-reboot-1", map[string]any{"instance_ids": []string{m[0], m[2]}}), m[0], m[2])
		dp.expect("instance.reboot", acme.ID, "req-reboot-1", rebootJobs)
		// In flight: starting (4) in both status queries, restarting (5) in prepare.
		st := statuses(t, url, acme.Admin, []string{m[0], m[2], m[3]})
		if st[m[0]] != 4 || st[m[2]] != 4 || st[m[3]] != 2 {
			t.Fatalf("statuses=%v, want 4, 4, 2", st)
		}
		if its := items(t, url, acme.Admin); its[m[0]]["running_status"] != 4.0 || its[m[0]]["state"] != "running" {
			t.Fatalf("item=%v, want running_status 4", its[m[0]])
		}
		if got := prepare(t, url, acme.Admin, "alice@x.io", m[0], m[1], m[2], m[3]); !slices.Equal(got, []float64{5, 2, 5, 2}) {
			t.Fatalf("prepare=%v, want 5 2 5 2", got)
		}
		// One command in flight per instance: 5005 naming the busy ones, all or nothing.
		for _, path := range []string{"reboot", "batch-reset"} {
			r := post(t, url, path, acme.Admin, "req-busy", map[string]any{"instance_ids": []string{m[3], m[0]}})
			wantErr(t, r, 400, "KOOPHONE.API.5005")
			if !strings.Contains(r.Msg(), m[0]) || strings.Contains(r.Msg(), m[3]) {
				t.Fatalf("5005 message %q", r.Msg())
			}
		}
		wantErr(t, post(t, url, "assign", acme.Admin, "req-busy", pairsBody("dave", m[2])), 400, "KPAPI.2209")
		wantErr(t, post(t, url, "unassign", acme.Admin, "req-busy", pairsBody("alice@x.io", m[0])), 400, "KOOPHONE.API.5005")
		if st := statuses(t, url, acme.Admin, []string{m[3]}); st[m[3]] != 2 {
			t.Fatalf("refused reboot touched %s: %v", m[3], st)
		}
		r := post(t, url, "reboot", acme.Admin, "req-foreign", map[string]any{"instance_ids": []string{foreign}})
		wantErr(t, r, 400, "KOOPHONE.API.1001")
		if r.Msg() != "no permission on instances: "+foreign {
			t.Fatalf("1001 message %q", r.Msg())
		}
	})

	t.Run("Report", func(t *testing.T) {
		j0, j2 := jobFor(rebootJobs, m[0]), jobFor(rebootJobs, m[2])
		// Unsigned or wrongly signed: 401, nothing changes.
		r := call(t, "POST", url+"/v1/phonefleet/dataplane/jobs/"+j0, "", "application/json", []byte(`{"state":"done"}`))
		if r.Status != 401 {
			t.Fatalf("unsigned report: %d %s", r.Status, r.Raw)
		}
		r = call(t, "POST", url+"/v1/phonefleet/dataplane/jobs/"+j0, "", "application/json", []byte(`{"state":"done"}`),
			"X-Phonefleet-Signature", signAt(nextSignTime(), "POST", "/v1/phonefleet/dataplane/jobs/"+j0, []byte(`{"state":"failed"}`)))
		if r.Status != 401 || statuses(t, url, acme.Admin, []string{m[0]})[m[0]] != 4 {
			t.Fatalf("badly signed report: %d %s", r.Status, r.Raw)
		}
		// Bad body: 1000 naming the field.
		r = report(t, url, j0, `{"state":"finished"}`)
		if wantErr(t, r, 400, "KOOPHONE.API.1000"); !strings.Contains(r.Msg(), "state") {
			t.Fatalf("message %q", r.Msg())
		}
		// Done: running again.
		wantOK(t, report(t, url, j0, `{"state":"done"}`))
		if st := statuses(t, url, acme.Admin, []string{m[0]}); st[m[0]] != 2 {
			t.Fatalf("status after done=%v, want 2", st)
		}
		// Repeated: a no-op; the other outcome: 409; unknown job: 404.
		wantOK(t, report(t, url, j0, `{"state":"done"}`))
		if r := report(t, url, j0, `{"state":"failed","error":"late"}`); r.Status != 409 {
			t.Fatalf("conflicting report: %d %s", r.Status, r.Raw)
		}
		if r := report(t, url, "job_nosuchjob", `{"state":"done"}`); r.Status != 404 {
			t.Fatalf("report on an unknown job: %d %s", r.Status, r.Raw)
		}
		// Failed: the job waits for an operator; the phone is running and idle.
		wantOK(t, report(t, url, j2, `{"state":"failed","error":"disk full"}`))
		if st := statuses(t, url, acme.Admin, []string{m[2]}); st[m[2]] != 2 {
			t.Fatalf("status after a failed reboot=%v, want 2", st)
		}
		failed := jsonLines(t, MustCLI(t, db, "jobs", "--state", "failed", "--type", "reboot"))
		if len(failed) != 1 || failed[0]["job_id"] != j2 || failed[0]["last_error"] != "disk full" || failed[0]["instance_id"] != m[2] {
			t.Fatalf("failed jobs=%v", failed)
		}
		// jobs retry: delivered again, with the same event ID.
		MustCLI(t, db, "jobs", "retry", j2)
		ev := dp.expect("instance.reboot", acme.ID, "req-reboot-1", map[string]string{j2: m[2]})[j2]
		if st := statuses(t, url, acme.Admin, []string{m[2]}); st[m[2]] != 4 {
			t.Fatalf("status after retry=%v, want 4", st)
		}
		wantOK(t, report(t, url, j2, `{"state":"done"}`))
		if ev.str("user_id") != "" {
			t.Fatalf("reboot event carries a user_id: %s", ev.Raw)
		}
	})

	t.Run("Unassign", func(t *testing.T) {
		jobs := cmdJobs(t, post(t, url, "unassign", acme.Admin, "req-unassign-1", pairsBody("alice@x.io", m[0])), m[0])
		ev := dp.expect("instance.wipe_user_data", acme.ID, "req-unassign-1", jobs)[jobFor(jobs, m[0])]
		if ev.str("user_id") != "alice@x.io" {
			t.Fatalf("wipe event %s, want user_id alice@x.io", ev.Raw)
		}
		// The binding is gone at once; the phone keeps running while its
		// user's data is wiped, but takes no other command.
		if it := items(t, url, acme.Admin)[m[0]]; it["assign_status"] != 0.0 || it["assign_user"] != "" || it["running_status"] != 2.0 {
			t.Fatalf("item during the wipe=%v", it)
		}
		if got := prepare(t, url, acme.Admin, "alice@x.io", m[0]); got[0] != 4 {
			t.Fatalf("prepare during the wipe=%v, want 4", got)
		}
		wantErr(t, post(t, url, "unassign", acme.Admin, "req-unassign-1", pairsBody("alice@x.io", m[0])), 400, "KOOPHONE.API.5005")
		wantErr(t, post(t, url, "assign", acme.Admin, "req-assign-5", pairsBody("alice@x.io", m[0])), 400, "KPAPI.2209")
		wantErr(t, post(t, url, "reboot", acme.Admin, "req-reboot-2", map[string]any{"instance_ids": []string{m[0]}}), 400, "KOOPHONE.API.5005")
		wantOK(t, report(t, url, jobFor(jobs, m[0]), `{"state":"done"}`))
		// No binding: 2210 naming the pair.
		r := post(t, url, "unassign", acme.Admin, "req-unassign-2", pairsBody("alice@x.io", m[0], "bob", m[1]))
		wantErr(t, r, 400, "KOOPHONE.API.2210")
		if r.Msg() != "user-instance bindings do not exist: alice@x.io/"+m[0] {
			t.Fatalf("2210 message %q", r.Msg())
		}
		if it := items(t, url, acme.Admin)[m[1]]; it["assign_user"] != "bob" {
			t.Fatalf("refused unassign touched %s: %v", m[1], it)
		}
	})

	t.Run("Reset", func(t *testing.T) {
		jobs := cmdJobs(t, post(t, url, "batch-reset", acme.Admin, "req-reset-1", map[string]any{"instance_ids": []string{m[1]}}), m[1])
		dp.expect("instance.reset", acme.ID, "req-reset-1", jobs)
		it := items(t, url, acme.Admin)[m[1]]
		if it["running_status"] != 4.0 || it["assign_user"] != "bob" {
			t.Fatalf("item during the reset=%v, want starting and still bob's", it)
		}
		if got := prepare(t, url, acme.Admin, "bob", m[1]); got[0] != 4 {
			t.Fatalf("prepare during the reset=%v, want 4", got)
		}
		wantOK(t, report(t, url, jobFor(jobs, m[1]), `{"state":"done"}`))
		if got := prepare(t, url, acme.Admin, "bob", m[1]); got[0] != 0 {
			t.Fatalf("prepare after the reset=%v, want 0 (ready)", got)
		}
	})

	t.Run("UnsubscribeWins", func(t *testing.T) {
		wantOK(t, post(t, url, "assign", acme.Admin, "req-assign-6", pairsBody("erin", m[3])))
		jobs := cmdJobs(t, post(t, url, "reboot", acme.Admin, "req-reboot-3", map[string]any{"instance_ids": []string{m[3]}}), m[3])
		dp.expect("instance.reboot", acme.ID, "req-reboot-3", jobs)
		wantOK(t, postJSON(t, url+"/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": []string{m[3], m[1]}}))
		// The release replaced the reboot; both bindings are gone.
		rel := dp.next()
		rel2 := dp.next()
		got := []string{rel.str("instance_id"), rel2.str("instance_id")}
		slices.Sort(got)
		want := []string{m[1], m[3]}
		slices.Sort(want)
		if rel.str("type") != "instance.release" || rel2.str("type") != "instance.release" || !slices.Equal(got, want) {
			t.Fatalf("deliveries %s and %s, want the two releases", rel.Raw, rel2.Raw)
		}
		its := items(t, url, acme.Admin)
		for _, id := range []string{m[1], m[3]} {
			if its[id]["running_status"] != 3.0 || its[id]["assign_user"] != "" || its[id]["assign_status"] != 0.0 {
				t.Fatalf("item %s=%v, want going offline and unbound", id, its[id])
			}
		}
		if r := report(t, url, jobFor(jobs, m[3]), `{"state":"done"}`); r.Status != 409 {
			t.Fatalf("report on the cancelled reboot: %d %s", r.Status, r.Raw)
		}
		wantErr(t, post(t, url, "reboot", acme.Admin, "req-reboot-4", map[string]any{"instance_ids": []string{m[3]}}), 400, "KOOPHONE.API.5005")
		if got := prepare(t, url, acme.Admin, "erin", m[3]); got[0] != 6 {
			t.Fatalf("prepare of an unsubscribed instance=%v, want 6", got)
		}
		for _, ev := range []dataPlaneEvent{rel, rel2} {
			wantOK(t, report(t, url, ev.str("job_id"), `{"state":"done"}`))
		}
		if st := statuses(t, url, acme.Admin, []string{m[1], m[3]}); st[m[1]] != 0 || st[m[3]] != 0 {
			t.Fatalf("statuses after the releases=%v, want 0", st)
		}
		canceled := jsonLines(t, MustCLI(t, db, "jobs", "--state", "canceled"))
		if len(canceled) != 1 || canceled[0]["job_id"] != jobFor(jobs, m[3]) || canceled[0]["type"] != "reboot" {
			t.Fatalf("canceled jobs=%v", canceled)
		}
	})

	t.Run("Operator", func(t *testing.T) {
		all := jsonLines(t, MustCLI(t, db, "jobs", "--tenant", "acme"))
		types := map[string]int{}
		for _, j := range all {
			types[j["type"].(string)]++
		}
		if types["reboot"] != 3 || types["reset"] != 1 || types["wipe_user_data"] != 1 || types["release"] != 2 {
			t.Fatalf("jobs by type=%v", types)
		}
		if r := testingutil.RunCLI(t, testingutil.MustBuildBinary(t), []string{"PHONEFLEET_DB=" + db}, "jobs", "--type", "restart"); r.Code == 0 ||
			!strings.Contains(r.Stderr, "--type") {
			t.Fatalf("jobs --type restart: exit %d, stderr %q", r.Code, r.Stderr)
		}
		// Every call above is audited, refusals with their code.
		audit := jsonLines(t, MustCLI(t, db, "audit", "--tenant", "acme"))
		seen := map[string]bool{}
		for _, e := range audit {
			seen[e["action"].(string)+" "+e["error_code"].(string)] = true
		}
		for _, want := range []string{"instanceAssign 0", "instanceAssign KPAPI.2209", "instanceAssign KOOPHONE.API.1001",
			"instanceAssign KOOPHONE.API.1000", "instanceUnassign 0", "instanceUnassign KOOPHONE.API.2210",
			"instanceUnassign KOOPHONE.API.5005", "instanceReboot 0", "instanceReboot KOOPHONE.API.5005",
			"instanceReboot KOOPHONE.API.0002", "instanceReset 0", "instancePrepare 0", "instanceReboot KOOPHONE.API.1001"} {
			if !seen[want] {
				t.Errorf("no audit event %q", want)
			}
		}
		dp.mu.Lock()
		defer dp.mu.Unlock()
		if dp.bad != 0 {
			t.Fatalf("%d deliveries were badly signed", dp.bad)
		}
	})
}

// TestCommands_Timeout: a command the data plane accepted but never
// reports fails after --command-timeout, and the instance is idle again.
func TestCommands_Timeout(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := MustTenant(t, db, "acme")
	dp := newDataPlane(t)
	n := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", dp.srv.URL, "--webhook-secret", dataPlaneSecret,
		"--command-timeout", "300ms")
	m := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))
	jobs := cmdJobs(t, post(t, n.URL, "reboot", acme.Admin, "req-t", map[string]any{"instance_ids": m}), m[0])
	dp.expect("instance.reboot", acme.ID, "req-t", jobs)
	deadline := time.Now().Add(15 * time.Second)
	for statuses(t, n.URL, acme.Admin, m)[m[0]] != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the accepted reboot did not time out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	failed := jsonLines(t, MustCLI(t, db, "jobs", "--state", "failed"))
	if len(failed) != 1 || failed[0]["job_id"] != jobFor(jobs, m[0]) || failed[0]["last_error"] == "" {
		t.Fatalf("failed jobs=%v", failed)
	}
	if r := report(t, n.URL, jobFor(jobs, m[0]), `{"state":"done"}`); r.Status != 409 {
		t.Fatalf("late report: %d %s", r.Status, r.Raw)
	}
}
