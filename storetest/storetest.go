// Package storetest is the conformance suite that every phonefleet.Store
// passes: the SQLite store always, the PostgreSQL store when a database is
// configured. It uses only the phonefleet.Store interface and a controlled
// clock, so the same assertions hold for every backend.
//
// A backend's test calls Run with an Opener:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) phonefleet.Store {
//			db := sqlite.NewDB(filepath.Join(t.TempDir(), "db"))
//			db.Now = now
//			... open, t.Cleanup(close) ...
//			return db
//		})
//	}
package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// Opener returns a new, empty, migrated store whose clock is now and
// registers its cleanup with t.
type Opener func(t *testing.T, now func() time.Time) phonefleet.Store

// Run runs the whole suite against the stores that open returns, one fresh
// store per subtest.
func Run(t *testing.T, open Opener) {
	t.Run("Tenant", func(t *testing.T) { testTenant(t, open) })
	t.Run("Token", func(t *testing.T) { testToken(t, open) })
	t.Run("User", func(t *testing.T) { testUser(t, open) })
	t.Run("AccessKey", func(t *testing.T) { testAccessKey(t, open) })
	t.Run("SKU", func(t *testing.T) { testSKU(t, open) })
	t.Run("Purchase", func(t *testing.T) { testPurchase(t, open) })
	t.Run("FindInstances", func(t *testing.T) { testFindInstances(t, open) })
	t.Run("FindInstanceStatuses", func(t *testing.T) { testFindInstanceStatuses(t, open) })
	t.Run("Unsubscribe", func(t *testing.T) { testUnsubscribe(t, open) })
	t.Run("DeletePayPerUse", func(t *testing.T) { testDeletePayPerUse(t, open) })
	t.Run("ReleaseJob", func(t *testing.T) { testReleaseJob(t, open) })
	t.Run("Assign", func(t *testing.T) { testAssign(t, open) })
	t.Run("Command", func(t *testing.T) { testCommand(t, open) })
	t.Run("CommandConcurrent", func(t *testing.T) { testCommandConcurrent(t, open) })
	t.Run("Refund", func(t *testing.T) { testRefund(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Quota", func(t *testing.T) { testQuota(t, open) })
	t.Run("PurchaseReplay", func(t *testing.T) { testPurchaseReplay(t, open) })
	t.Run("FindInstancesExtensions", func(t *testing.T) { testFindInstancesExtensions(t, open) })
	t.Run("RememberSignature", func(t *testing.T) { testRememberSignature(t, open) })
	t.Run("Delivery", func(t *testing.T) { testDelivery(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })
	t.Run("Admin", func(t *testing.T) { testAdmin(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, open) })
}

// clock is the suite's controlled, goroutine-safe clock.
type clock = testingutil.Clock

// newClock returns a clock at a fixed UTC time with microsecond precision,
// the finest every backend stores.
func newClock() *clock {
	return testingutil.NewClock(time.Date(2025, 3, 1, 10, 20, 30, 123456000, time.UTC))
}

// mustOpen opens a fresh store with a fresh clock.
func mustOpen(t *testing.T, open Opener) (phonefleet.Store, *clock) {
	t.Helper()
	clk := newClock()
	return open(t, clk.Now), clk
}

// mustCreateTenant creates a tenant called name.
func mustCreateTenant(t *testing.T, s phonefleet.Store, name string) *phonefleet.Tenant {
	t.Helper()
	tn := &phonefleet.Tenant{Name: name}
	if err := s.CreateTenant(t.Context(), tn); err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn
}

// monthlyRequest returns a valid request for count one-month instances of
// the default professional SKU, prefix "phone", with a request ID of its own
// (a purchase with a request ID already used is answered from the first).
func monthlyRequest(tenantID string, count int) *phonefleet.PurchaseRequest {
	return &phonefleet.PurchaseRequest{
		TenantID: tenantID, TokenID: "tk-test", RequestID: "req-purchase-" + phonefleet.NewID(8),
		OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4",
		NamePrefix: "phone", BandSize: 4, Count: count,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
}

// payPerUseRequest returns a valid request for count pay-per-use instances.
func payPerUseRequest(tenantID string, count int) *phonefleet.PurchaseRequest {
	req := monthlyRequest(tenantID, count)
	req.ChargingMode, req.PeriodType, req.PeriodNum, req.NamePrefix = phonefleet.ChargingModePayPerUse, 0, 0, "ppu"
	return req
}

// mustPurchase buys req and returns the instances.
func mustPurchase(t *testing.T, s phonefleet.Store, req *phonefleet.PurchaseRequest) []*phonefleet.Instance {
	t.Helper()
	if err := req.Validate(); err != nil {
		t.Fatalf("test request does not validate: %v", err)
	}
	_, ins, err := s.Purchase(t.Context(), req)
	if err != nil {
		t.Fatalf("Purchase: %v", err)
	}
	return ins
}

// mustUnsubscribe unsubscribes ids of tenantID.
func mustUnsubscribe(t *testing.T, s phonefleet.Store, tenantID string, ids ...string) *phonefleet.UnsubscribePlan {
	t.Helper()
	plan, err := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
		TenantID: tenantID, TokenID: "tk-test", RequestID: "req-unsubscribe", InstanceIDs: ids,
	})
	if err != nil {
		t.Fatalf("Unsubscribe(%v): %v", ids, err)
	}
	return plan
}

// allInstances is a limit larger than any test's instance count; the suite
// always pages explicitly.
const allInstances = 10000

// mustFindInstances returns all the tenant's instances, released included.
func mustFindInstances(t *testing.T, s phonefleet.Store, tenantID string) []*phonefleet.Instance {
	t.Helper()
	ins, _, err := s.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tenantID, IncludeReleased: true, Limit: allInstances})
	if err != nil {
		t.Fatalf("FindInstances: %v", err)
	}
	return ins
}

// mustFindInstance returns one instance of the tenant, released included.
func mustFindInstance(t *testing.T, s phonefleet.Store, tenantID, id string) *phonefleet.Instance {
	t.Helper()
	ins, _, err := s.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tenantID, ID: &id, IncludeReleased: true, Limit: 1})
	if err != nil {
		t.Fatalf("FindInstances(id=%s): %v", id, err)
	} else if len(ins) != 1 {
		t.Fatalf("FindInstances(id=%s): got %d instances, want 1", id, len(ins))
	}
	return ins[0]
}

