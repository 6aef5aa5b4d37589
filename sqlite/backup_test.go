package sqlite

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// TestBackup copies an open store, with writes still in its log, into a
// file that opens on its own with every row; an existing target is
// refused without force and replaced with it.
func TestBackup(t *testing.T) {
	dir := t.TempDir()
	db := MustOpenDBPath(t, filepath.Join(dir, "live.db"), nil)
	if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(dir, "b.db")
	if err := Backup(t.Context(), db.Path, to, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(to); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v, want mode 0600", fi, err)
	}
	if err := CheckFile(t.Context(), to); err != nil {
		t.Fatalf("CheckFile(backup): %v", err)
	}
	if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "globex"}); err != nil {
		t.Fatal(err)
	}
	err := Backup(t.Context(), db.Path, to, false)
	if phonefleet.ErrorCode(err) != phonefleet.EConflict {
		t.Fatalf("backup over an existing file: %v, want a conflict", err)
	}
	b := MustOpenDBPath(t, to, nil)
	if ts, err := b.FindTenants(t.Context()); err != nil || len(ts) != 1 || ts[0].Name != "acme" {
		t.Fatalf("tenants in the backup=%v, %v, want acme", ts, err)
	}
	b.Close()
	if err := Backup(t.Context(), db.Path, to, true); err != nil {
		t.Fatal(err)
	}
	b = MustOpenDBPath(t, to, nil)
	if ts, err := b.FindTenants(t.Context()); err != nil || len(ts) != 2 {
		t.Fatalf("tenants in the forced backup=%v, %v, want 2", ts, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*backup-*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if err := Backup(t.Context(), filepath.Join(dir, "missing.db"), filepath.Join(dir, "c.db"), false); phonefleet.ErrorCode(err) != phonefleet.ENotFound {
		t.Fatalf("backup of a missing file: %v, want not found", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("backup created its missing source")
	}
}

// TestOpen_UnknownMigration opens a database a newer version migrated:
// it opens, and says so in its log.
func TestOpen_UnknownMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db := MustOpenDBPath(t, path, nil)
	if _, err := db.wdb.ExecContext(t.Context(), `INSERT INTO migrations (name, applied_at) VALUES ('migration/9999_future.sql', '2030-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var logs bytes.Buffer
	mustOpenDBWith(t, path, func(db *DB) { db.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if !strings.Contains(logs.String(), "migration/9999_future.sql") {
		t.Fatalf("logs=%q, want a warning naming the unknown migration", logs.String())
	}
}
