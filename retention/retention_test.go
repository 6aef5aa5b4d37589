package retention_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/phonefleet/phonefleet/retention"
	"github.com/phonefleet/phonefleet/sqlite"
)

// mustStore opens a SQLite store on clk with a tenant, 5 audit events a
// day apart ending now, and 4 unsubscribed instances whose releases are
// done, plus 1 whose release failed (the instance stays deleting), all
// finished now; it returns the store and the tenant.
func mustStore(t *testing.T, clk *testingutil.Clock) (*sqlite.DB, *phonefleet.Tenant) {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "db"))
	db.Now = clk.Now
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	tn := &phonefleet.Tenant{Name: "acme"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := db.CreateAuditEvent(ctx, &phonefleet.AuditEvent{
			At: clk.Now().Add(time.Duration(i-4) * 24 * time.Hour), TenantID: tn.ID, TokenID: "tk1",
			Action: phonefleet.ActionInstanceDelete, RequestID: string(rune('a' + i)), ErrorCode: phonefleet.ECodeOK,
		}); err != nil {
			t.Fatal(err)
		}
	}
	_, ins, err := db.Purchase(ctx, &phonefleet.PurchaseRequest{
		TenantID: tn.ID, RequestID: "req-buy", OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "phone", BandSize: 4, Count: 5,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
	}
	if _, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-del", InstanceIDs: ids}); err != nil {
		t.Fatal(err)
	}
	cs, err := db.ClaimCommands(ctx, "w", 100, time.Minute)
	if err != nil || len(cs) != 5 {
		t.Fatalf("claimed %d, %v", len(cs), err)
	}
	for i, c := range cs {
		if i == 0 {
			err = db.FailCommand(ctx, c.ID, "w", "boom", clk.Now(), true)
		} else {
			err = db.CompleteCommand(ctx, c.ID, "w")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return db, tn
}

// exportedLines returns the lines of the export files of table, by file.
func exportedLines(t *testing.T, dir, table string) map[string][]map[string]any {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, table+"-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: %q: %v", name, sc.Text(), err)
			}
			out[name] = append(out[name], m)
		}
		f.Close()
	}
	return out
}

// orderCheck wraps a store and, at every delete, checks that the rows
// about to be deleted are in the export files already.
type orderCheck struct {
	phonefleet.RetentionService
	t   *testing.T
	dir string
}

func (o *orderCheck) exported(table, key string) map[string]bool {
	seen := map[string]bool{}
	for _, lines := range exportedLines(o.t, o.dir, table) {
		for _, l := range lines {
			seen[jsonString(l[key])] = true
		}
	}
	return seen
}

func jsonString(v any) string {
	buf, _ := json.Marshal(v)
	return strings.Trim(string(buf), `"`)
}

func (o *orderCheck) DeleteAuditEvents(ctx context.Context, before time.Time, ids []int64) (int, error) {
	seen := o.exported(retention.TableAuditEvents, "id")
	for _, id := range ids {
		if b, _ := json.Marshal(id); !seen[string(b)] {
			o.t.Errorf("audit event %d deleted before it was exported", id)
		}
	}
	return o.RetentionService.DeleteAuditEvents(ctx, before, ids)
}

func (o *orderCheck) DeleteCommands(ctx context.Context, before time.Time, ids []string) (int, error) {
	seen := o.exported(retention.TableCommands, "job_id")
	for _, id := range ids {
		if !seen[id] {
			o.t.Errorf("command %s deleted before it was exported", id)
		}
	}
	return o.RetentionService.DeleteCommands(ctx, before, ids)
}

// TestWorker_RunOnce removes, in batches of 2, the audit events older
// than 2 days and the commands finished more than a day ago that no retry
// can run, exporting each batch before deleting it; a second pass removes
// nothing and writes no file.
func TestWorker_RunOnce(t *testing.T) {
	clk := testingutil.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	db, tn := mustStore(t, clk)
	clk.Add(36 * time.Hour)
	dir := t.TempDir()
	w := &retention.Worker{
		Store: &orderCheck{RetentionService: db, t: t, dir: dir}, AuditRetention: 48 * time.Hour, JobRetention: 24 * time.Hour,
		ExportDir: dir, Batch: 2, Now: clk.Now,
	}
	res, err := w.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Events at now-36h-{4,3,2,1,0} days, and the purchase's and the
	// unsubscribe's at now-36h: the four older than 48h go.
	if res.AuditEvents != 4 || res.Commands != 4 {
		t.Fatalf("removed %+v, want 4 audit events and 4 commands", res)
	}
	left, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, e := range left {
		reqs = append(reqs, e.RequestID)
	}
	if !slices.Equal(reqs, []string{"req-del", "req-buy", "e"}) {
		t.Fatalf("audit events left=%v, want the unsubscribe, the purchase and e", reqs)
	}
	cs, err := db.FindCommands(t.Context(), phonefleet.CommandFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(cs) != 1 || cs[0].State != phonefleet.JobStateFailed {
		t.Fatalf("commands left=%v, want the failed release only", cs)
	}

	files := exportedLines(t, dir, retention.TableAuditEvents)
	if len(files) != 1 {
		t.Fatalf("audit export files=%d, want 1", len(files))
	}
	for _, lines := range files {
		if len(lines) != 4 || lines[0]["request_id"] != "a" || lines[3]["request_id"] != "d" || lines[0]["tenant_id"] != tn.ID || lines[0]["token_id"] != "tk1" ||
			lines[0]["id"] == nil || lines[0]["tenant"] != "acme" {
			t.Fatalf("audit export=%v, want a to d with every column", lines)
		}
	}
	files = exportedLines(t, dir, retention.TableCommands)
	for _, lines := range files {
		if len(lines) != 4 || lines[0]["state"] != "done" || lines[0]["type"] != "release" || lines[0]["job_id"] == "" {
			t.Fatalf("command export=%v, want the 4 done releases", lines)
		}
	}

	if res, err := w.RunOnce(t.Context()); err != nil || res != (retention.Result{}) {
		t.Fatalf("second pass removed %+v, %v, want nothing", res, err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*.jsonl")); len(names) != 2 {
		t.Fatalf("export files after a pass with nothing to remove: %v, want still 2", names)
	}

	// The restored-store checks hold after retention.
	check := phonefleet.NewConsistencyCheck()
	if err := db.ExportBatches(t.Context(), check.Add); err != nil {
		t.Fatal(err)
	} else if p := check.Problems(); len(p) > 0 {
		t.Fatalf("store inconsistent after retention: %v", p)
	}
}

// TestWorker_Open does nothing without a retention, refuses an export
// directory that is not one, and stops on Close.
func TestWorker_Open(t *testing.T) {
	clk := testingutil.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	db, _ := mustStore(t, clk)
	w := &retention.Worker{Store: db}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	for _, dir := range []string{file, filepath.Join(t.TempDir(), "missing")} {
		w := &retention.Worker{Store: db, JobRetention: time.Hour, ExportDir: dir}
		if err := w.Open(); err == nil {
			w.Close()
			t.Fatalf("Open with export directory %s succeeded", dir)
		}
	}
	w = &retention.Worker{Store: db, JobRetention: time.Hour, Now: clk.Now}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close()
}
