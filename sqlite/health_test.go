package sqlite

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// monthlyRequest is a purchase of count monthly instances for the tenant.
func monthlyRequest(tenantID string, count int) *phonefleet.PurchaseRequest {
	return &phonefleet.PurchaseRequest{
		TenantID: tenantID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
		RegionID: "cn-north-4", NamePrefix: "p", BandSize: 4, Count: count,
		ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	}
}

// TestHealth_FileDeleted: once the file at the path is deleted, no write is
// acknowledged (they would go to the unlinked file) and Ping fails; with
// and without group commit.
func TestHealth_FileDeleted(t *testing.T) {
	for _, group := range []bool{true, false} {
		t.Run(map[bool]string{true: "GroupCommit", false: "OneTxPerOp"}[group], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pf.db")
			db := mustOpenDBWith(t, path, func(db *DB) { db.GroupCommit = group })
			tn := &phonefleet.Tenant{Name: "acme"}
			if err := db.CreateTenant(t.Context(), tn); err != nil {
				t.Fatal(err)
			}
			if err := db.Ping(t.Context()); err != nil {
				t.Fatalf("Ping before: %v", err)
			}
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			if _, _, err := db.Purchase(t.Context(), monthlyRequest(tn.ID, 1)); !errors.Is(err, errFileLost) {
				t.Fatalf("Purchase after the file was deleted: %v, want errFileLost", err)
			}
			if err := db.Ping(t.Context()); !errors.Is(err, errFileLost) {
				t.Fatalf("Ping after the file was deleted: %v", err)
			}
			// A new file at the path is not the one opened either.
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "other"}); !errors.Is(err, errFileLost) {
				t.Fatalf("CreateTenant after the file was replaced: %v", err)
			}
		})
	}
}

// TestHealth_DiskFull: a write that fails with "database or disk is full"
// makes Ping fail until a write succeeds again. max_page_count makes
// SQLite answer SQLITE_FULL as a full disk would.
func TestHealth_DiskFull(t *testing.T) {
	db := MustOpenDB(t, time.Now)
	tn := &phonefleet.Tenant{Name: "acme"}
	if err := db.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.wdb.QueryRowContext(t.Context(), `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.wdb.ExecContext(t.Context(), `PRAGMA max_page_count = `+strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	big := monthlyRequest(tn.ID, 1)
	big.Count = phonefleet.MaxPurchaseCount
	if _, _, err := db.Purchase(t.Context(), big); err == nil {
		t.Fatal("Purchase succeeded past max_page_count")
	}
	if err := db.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Ping after a full-disk failure: %v", err)
	}
	if _, err := db.wdb.ExecContext(t.Context(), `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Purchase(t.Context(), monthlyRequest(tn.ID, 1)); err != nil {
		t.Fatal(err)
	}
	// A later success does not end it; the window does.
	if err := db.Ping(t.Context()); err == nil {
		t.Fatal("Ping passed within the window of a full-disk failure")
	}
	db.health.mu.Lock()
	db.health.failedAt = db.health.failedAt.Add(-diskFailureWindow)
	db.health.mu.Unlock()
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after the window: %v", err)
	}
}

// TestHealth_FreeSpace: less free space than MinFreeBytes fails Ping.
func TestHealth_FreeSpace(t *testing.T) {
	db := mustOpenDBWith(t, filepath.Join(t.TempDir(), "pf.db"), func(db *DB) { db.MinFreeBytes = math.MaxInt64 })
	if err := db.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "free") {
		t.Fatalf("Ping with MinFreeBytes beyond the disk: %v", err)
	}
	db.MinFreeBytes = -1
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with the check off: %v", err)
	}
}
