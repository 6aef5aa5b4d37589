package postgres_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/phonefleet/phonefleet/sqlite"
)

// copyInstancesEnv asks for the long form of the copy test: that many
// instances (e.g. 300000), with the peak memory bound of the issue.
const copyInstancesEnv = "PHONEFLEET_TEST_COPY_INSTANCES"

// mustSeedSQLite writes a SQLite installation with one tenant and count
// monthly instances (orders of 1,500) through the streaming import, so the
// test itself stays small, and returns its path.
func mustSeedSQLite(t *testing.T, count int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.db")
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	imp, err := db.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Rollback()
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	tenant := &phonefleet.Tenant{ID: "tnbigcopy01", Name: "big", CreatedAt: now, MaxInstances: count + 1}
	skus := phonefleet.DefaultSKUs()
	if err := imp.Write(ctx, &phonefleet.Snapshot{Tenants: []*phonefleet.Tenant{tenant}, SKUs: skus}); err != nil {
		t.Fatal(err)
	}
	var sku *phonefleet.SKU
	for _, s := range skus {
		if s.ID == "kp.pro.2u4g" {
			sku = s
		}
	}
	for left, n := count, 0; left > 0; n++ {
		k := min(left, 1500)
		req := &phonefleet.PurchaseRequest{
			TenantID: tenant.ID, RequestID: fmt.Sprintf("seed-%d", n), OS: "AOSP11", InstanceSKUID: sku.ID,
			BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4", NamePrefix: "big", BandSize: 2, Count: k,
			ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
		}
		o, ins, err := phonefleet.PlanPurchase(req, sku, now.Add(time.Duration(n)*time.Second), phonefleet.NewInstanceID)
		if err != nil {
			t.Fatal(err)
		}
		if err := imp.Write(ctx, &phonefleet.Snapshot{Orders: []*phonefleet.Order{o}, Instances: ins}); err != nil {
			t.Fatal(err)
		}
		left -= k
	}
	if err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCopy runs "bin copy --from src --to dst" and returns its peak resident
// memory in bytes (from the child's rusage) and its output.
func runCopy(t *testing.T, bin, src, dst string) (int64, string) {
	t.Helper()
	cmd := exec.Command(bin, "copy", "--from", src, "--to", dst)
	cmd.Env = append(os.Environ(), "PHONEFLEET_DB=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return ru.Maxrss * 1024, string(out) // Linux reports kilobytes
}

// storeDigest hashes every instance and order of a store (times to the
// microsecond, as PostgreSQL keeps them) and counts every table, streaming.
func storeDigest(t *testing.T, s phonefleet.SnapshotStreamer) string {
	t.Helper()
	h := sha256.New()
	var counts [10]int
	err := s.ExportBatches(context.Background(), func(b *phonefleet.Snapshot) error {
		for _, in := range b.Instances {
			fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s|%d|%s|%d|%d|%s|%s|%s|%s\n", in.ID, in.TenantID, in.OrderID, in.Name, in.RegionID,
				in.SKUID, in.BandSize, in.BillingMode, in.PeriodNum, in.PaidAmount, in.Currency,
				micro(in.StartsAt), micro(in.CreatedAt), in.State)
		}
		for _, o := range b.Orders {
			fmt.Fprintf(h, "%s|%s|%d|%d|%d|%s|%s|%s\n", o.ID, o.TenantID, o.Count, o.UnitPrice, o.Total, o.RequestID, o.RequestDigest, micro(o.CreatedAt))
		}
		for i, c := range []int{len(b.Tenants), len(b.Users), len(b.AccessKeys), len(b.Tokens), len(b.SKUs), len(b.Orders),
			len(b.Instances), len(b.Refunds), len(b.Commands), len(b.AuditEvents)} {
			counts[i] += c
		}
		if r := b.Rows(); r > phonefleet.SnapshotBatchRows {
			t.Errorf("a batch of %d rows, want at most %d", r, phonefleet.SnapshotBatchRows)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return fmt.Sprintf("%x counts=%v", sumOf(h), counts)
}

func micro(tm time.Time) string { return tm.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano) }

func sumOf(h hash.Hash) []byte { return h.Sum(nil) }

// mustOpenSQLite opens the SQLite file at path for reading.
func mustOpenSQLite(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// copy streams: its peak memory does not grow with the installation. The
// CI form copies 2,000 and then 40,000 instances from SQLite into
// PostgreSQL: the larger copy's peak RSS may exceed the smaller one's by
// at most 20 MB (holding the 38,000 extra instances in memory, as the copy
// did before, costs about 60 MB). With PHONEFLEET_TEST_COPY_INSTANCES=300000
// the long form also copies that many and checks a peak under 150 MB. Each
// copy's target has the same contents as its source afterwards.
func TestCopy_StreamsInBoundedMemory(t *testing.T) {
	adminURL := MustTestURL(t)
	bin := testingutil.MustBuildBinary(t)
	copyOnce := func(count int) int64 {
		src := mustSeedSQLite(t, count)
		dst := MustCreateDatabase(t, adminURL)
		testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dst)
		start := time.Now()
		peak, out := runCopy(t, bin, src, dst)
		t.Logf("copy of %d instances: peak RSS %.1f MB in %s; %s", count, float64(peak)/(1<<20),
			time.Since(start).Round(time.Millisecond), strings.TrimSpace(lastLine(out)))
		if got, want := storeDigest(t, MustOpenDBAt(t, dst, nil)), storeDigest(t, mustOpenSQLite(t, src)); got != want {
			t.Fatalf("after copy of %d instances: target %s, source %s", count, got, want)
		}
		return peak
	}
	small, large := copyOnce(2000), copyOnce(40000)
	if grew := large - small; grew > 20<<20 {
		t.Fatalf("peak RSS grew by %.1f MB from 2,000 to 40,000 instances, want at most 20 MB (streaming)", float64(grew)/(1<<20))
	}
	if s := os.Getenv(copyInstancesEnv); s != "" {
		count, err := strconv.Atoi(s)
		if err != nil || count < 1 {
			t.Fatalf("%s=%q: want a number of instances", copyInstancesEnv, s)
		}
		if peak := copyOnce(count); peak > 150<<20 {
			t.Fatalf("peak RSS of a copy of %d instances: %.1f MB, want under 150 MB", count, float64(peak)/(1<<20))
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// A copy killed half-way (SIGKILL once it reported progress) leaves the
// target as it was: no tenant, no instance. A second copy then lands whole.
func TestCopy_KilledLeavesTargetUntouched(t *testing.T) {
	adminURL := MustTestURL(t)
	bin := testingutil.MustBuildBinary(t)
	src := mustSeedSQLite(t, 30000)
	dst := MustCreateDatabase(t, adminURL)
	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dst)

	cmd := exec.Command(bin, "copy", "--from", src, "--to", dst)
	cmd.Env = append(os.Environ(), "PHONEFLEET_DB=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	progressed := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "copying:") {
			progressed = true
			break
		}
	}
	cmd.Process.Kill()
	go io.Copy(io.Discard, stderr)
	cmd.Wait()
	if !progressed {
		t.Fatal("copy ended without reporting progress: it was not killed half-way")
	}

	for _, table := range []string{"tenants", "orders", "instances", "audit_events"} {
		rows := mustQuery(t, dst, `SELECT COUNT(*)::text, '' FROM `+table)
		if rows[0][0] != "0" {
			t.Fatalf("after a killed copy, %s has %s rows, want 0", table, rows[0][0])
		}
	}
	peak, _ := runCopy(t, bin, src, dst)
	if got, want := storeDigest(t, MustOpenDBAt(t, dst, nil)), storeDigest(t, mustOpenSQLite(t, src)); got != want {
		t.Fatalf("copy after a killed one: target %s, source %s", got, want)
	}
	t.Logf("killed copy left the target empty; the next one landed whole (peak RSS %.1f MB)", float64(peak)/(1<<20))
}
