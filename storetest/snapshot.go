package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// RunSnapshot checks phonefleet.SnapshotService: a store that from opens,
// filled with every kind of row, is exported and imported into a fresh store
// that to opens, and then every Find* answers the same in both. from and to
// may open different backends; both stores must implement SnapshotService.
func RunSnapshot(t *testing.T, from, to Opener) {
	t.Run("Copy", func(t *testing.T) {
		src, clk := mustOpen(t, from)
		fillStore(t, src, clk)
		snap := mustExport(t, src)
		wantSnapshotRows(t, snap)

		dst := to(t, clk.Now) // the copy's clock is the source's
		before := fmtSnapshot(snap, true)
		if err := snapshotService(t, dst).Import(t.Context(), snap); err != nil {
			t.Fatalf("Import: %v", err)
		}
		if after := fmtSnapshot(snap, true); after != before {
			t.Fatalf("Import modified the snapshot:\nbefore:\n%s\nafter:\n%s", before, after)
		}

		// Every query answers the same, and the copy exports the same rows
		// (audit events with new IDs, in the same order).
		want := dumpStore(t, src)
		if got := dumpStore(t, dst); got != want {
			t.Fatalf("copy differs:\n got:\n%s\nwant:\n%s", got, want)
		}
		if got, want := fmtSnapshot(mustExport(t, dst), false), fmtSnapshot(snap, false); got != want {
			t.Fatalf("export of the copy differs:\n got:\n%s\nwant:\n%s", got, want)
		}

		// A second import finds tenants: EConflict, nothing changes.
		err := snapshotService(t, dst).Import(t.Context(), snap)
		wantCode(t, err, phonefleet.EConflict)
		if got := dumpStore(t, dst); got != want {
			t.Fatalf("failed Import changed the store:\n got:\n%s\nwant:\n%s", got, want)
		}

		// Leases are not copied: the jobs leased in the source until an
		// hour from now are claimable at once in the copy.
		if got := mustClaim(t, src, "w2", 100, time.Minute); len(got) != 0 {
			t.Fatalf("source claimed %v, want none (leased or not due)", got)
		}
		leased := mustClaim(t, dst, "w2", 100, time.Minute)
		if len(leased) != 5 {
			t.Fatalf("copy claimed %v, want the 5 jobs leased in the source", leased)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		src, clk := mustOpen(t, from)
		fillStore(t, src, clk)
		snap := mustExport(t, src)

		// A store with one tenant and nothing else still refuses.
		dst, _ := mustOpen(t, to)
		mustCreateTenant(t, dst, "other")
		before := dumpStore(t, dst)
		wantCode(t, snapshotService(t, dst).Import(t.Context(), snap), phonefleet.EConflict)
		if after := dumpStore(t, dst); after != before {
			t.Fatalf("failed Import changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		src, _ := mustOpen(t, from)
		snap := mustExport(t, src)
		if len(snap.Tenants)+len(snap.Tokens)+len(snap.Orders)+len(snap.Instances)+len(snap.Refunds)+
			len(snap.Commands)+len(snap.AuditEvents) != 0 {
			t.Fatalf("export of a new store has rows:\n%s", fmtSnapshot(snap, true))
		} else if len(snap.SKUs) != len(phonefleet.DefaultSKUs()) {
			t.Fatalf("export of a new store has %d SKUs, want the %d defaults", len(snap.SKUs), len(phonefleet.DefaultSKUs()))
		}
		dst, _ := mustOpen(t, to)
		if err := snapshotService(t, dst).Import(t.Context(), snap); err != nil {
			t.Fatalf("Import: %v", err)
		}
		if got, want := dumpStore(t, dst), dumpStore(t, src); got != want {
			t.Fatalf("copy differs:\n got:\n%s\nwant:\n%s", got, want)
		}
	})
}

// snapshotService returns s as a SnapshotService.
func snapshotService(t *testing.T, s phonefleet.Store) phonefleet.SnapshotService {
	t.Helper()
	ss, ok := s.(phonefleet.SnapshotService)
	if !ok {
		t.Fatalf("%T does not implement phonefleet.SnapshotService", s)
	}
	return ss
}

// mustExport exports s.
func mustExport(t *testing.T, s phonefleet.Store) *phonefleet.Snapshot {
	t.Helper()
	snap, err := snapshotService(t, s).Export(t.Context())
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return snap
}

// fillStore writes every kind of row: three tenants (one without rows),
// tokens (one revoked), a custom SKU, orders of the three billing modes,
// unsubscribed instances with refunds, release jobs done, failed, pending
// after a failed attempt and pending under a lease that ends an hour after
// the last write, and audit events of successes and failures (one without
// a tenant).
func fillStore(t *testing.T, s phonefleet.Store, clk *clock) {
	t.Helper()
	ctx := t.Context()
	acme := mustCreateTenant(t, s, "acme")
	clk.Add(time.Second)
	globex := mustCreateTenant(t, s, "globex")
	clk.Add(time.Second)
	mustCreateTenant(t, s, "initech")

	mustCreateToken(t, s, acme.ID, "ci", clk.Now())
	clk.Add(time.Second)
	viewer, _ := newToken(acme.ID, "viewer", clk.Now(), time.Hour)
	viewer.Actions, _ = phonefleet.RoleActions(phonefleet.RoleViewer)
	if err := s.CreateToken(ctx, viewer); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	clk.Add(time.Second)
	if err := s.RevokeToken(ctx, viewer.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	mustCreateToken(t, s, globex.ID, "", clk.Now())
	alice := mustCreateUser(t, s, acme.ID, "alice", phonefleet.RoleAdmin)
	clk.Add(time.Second)
	if _, err := s.UpdateUser(ctx, mustCreateUser(t, s, acme.ID, "bob", phonefleet.RoleViewer).ID, phonefleet.UserUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	mustCreateAccessKey(t, s, alice)
	aliceToken, _ := newToken(acme.ID, "iam", clk.Now(), time.Hour)
	aliceToken.UserID = alice.ID
	if err := s.CreateToken(ctx, aliceToken); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}

	sku := newSKU("kp.test.1u2g")
	if err := s.CreateSKU(ctx, sku); err != nil {
		t.Fatalf("CreateSKU: %v", err)
	}

	monthlyReq := monthlyRequest(acme.ID, 4)
	monthlyReq.UserName = "alice"
	monthly := mustPurchase(t, s, monthlyReq)
	clk.Add(time.Minute)
	yearlyReq := monthlyRequest(acme.ID, 2)
	yearlyReq.PeriodType, yearlyReq.PeriodNum, yearlyReq.NamePrefix, yearlyReq.AutoRenew = phonefleet.PeriodTypeYear, 1, "year", true
	yearlyReq.RequestID = "req-yearly" // its order keeps the request's digest
	yearly := mustPurchase(t, s, yearlyReq)
	clk.Add(time.Minute)
	ppu := mustPurchase(t, s, payPerUseRequest(globex.ID, 2))
	customReq := monthlyRequest(globex.ID, 1)
	customReq.InstanceSKUID, customReq.RegionID, customReq.BandSize, customReq.NamePrefix = sku.ID, "eu-west-1", 5, "custom"
	custom := mustPurchase(t, s, customReq)

	// Past the full-refund window: refunds are prorated with a fee.
	clk.Add(10*24*time.Hour + 30*time.Minute)
	mustUnsubscribe(t, s, acme.ID, ids(monthly[:3])...)
	clk.Add(time.Second)
	mustUnsubscribe(t, s, acme.ID, yearly[0].ID)
	mustUnsubscribe(t, s, globex.ID, custom[0].ID)
	mustDeletePayPerUse(t, s, globex.ID, ppu[0].ID) // its charge's end is copied
	if _, err := s.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{
		TenantID: acme.ID, RequestID: "req-dry", InstanceIDs: []string{yearly[1].ID}, DryRun: true,
	}); err != nil {
		t.Fatalf("dry-run Unsubscribe: %v", err)
	}

	// Failures, audited as the HTTP layer audits them.
	auditFailure := func(action string, tenantID, requestID string, ids []string, err error) {
		t.Helper()
		p := &phonefleet.Principal{TenantID: tenantID, TokenID: "tk-test"}
		if err := s.CreateAuditEvent(ctx, phonefleet.FailureAuditEvent(action, p, requestID, ids, err, clk.Now())); err != nil {
			t.Fatalf("CreateAuditEvent: %v", err)
		}
	}
	_, err := s.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: globex.ID, RequestID: "req-ppu", InstanceIDs: []string{ppu[0].ID}})
	wantCode(t, err, phonefleet.EPayPerUse)
	auditFailure(phonefleet.ActionInstanceDelete, globex.ID, "req-ppu", []string{ppu[0].ID}, err)
	_, err = s.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: acme.ID, RequestID: "req-foreign", InstanceIDs: []string{custom[0].ID}})
	wantCode(t, err, phonefleet.ENotOwned)
	auditFailure(phonefleet.ActionInstanceDelete, acme.ID, "req-foreign", []string{custom[0].ID}, err)
	badReq := monthlyRequest(acme.ID, 1)
	badReq.InstanceSKUID, badReq.RequestID = "kp.none", "req-badsku"
	_, _, err = s.Purchase(ctx, badReq)
	wantCode(t, err, phonefleet.ESKUNotFound)
	auditFailure(phonefleet.ActionInstanceCreate, acme.ID, "req-badsku", nil, err)
	if err := s.CreateAuditEvent(ctx, &phonefleet.AuditEvent{
		Action: phonefleet.ActionInstanceDelete, RequestID: "req-anon", ClientAddr: "2001:db8::7", ErrorCode: phonefleet.EUnauthorized, Detail: "unknown token",
	}); err != nil {
		t.Fatalf("CreateAuditEvent: %v", err)
	}
	// A refused preview by a named token: actor and dry run are copied too.
	if err := s.CreateAuditEvent(ctx, &phonefleet.AuditEvent{
		TenantID: acme.ID, TokenID: "tk-test", Actor: "ci-token", DryRun: true, Action: phonefleet.ActionInstanceDelete, RequestID: "req-preview",
		InstanceIDs: []string{custom[0].ID}, ErrorCode: phonefleet.ENotOwned, Detail: "not owned",
	}); err != nil {
		t.Fatalf("CreateAuditEvent: %v", err)
	}

	// Lifecycle, before any lease (moving the clock a month ends leases): a
	// tenant with its own periods, and instances that expired (initech's
	// new phone and acme's last running monthly one).
	day := 24 * time.Hour
	if _, err := s.UpdateTenantPeriods(ctx, "initech", phonefleet.TenantPeriodsUpdate{Grace: &day}); err != nil {
		t.Fatalf("UpdateTenantPeriods: %v", err)
	}
	initech, err := s.FindTenantByName(ctx, "initech")
	if err != nil {
		t.Fatal(err)
	}
	lapsing := mustPurchase(t, s, monthlyRequest(initech.ID, 1))[0]
	clk.Set(*lapsing.ExpiresAt)
	// Long default periods: acme's phone, ten days past its expiry, only
	// expires.
	if done, err := s.SweepLifecycle(ctx, phonefleet.LifecyclePeriods{Grace: 30 * day, Retention: 30 * day}, 100); err != nil || len(done) != 2 {
		t.Fatalf("SweepLifecycle=%v, %v; want 2 expiries", done, err)
	}

	// Release jobs in every state.
	if got := mustClaim(t, s, "w1", 100, time.Hour); len(got) != 6 {
		t.Fatalf("claimed %v, want 6 jobs", got)
	}
	clk.Add(time.Second)
	if err := s.CompleteCommand(ctx, jobOf(t, s, monthly[0].ID), "w1"); err != nil {
		t.Fatalf("CompleteCommand: %v", err)
	}
	mustFail(t, s, monthly[1].ID, "w1", "receiver said 500", clk.Now().Add(time.Hour), true)
	mustFail(t, s, monthly[2].ID, "w1", "timeout", clk.Now().Add(10*time.Minute), false)

	// Bindings and commands of every other type, one of them accepted.
	mustAssign(t, s, acme.ID, "alice@example.com", yearly[1].ID)
	mustAssign(t, s, acme.ID, "bob", monthly[3].ID)
	mustUnassign(t, s, acme.ID, "bob", monthly[3].ID)
	mustStart(t, s, acme.ID, phonefleet.CommandReset, yearly[1].ID)
	reboot := mustStart(t, s, globex.ID, phonefleet.CommandReboot, ppu[1].ID)
	if got := mustClaim(t, s, "w2", 100, time.Hour); len(got) != 3 {
		t.Fatalf("claimed %v, want the wipe, the reset and the reboot", got)
	}
	if err := s.AcceptCommand(ctx, reboot.Commands[0].ID, "w2", clk.Now().Add(30*time.Minute)); err != nil {
		t.Fatalf("AcceptCommand: %v", err)
	}

}

