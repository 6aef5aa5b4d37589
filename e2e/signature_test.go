package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookDelivery is one webhook delivery as a receiver saw it.
type hookDelivery struct {
	Header http.Header
	Path   string
	Body   []byte
	Fields map[string]any

	verified bool // its signature is good (verifyDelivery)
}

// hookReceiver records every delivery and answers status(n) to the n-th
// (from 0); 202 unless set.
type hookReceiver struct {
	t      testing.TB
	srv    *httptest.Server
	got    chan hookDelivery
	mu     sync.Mutex
	n      int
	status func(n int) int
}

func newHookReceiver(t testing.TB, status func(n int) int) *hookReceiver {
	h := &hookReceiver{t: t, got: make(chan hookDelivery, 100), status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := hookDelivery{Header: r.Header.Clone(), Path: r.URL.EscapedPath(), Body: body, verified: verifyDelivery(r, body)}
		json.Unmarshal(body, &d.Fields)
		h.mu.Lock()
		n := h.n
		h.n++
		h.mu.Unlock()
		h.got <- d
		code := http.StatusAccepted
		if h.status != nil {
			code = h.status(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// next returns the next delivery; it fails after 10 s without one.
func (h *hookReceiver) next() hookDelivery {
	h.t.Helper()
	select {
	case d := <-h.got:
		return d
	case <-time.After(10 * time.Second):
		h.t.Fatal("no webhook delivery within 10s")
	}
	return hookDelivery{}
}

func (d hookDelivery) str(k string) string { s, _ := d.Fields[k].(string); return s }

// waitJob polls phonefleet jobs until the job is in state, for at most 10 s.
func waitJob(t testing.TB, db, jobID, state string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, j := range jsonLines(t, MustCLI(t, db, "jobs")) {
			if j["job_id"] == jobID && j["state"] == state {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not %s within 10s: %s", jobID, state, MustCLI(t, db, "jobs"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A report signature covers the job's path, its time and the body: a
// report captured for one job is refused on another job's path and when
// sent again; deliveries carry the same kind of signature.
func TestReportSignature(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	MustCLI(t, db, "migrate")
	acme := MustTenant(t, db, "acme")
	globex := MustTenant(t, db, "globex")
	hook := newHookReceiver(t, nil)
	n := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", hook.srv.URL, "--webhook-secret", dataPlaneSecret,
		"--release-backoff", "50ms")
	a := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))[0]
	g := MustBuy(t, n.URL, globex.Admin, buyBody(1, 1, 2, 1))[0]
	ja := jobFor(cmdJobs(t, post(t, n.URL, "reboot", acme.Admin, "req-a", map[string]any{"instance_ids": []string{a}}), a), a)
	jg := jobFor(cmdJobs(t, post(t, n.URL, "reboot", globex.Admin, "req-g", map[string]any{"instance_ids": []string{g}}), g), g)
	// Deliveries are signed over their time, method, path and body.
	for range 2 {
		if d := hook.next(); !d.verified || d.Path != "/" {
			t.Fatalf("delivery %s to %s with signature %q does not verify", d.Body, d.Path, d.Header.Get("X-Phonefleet-Signature"))
		}
	}

	body := []byte(`{"state":"done"}`)
	send := func(jobID, sig string) int {
		r := call(t, "POST", n.URL+jobPath(jobID), "", "application/json", body, "X-Phonefleet-Signature", sig)
		if r.Status == 401 && r.Code() != "PHONEFLEET.JOB.0003" {
			t.Fatalf("401 with code %s, want PHONEFLEET.JOB.0003", r.Code())
		}
		return r.Status
	}
	// Too old, too new, or the body's HMAC alone (the old scheme): refused.
	for _, sig := range []string{
		signReport(jobPath(ja), body, time.Now().Add(-6*time.Minute)),
		signReport(jobPath(ja), body, time.Now().Add(6*time.Minute)),
		"sha256=" + strings.SplitN(signReport(jobPath(ja), body, time.Now()), "v1=", 2)[1],
	} {
		if st := send(ja, sig); st != 401 {
			t.Fatalf("report signed %q: %d, want 401", sig, st)
		}
	}
	if got := statuses(t, n.URL, acme.Admin, []string{a}); got[a] != 4 {
		t.Fatalf("acme's instance after refused reports: status %v, want 4 (reboot in flight)", got[a])
	}
	sig := signReport(jobPath(ja), body, time.Now())
	if st := send(ja, sig); st != 200 {
		t.Fatalf("report on its own job: %d", st)
	}
	// The same bytes on globex's job: refused, the reboot stays in flight.
	if st := send(jg, sig); st != 401 {
		t.Fatalf("acme's captured report on globex's job: %d, want 401", st)
	}
	if got := statuses(t, n.URL, globex.Admin, []string{g}); got[g] != 4 {
		t.Fatalf("globex's instance after a foreign report: status %v, want 4 (reboot in flight)", got[g])
	}
	// Sent again on its own job: refused as a replay.
	if st := send(ja, sig); st != 401 {
		t.Fatalf("replayed report: %d, want 401", st)
	}
}

// A late report on a job that failed by timeout is 409; jobs retry makes a
// new delivery (a new X-Phonefleet-Delivery-Id, the same event ID; the same
// delivery ID across automatic retries); a done job has no last_error.
func TestLateReportAndRetry(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	MustCLI(t, db, "migrate")
	acme := MustTenant(t, db, "acme")
	// Delivery 0: 202 (then it times out); 1: 500 (after jobs retry); 2: 202.
	hook := newHookReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusAccepted
	})
	n := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", hook.srv.URL, "--webhook-secret", dataPlaneSecret,
		"--release-backoff", "50ms", "--command-timeout", "300ms")
	id := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))[0]
	job := jobFor(cmdJobs(t, post(t, n.URL, "reboot", acme.Admin, "req-r", map[string]any{"instance_ids": []string{id}}), id), id)
	first := hook.next()
	if !first.verified {
		t.Fatalf("delivery %s: signature %q does not verify", first.Body, first.Header.Get("X-Phonefleet-Signature"))
	}
	waitJob(t, db, job, "failed")

	// Late reports on the timed-out job: 409, nothing changes.
	for _, body := range []string{`{"state":"failed","error":"late"}`, `{"state":"done"}`} {
		if r := report(t, n.URL, job, body); r.Status != 409 {
			t.Fatalf("late report %s: %d %s, want 409", body, r.Status, r.Raw)
		}
	}
	if j := waitJob(t, db, job, "failed"); j["last_error"] == "late" {
		t.Fatalf("late report changed the job: %v", j)
	}

	MustCLI(t, db, "jobs", "retry", job)
	second, third := hook.next(), hook.next()
	if second.str("id") != first.str("id") || third.str("id") != first.str("id") {
		t.Fatalf("event IDs %s, %s, %s: want the same", first.str("id"), second.str("id"), third.str("id"))
	}
	d1, d2, d3 := first.Header.Get("X-Phonefleet-Delivery-Id"), second.Header.Get("X-Phonefleet-Delivery-Id"), third.Header.Get("X-Phonefleet-Delivery-Id")
	if d1 == "" || d2 == "" || d2 == d1 || d3 != d2 {
		t.Fatalf("delivery IDs %q, %q, %q: want a new one for the manual retry, kept by the automatic one", d1, d2, d3)
	}
	if j := waitJob(t, db, job, "accepted"); j["last_error"] == "" {
		t.Fatalf("accepted after a failed attempt: %v, want the attempt's last_error", j)
	}
	wantOK(t, report(t, n.URL, job, `{"state":"done"}`))
	if j := waitJob(t, db, job, "done"); j["last_error"] != "" {
		t.Fatalf("done job: last_error %q, want none", j["last_error"])
	}
}

// jobPath is the path of a job's report.
func jobPath(jobID string) string { return "/v1/phonefleet/dataplane/jobs/" + jobID }

// signReport returns the signature of a report sent at at.
func signReport(path string, body []byte, at time.Time) string {
	return signAt(at.Unix(), "POST", path, body)
}
