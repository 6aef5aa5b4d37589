package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestClient_EveryCall drives every route of the API through the Go client
// against the built binary, so the OpenAPI check (see TestMain) sees an
// answer of each: a tenant user signs in with IAM, buys, lists, assigns,
// reboots (the data plane accepts with 202 and reports later), previews and
// unsubscribes, and reads its refunds and audit trail.
func TestClient_EveryCall(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	MustTenant(t, db, "acme")
	bin := testingutil.MustBuildBinary(t)
	if r := testingutil.RunCLIInput(t, bin, []string{"PHONEFLEET_DB=" + db}, "correct horse battery\n",
		"user", "create", "--tenant", "acme", "--name", "alice", "--password-stdin"); r.Code != 0 {
		t.Fatalf("user create: %d %s", r.Code, r.Stderr)
	}
	jobs := make(chan string, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			JobID string `json:"job_id"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &ev)
		w.WriteHeader(http.StatusAccepted)
		jobs <- ev.JobID
	}))
	t.Cleanup(receiver.Close)
	node := MustServe(t, db, "--release-driver", "webhook", "--webhook-url", receiver.URL, "--webhook-secret", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := client.Login(ctx, nil, node.URL, "acme", "alice", "wrong"); phonefleet.ErrorCode(err) != phonefleet.EUnauthorized {
		t.Fatalf("login with a wrong password: %v", err)
	}
	tok, err := client.Login(ctx, nil, node.URL, "acme", "alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(node.URL, tok.Token)
	if err := cl.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := cl.Projects(ctx, "cn-north-4"); err != nil || len(p) != 1 || p[0].Name != "cn-north-4" {
		t.Fatalf("projects: %+v %v", p, err)
	}
	if d, err := cl.Domains(ctx); err != nil || len(d) != 1 || d[0].Name != "acme" {
		t.Fatalf("domains: %+v %v", d, err)
	}
	for _, path := range []string{"/openapi.json", "/metrics"} {
		resp, err := http.Get(node.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	if _, err := cl.SKUs(ctx); err != nil {
		t.Fatal(err)
	}
	order, err := cl.Create(ctx, client.CreateRequest{OS: "AOSP14", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", InstanceNamePrefix: "ev", BandSize: 2, Count: 3,
		ChargeParam: client.ChargeParam{ChargingMode: 1, PeriodType: 2, PeriodNum: 2}}, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{order.InstanceInfos[0].InstanceID, order.InstanceInfos[1].InstanceID, order.InstanceInfos[2].InstanceID}
	if page, err := cl.BatchQuery(ctx, client.Query{State: "running", BillingMode: "prePaid", Sort: "-created_at"}); err != nil || page.TotalCount != 3 {
		t.Fatalf("batch-query: %+v %v", page, err)
	}
	if err := cl.Assign(ctx, []client.UserInstance{{UserID: "u1", InstanceID: ids[0]}}); err != nil {
		t.Fatal(err)
	}
	if st, err := cl.Prepare(ctx, "u1", ids); err != nil || st[0].Status != 0 || st[1].Status != 2 {
		t.Fatalf("prepare: %+v %v", st, err)
	}
	reboot, err := cl.Reboot(ctx, ids[1:2])
	if err != nil {
		t.Fatal(err)
	}
	// The data plane takes the command (202), then reports it done.
	if got := <-jobs; got != reboot.CmdJobs[0].JobID {
		t.Fatalf("webhook got job %s, want %s", got, reboot.CmdJobs[0].JobID)
	}
	if err := client.ReportJob(ctx, nil, node.URL, "wrong", reboot.CmdJobs[0].JobID, client.JobReport{State: "done"}); phonefleet.ErrorCode(err) != phonefleet.EBadSignature {
		t.Fatalf("report signed with a wrong secret: %v", err)
	}
	if err := client.ReportJob(ctx, nil, node.URL, "s3cret", reboot.CmdJobs[0].JobID, client.JobReport{State: "done"}); err != nil {
		t.Fatal(err)
	}
	if st, err := cl.BatchQueryStatus(ctx, ids); err != nil || st[1].Status != 2 {
		t.Fatalf("status after the reboot was reported done: %+v %v", st, err)
	}
	reset, err := cl.Reset(ctx, ids[2:])
	if err != nil || len(reset.CmdJobs) != 1 {
		t.Fatalf("reset: %+v %v", reset, err)
	}
	<-jobs
	unassign, err := cl.Unassign(ctx, []client.UserInstance{{UserID: "u1", InstanceID: ids[0]}})
	if err != nil || len(unassign.CmdJobs) != 1 {
		t.Fatalf("unassign: %+v %v", unassign, err)
	}
	<-jobs
	dry, err := cl.UnsubscribeDryRun(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Unsubscribe(ctx, ids); err != nil {
		t.Fatal(err)
	}
	refunds, err := cl.Refunds(ctx, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range refunds.Result {
		total += r.Amount
	}
	if total != dry.TotalRefund || refunds.TotalCount != 3 {
		t.Fatalf("refunds %+v total %d, want 3 totalling the dry run's %d", refunds, total, dry.TotalRefund)
	}
	audit, err := cl.Audit(ctx, 1, 100)
	if err != nil || audit.Result[0].Action != phonefleet.ActionInstanceDelete {
		t.Fatalf("audit: %+v %v", audit, err)
	}
}