// wantSnapshotRows fails unless snap holds what fillStore wrote.
func wantSnapshotRows(t *testing.T, snap *phonefleet.Snapshot) {
	t.Helper()
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"tenants", len(snap.Tenants), 3},
		{"users", len(snap.Users), 2},
		{"access keys", len(snap.AccessKeys), 1},
		{"tokens", len(snap.Tokens), 4},
		{"skus", len(snap.SKUs), len(phonefleet.DefaultSKUs()) + 1},
		{"orders", len(snap.Orders), 5},
		{"instances", len(snap.Instances), 10},
		{"refunds", len(snap.Refunds), 5},
		{"commands", len(snap.Commands), 9},
		// 5 purchases, 4 unsubscribes, 1 pay-per-use deletion, 3 failures, 1 anonymous, 1 refused preview, 2 assigns, 1 unassign, 1 reset, 1 reboot, 2 expiries
		{"audit events", len(snap.AuditEvents), 22},
	} {
		if c.got != c.want {
			t.Fatalf("snapshot %s=%d, want %d:\n%s", c.what, c.got, c.want, fmtSnapshot(snap, true))
		}
	}
	revoked := 0
	for _, tk := range snap.Tokens {
		if len(tk.Hash) == 0 {
			t.Fatalf("token %s exported without its hash", tk.ID)
		} else if tk.RevokedAt != nil {
			revoked++
		}
	}
	if revoked != 1 {
		t.Fatalf("revoked tokens=%d, want 1", revoked)
	}
	states := map[phonefleet.JobState]int{}
	for _, j := range snap.Commands {
		states[j.State]++
	}
	if states[phonefleet.JobStateDone] != 1 || states[phonefleet.JobStateFailed] != 1 || states[phonefleet.JobStatePending] != 6 ||
		states[phonefleet.JobStateAccepted] != 1 {
		t.Fatalf("job states=%v, want 1 done, 1 failed, 6 pending, 1 accepted", states)
	}
	users := 0
	for _, in := range snap.Instances {
		if in.AssignUser != "" {
			users++
		}
	}
	if users != 1 {
		t.Fatalf("assigned instances=%d, want 1", users)
	}
	for i := 1; i < len(snap.AuditEvents); i++ {
		if snap.AuditEvents[i].ID <= snap.AuditEvents[i-1].ID {
			t.Fatalf("audit events not oldest first: ID %d after %d", snap.AuditEvents[i].ID, snap.AuditEvents[i-1].ID)
		}
	}
	if e := snap.AuditEvents[0]; e.Action != phonefleet.ActionInstanceCreate || e.TenantID == "" || e.TokenID != "tk-test" || e.UserName != "alice" {
		t.Fatalf("first audit event=%+v, want the first purchase with tenant, token and user", e)
	}
	for _, u := range snap.Users {
		if u.PasswordHash == "" || u.TenantID == "" {
			t.Fatalf("user %+v exported without its hash or tenant", u)
		}
	}
	if k := snap.AccessKeys[0]; k.Secret == "" || k.UserID == "" {
		t.Fatalf("access key %+v exported without its secret or user", k)
	}
}