// mustFindRefunds returns all refunds.
func mustFindRefunds(t *testing.T, s phonefleet.Store) []*phonefleet.Refund {
	t.Helper()
	rs, err := s.FindRefunds(t.Context(), phonefleet.RefundFilter{})
	if err != nil {
		t.Fatalf("FindRefunds: %v", err)
	}
	return rs
}

// mustFindJobs returns all release jobs.
func mustFindJobs(t *testing.T, s phonefleet.Store) []*phonefleet.Command {
	t.Helper()
	js, err := s.FindCommands(t.Context(), phonefleet.CommandFilter{})
	if err != nil {
		t.Fatalf("FindCommands: %v", err)
	}
	return js
}

// mustFindJob returns the release job of the instance.
func mustFindJob(t *testing.T, s phonefleet.Store, instanceID string) *phonefleet.Command {
	t.Helper()
	for _, j := range mustFindJobs(t, s) {
		if j.InstanceID == instanceID {
			return j
		}
	}
	t.Fatalf("no release job for instance %s", instanceID)
	return nil
}

// mustFindAudit returns all audit events, newest first.
func mustFindAudit(t *testing.T, s phonefleet.Store) []*phonefleet.AuditEvent {
	t.Helper()
	es, err := s.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	}
	return es
}

// wantCode fails unless err carries the code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := phonefleet.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode=%q, want %q (err: %v)", got, code, err)
	}
}