// dumpStore renders the answer of every Find* query of s, for every tenant,
// token, state and filter that fillStore uses.
func dumpStore(t *testing.T, s phonefleet.Store) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	tenants, err := s.FindTenants(ctx)
	check(err)
	for _, tn := range tenants {
		fmt.Fprintln(&b, "FindTenants", fmtTenant(tn))
	}
	skus, err := s.FindSKUs(ctx)
	check(err)
	for _, k := range skus {
		fmt.Fprintln(&b, "FindSKUs", fmtSKU(k))
	}
	tokens, err := s.FindTokens(ctx, phonefleet.TokenFilter{})
	check(err)
	for _, tk := range tokens {
		fmt.Fprintln(&b, "FindTokens", fmtToken(tk))
		got, err := s.FindTokenByHash(ctx, tk.Hash)
		check(err)
		fmt.Fprintln(&b, "FindTokenByHash", fmtToken(got))
	}
	users, err := s.FindUsers(ctx, phonefleet.UserFilter{})
	check(err)
	for _, u := range users {
		fmt.Fprintln(&b, "FindUsers", fmtUser(u))
	}
	keys, err := s.FindAccessKeys(ctx, phonefleet.AccessKeyFilter{})
	check(err)
	for _, k := range keys {
		fmt.Fprintln(&b, "FindAccessKeys", fmtAccessKey(k))
	}
	var allIDs []string
	for _, tn := range tenants {
		for _, in := range mustFindInstances(t, s, tn.ID) {
			allIDs = append(allIDs, in.ID)
		}
	}
	allIDs = append(allIDs, "nosuchid")
	for _, tn := range tenants {
		got, err := s.FindTenantByName(ctx, tn.Name)
		check(err)
		fmt.Fprintln(&b, "FindTenantByName", fmtTenant(got))
		tokens, err := s.FindTokens(ctx, phonefleet.TokenFilter{TenantID: &tn.ID})
		check(err)
		fmt.Fprintln(&b, "FindTokens", tn.Name, tokenIDs(tokens))
		for _, f := range []phonefleet.InstanceFilter{
			{TenantID: tn.ID, IncludeReleased: true, Limit: allInstances},
			{TenantID: tn.ID, Limit: 2, Offset: 1},
		} {
			ins, total, err := s.FindInstances(ctx, f)
			check(err)
			fmt.Fprintln(&b, "FindInstances", tn.Name, f.IncludeReleased, f.Limit, f.Offset, "total", total)
			for _, in := range ins {
				fmt.Fprintln(&b, "\t", fmtInstance(in))
			}
		}
		states, err := s.FindInstanceStatuses(ctx, tn.ID, allIDs)
		check(err)
		for _, id := range allIDs {
			if st, ok := states[id]; ok {
				fmt.Fprintln(&b, "FindInstanceStatuses", tn.Name, id, st)
			}
		}
		refunds, err := s.FindRefunds(ctx, phonefleet.RefundFilter{TenantID: &tn.ID})
		check(err)
		for _, r := range refunds {
			fmt.Fprintln(&b, "FindRefunds", tn.Name, fmtRefund(r))
		}
		jobs, err := s.FindCommands(ctx, phonefleet.CommandFilter{TenantID: &tn.ID})
		check(err)
		fmt.Fprintln(&b, "FindCommands", tn.Name, jobIDs(jobs))
		events, err := s.FindAuditEvents(ctx, phonefleet.AuditFilter{TenantID: &tn.ID})
		check(err)
		for _, e := range events {
			fmt.Fprintln(&b, "FindAuditEvents", tn.Name, fmtAudit(e, false))
		}
	}
	for _, r := range mustFindRefunds(t, s) {
		fmt.Fprintln(&b, "FindRefunds", fmtRefund(r))
	}
	for _, st := range []*phonefleet.JobState{nil, ptr(phonefleet.JobStatePending), ptr(phonefleet.JobStateAccepted),
		ptr(phonefleet.JobStateDone), ptr(phonefleet.JobStateFailed)} {
		jobs, err := s.FindCommands(ctx, phonefleet.CommandFilter{State: st})
		check(err)
		for _, j := range jobs {
			fmt.Fprintln(&b, "FindCommands", fmtJob(j))
		}
	}
	for _, limit := range []int{0, 3} {
		events, err := s.FindAuditEvents(ctx, phonefleet.AuditFilter{Limit: limit})
		check(err)
		for _, e := range events {
			fmt.Fprintln(&b, "FindAuditEvents", limit, fmtAudit(e, false))
		}
	}
	return b.String()
}

// fmtSnapshot renders every row of snap, audit event IDs only if withIDs.
func fmtSnapshot(snap *phonefleet.Snapshot, withIDs bool) string {
	var b strings.Builder
	for _, tn := range snap.Tenants {
		fmt.Fprintln(&b, "tenant", fmtTenant(tn))
	}
	for _, u := range snap.Users {
		fmt.Fprintln(&b, "user", fmtUser(u))
	}
	for _, k := range snap.AccessKeys {
		fmt.Fprintln(&b, "access key", fmtAccessKey(k))
	}
	for _, tk := range snap.Tokens {
		fmt.Fprintln(&b, "token", fmtToken(tk))
	}
	for _, k := range snap.SKUs {
		fmt.Fprintln(&b, "sku", fmtSKU(k))
	}
	for _, o := range snap.Orders {
		fmt.Fprintln(&b, "order", fmtOrder(o))
	}
	for _, in := range snap.Instances {
		fmt.Fprintln(&b, "instance", fmtInstance(in))
	}
	for _, r := range snap.Refunds {
		fmt.Fprintln(&b, "refund", fmtRefund(r))
	}
	for _, j := range snap.Commands {
		fmt.Fprintln(&b, "job", fmtJob(j))
	}
	for _, e := range snap.AuditEvents {
		fmt.Fprintln(&b, "audit", fmtAudit(e, withIDs))
	}
	return b.String()
}