// ids returns the instances' IDs in order.
func ids(ins []*phonefleet.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	return out
}

// fmtTime formats a time for comparisons, "nil" for a nil pointer.
func fmtTime(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// fmtInstance renders every stored field of an instance.
func fmtInstance(in *phonefleet.Instance) string {
	return fmt.Sprintf("%s tenant=%s order=%s name=%s region=%s sku=%s spec=%q os=%s band=%d mode=%s period=%d paid=%d %s starts=%s expires=%s state=%s created=%s updated=%s user=%q command=%s/%s charge_ended=%s",
		in.ID, in.TenantID, in.OrderID, in.Name, in.RegionID, in.SKUID, in.SKUSpec, in.OS, in.BandSize,
		in.BillingMode, in.PeriodNum, in.PaidAmount, in.Currency, fmtTime(&in.StartsAt), fmtTime(in.ExpiresAt),
		in.State, fmtTime(&in.CreatedAt), fmtTime(&in.UpdatedAt), in.AssignUser, in.Command, in.CommandID, fmtTime(in.ChargeEndedAt))
}

// fmtRefund renders every field of a refund.
func fmtRefund(r *phonefleet.Refund) string {
	return fmt.Sprintf("%s tenant=%s order=%s paid=%d consumed=%d fee=%d amount=%d %s request=%s created=%s",
		r.InstanceID, r.TenantID, r.OrderID, r.Paid, r.Consumed, r.Fee, r.Amount, r.Currency, r.RequestID, fmtTime(&r.CreatedAt))
}

// fmtJob renders every field of a command.
func fmtJob(j *phonefleet.Command) string {
	return fmt.Sprintf("%s %s job=%s tenant=%s/%s user=%q task=%q event=%s deliveries=%d reported=%v request=%s state=%s attempts=%d next=%s error=%q created=%s done=%s",
		j.InstanceID, j.Type, j.ID, j.TenantID, j.TenantName, j.UserID, j.TaskID, j.EventID, j.Deliveries, j.Reported, j.RequestID, j.State, j.Attempts,
		fmtTime(&j.NextAttemptAt), j.LastError, fmtTime(&j.CreatedAt), fmtTime(j.DoneAt))
}

// snapshot renders the instances of the tenants and every refund and
// release job, to prove that an operation changed nothing.
func snapshot(t *testing.T, s phonefleet.Store, tenantIDs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, id := range tenantIDs {
		for _, in := range mustFindInstances(t, s, id) {
			fmt.Fprintln(&b, "instance", fmtInstance(in))
		}
	}
	for _, r := range mustFindRefunds(t, s) {
		fmt.Fprintln(&b, "refund", fmtRefund(r))
	}
	for _, j := range mustFindJobs(t, s) {
		fmt.Fprintln(&b, "job", fmtJob(j))
	}
	return b.String()
}

// wantSnapshot fails if the store changed since before was taken.
func wantSnapshot(t *testing.T, s phonefleet.Store, before string, tenantIDs ...string) {
	t.Helper()
	if after := snapshot(t, s, tenantIDs...); after != before {
		t.Fatalf("store changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// wantIDs fails unless got equals want, order included.
func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s=%v, want %v", what, got, want)
	}
}

// jobOf returns the ID of the command in flight of an instance, else of
// its latest command.
func jobOf(t *testing.T, s phonefleet.Store, instanceID string) string {
	t.Helper()
	cs, err := s.FindCommands(t.Context(), phonefleet.CommandFilter{InstanceID: &instanceID})
	if err != nil {
		t.Fatalf("FindCommands(%s): %v", instanceID, err)
	} else if len(cs) == 0 {
		t.Fatalf("instance %s has no command", instanceID)
	}
	for _, c := range cs {
		if c.State.InFlight() {
			return c.ID
		}
	}
	return cs[len(cs)-1].ID
}