func fmtTenant(tn *phonefleet.Tenant) string {
	return fmt.Sprintf("%s name=%s created=%s grace=%s retention=%s", tn.ID, tn.Name, fmtTime(&tn.CreatedAt),
		fmtPeriod(tn.GracePeriod), fmtPeriod(tn.RetentionPeriod))
}

func fmtPeriod(p *phonefleet.Period) string {
	if p == nil {
		return "default"
	}
	return time.Duration(*p).String()
}

func fmtToken(tk *phonefleet.Token) string {
	return fmt.Sprintf("%s tenant=%s/%s user=%s/%s name=%q actions=%v hash=%x created=%s expires=%s revoked=%s",
		tk.ID, tk.TenantID, tk.TenantName, tk.UserID, tk.UserName, tk.Name, tk.Actions, tk.Hash,
		fmtTime(&tk.CreatedAt), fmtTime(&tk.ExpiresAt), fmtTime(tk.RevokedAt))
}

func fmtUser(u *phonefleet.User) string {
	return fmt.Sprintf("%s tenant=%s/%s name=%s role=%s hash=%s disabled=%t created=%s updated=%s",
		u.ID, u.TenantID, u.TenantName, u.Name, u.Role, u.PasswordHash, u.Disabled, fmtTime(&u.CreatedAt), fmtTime(&u.UpdatedAt))
}

func fmtAccessKey(k *phonefleet.AccessKey) string {
	return fmt.Sprintf("%s tenant=%s/%s user=%s/%s/%s/%t secret=%s created=%s",
		k.ID, k.TenantID, k.TenantName, k.UserID, k.UserName, k.UserRole, k.UserDisabled, k.Secret, fmtTime(&k.CreatedAt))
}

func fmtSKU(k *phonefleet.SKU) string {
	return fmt.Sprintf("%s type=%s name=%q calc=%q storage=%q spec=%q res=%q bands=%v regions=%v prices=%d/%d/%d %s",
		k.ID, k.Type, k.Name, k.CalcSpec, k.StorageSpec, k.SpecDesc, k.MaxResolution, k.BandSizes,
		k.Regions, k.MonthPrice, k.YearPrice, k.HourPrice, k.Currency)
}

func fmtOrder(o *phonefleet.Order) string {
	return fmt.Sprintf("%s tenant=%s sku=%s region=%s os=%s band=%d mode=%s period=%d count=%d unit=%d total=%d %s autopay=%t autorenew=%t request=%s digest=%s created=%s",
		o.ID, o.TenantID, o.SKUID, o.RegionID, o.OS, o.BandSize, o.BillingMode, o.PeriodNum, o.Count,
		o.UnitPrice, o.Total, o.Currency, o.AutoPay, o.AutoRenew, o.RequestID, o.RequestDigest, fmtTime(&o.CreatedAt))
}

// fmtAudit renders an audit event, its ID only if withID: a copy has new
// IDs in the same order.
func fmtAudit(e *phonefleet.AuditEvent, withID bool) string {
	id := ""
	if withID {
		id = fmt.Sprintf("%d ", e.ID)
	}
	return fmt.Sprintf("%sat=%s tenant=%s/%s token=%s user=%s actor=%s addr=%s dry_run=%t action=%s request=%s ids=%v code=%s detail=%q",
		id, fmtTime(&e.At), e.TenantID, e.TenantName, e.TokenID, e.UserName, e.Actor, e.ClientAddr, e.DryRun, e.Action, e.RequestID, e.InstanceIDs, e.ErrorCode, e.Detail)
}
