package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet/sqlite"
	_ "modernc.org/sqlite"
)

// mustBackup makes a store with a tenant and returns a backup of it.
func mustBackup(t *testing.T) (db, bak string) {
	t.Helper()
	dir := t.TempDir()
	db, bak = filepath.Join(dir, "live.db"), filepath.Join(dir, "backup.db")
	if _, errOut, code := runCLI(t, "tenant", "create", "acme", "--db", db); code != 0 {
		t.Fatalf("tenant create: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "backup", "--db", db, "--to", bak); code != 0 {
		t.Fatalf("backup: %s", errOut)
	}
	return db, bak
}

// mustExecFile runs sql on the SQLite file at path.
func mustExecFile(t *testing.T, path, q string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestRestore checks what restore puts back and what it refuses; a
// refused restore leaves the target as it was.
func TestRestore(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db, bak := mustBackup(t)
		// The target exists (with a write-ahead log of its own): --force
		// replaces it, and the old log goes.
		if _, errOut, code := runCLI(t, "tenant", "create", "globex", "--db", db); code != 0 {
			t.Fatal(errOut)
		}
		if _, errOut, code := runCLI(t, "restore", "--from", bak, "--db", db); code != 1 || !strings.Contains(errOut, "--force") {
			t.Fatalf("restore over an existing store without --force: exit %d %q", code, errOut)
		}
		if out, errOut, code := runCLI(t, "restore", "--from", bak, "--db", db, "--force"); code != 0 || !strings.Contains(out, "restored") {
			t.Fatalf("restore --force: exit %d %q %q", code, out, errOut)
		}
		out, _, _ := runCLI(t, "tenant", "list", "--db", db)
		if !strings.Contains(out, `"acme"`) || strings.Contains(out, `"globex"`) {
			t.Fatalf("tenants after the restore: %s, want acme only (the backup's)", out)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(db), ".*restore-*")); len(left) > 0 {
			t.Fatalf("restore left temporary files: %v", left)
		}
	})

	t.Run("ErrInUse", func(t *testing.T) {
		db, bak := mustBackup(t)
		open := sqlite.NewDB(db)
		if err := open.Open(); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := runCLI(t, "restore", "--from", bak, "--db", db, "--force")
		open.Close()
		if code != 1 || !strings.Contains(errOut, "in use") {
			t.Fatalf("restore over an open store: exit %d %q", code, errOut)
		}
		// Once closed, the same restore runs.
		if _, errOut, code := runCLI(t, "restore", "--from", bak, "--db", db, "--force"); code != 0 {
			t.Fatalf("restore after close: %s", errOut)
		}
	})

	t.Run("ErrOpenWhileRestoring", func(t *testing.T) {
		db, _ := mustBackup(t)
		unlock, err := sqlite.LockExclusive(db)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if _, errOut, code := runCLI(t, "tenant", "list", "--db", db); code != 1 || !strings.Contains(errOut, "being restored") {
			t.Fatalf("tenant list on a store being restored: exit %d %q", code, errOut)
		}
	})

	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, bak string)
		want   string
	}{
		{"ErrNewerSchema", func(t *testing.T, bak string) {
			mustExecFile(t, bak, `INSERT INTO migrations (name, applied_at) VALUES ('migration/9999_future.sql', '2030-01-01T00:00:00.000000000Z')`)
		}, "migration/9999_future.sql"},
		{"ErrNotPhonefleet", func(t *testing.T, bak string) {
			mustExecFile(t, bak, `DROP TABLE migrations`)
		}, "not a phonefleet database"},
		{"ErrCorrupt", func(t *testing.T, bak string) {
			buf, err := os.ReadFile(bak)
			if err != nil {
				t.Fatal(err)
			}
			for i := 4096; i < len(buf); i++ {
				buf[i] ^= 0x5a
			}
			if err := os.WriteFile(bak, buf, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "database"},
		{"ErrInconsistent", func(t *testing.T, bak string) {
			mustExecFile(t, bak, `UPDATE tenants SET held_instances = 7`)
		}, "counts 7 held instances"},
		{"ErrMissing", func(t *testing.T, bak string) {
			os.Remove(bak)
		}, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, bak := mustBackup(t)
			tc.break_(t, bak)
			before, _, _ := runCLI(t, "tenant", "list", "--db", db)
			_, errOut, code := runCLI(t, "restore", "--from", bak, "--db", db, "--force")
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("restore: exit %d %q, want an error containing %q", code, errOut, tc.want)
			}
			if after, _, _ := runCLI(t, "tenant", "list", "--db", db); after != before || before == "" {
				t.Fatalf("a refused restore changed the store: %q, then %q", before, after)
			}
		})
	}

	t.Run("ErrPostgres", func(t *testing.T) {
		for _, args := range [][]string{
			{"backup", "--db", "postgres://x@127.0.0.1/db", "--to", "x.db"},
			{"restore", "--from", "x.db", "--db", "postgres://x@127.0.0.1/db"},
		} {
			if _, errOut, code := runCLI(t, args...); code != 2 || !strings.Contains(errOut, "pg_") {
				t.Fatalf("%v: exit %d %q, want 2 pointing at pg_dump/pg_restore", args, code, errOut)
			}
		}
	})
}

// TestMigrateStatus lists the migrations of a new store (none applied), a
// migrated one (all applied) and one a newer version ran on (exit 1,
// naming it), changing nothing.
func TestMigrateStatus(t *testing.T) {
	db := filepath.Join(t.TempDir(), "m.db")
	if _, errOut, code := runCLI(t, "migrate", "--status", "--db", db); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("status of a missing store: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("migrate --status created the store")
	}
	if _, errOut, code := runCLI(t, "migrate", "--db", db); code != 0 {
		t.Fatal(errOut)
	}
	parse := func(out string) map[string][2]bool {
		got := map[string][2]bool{}
		for line := range strings.Lines(out) {
			var m struct {
				Name           string
				Known, Applied bool
				AppliedAt      *string `json:"applied_at"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%q: %v", line, err)
			} else if m.Applied != (m.AppliedAt != nil) {
				t.Fatalf("%q: applied_at present iff applied", line)
			}
			got[m.Name] = [2]bool{m.Known, m.Applied}
		}
		return got
	}
	out, errOut, code := runCLI(t, "migrate", "--status", "--db", db)
	got := parse(out)
	if code != 0 || len(got) != len(sqlite.Migrations()) {
		t.Fatalf("status: exit %d %q %q, want every migration", code, out, errOut)
	}
	for _, name := range sqlite.Migrations() {
		if got[name] != [2]bool{true, true} {
			t.Fatalf("%s: known, applied = %v, want both", name, got[name])
		}
	}

	mustExecFile(t, db, `INSERT INTO migrations (name, applied_at) VALUES ('migration/9999_future.sql', '2030-01-01T00:00:00.000000000Z')`)
	out, errOut, code = runCLI(t, "migrate", "--status", "--db", db)
	if got := parse(out); code != 1 || got["migration/9999_future.sql"] != [2]bool{false, true} || !strings.Contains(errOut, "9999_future") {
		t.Fatalf("status with a newer migration: exit %d %q %q", code, out, errOut)
	}
}

// TestRestore_Symlink: a server that opened the database through a
// symbolic link holds the same lock as a restore naming the file itself,
// and a restore through the link replaces the file, keeping the link.
func TestRestore_Symlink(t *testing.T) {
	db, bak := mustBackup(t)
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(db, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	open := sqlite.NewDB(link)
	if err := open.Open(); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "restore", "--from", bak, "--db", db, "--force")
	open.Close()
	if code != 1 || !strings.Contains(errOut, "in use") {
		t.Fatalf("restore of a file open through a link: exit %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "restore", "--from", bak, "--db", link, "--force"); code != 0 {
		t.Fatalf("restore through the link: %s", errOut)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", fi, err)
	}
	if out, _, code := runCLI(t, "tenant", "list", "--db", link); code != 0 || !strings.Contains(out, `"acme"`) {
		t.Fatalf("tenant list through the link after the restore: %d %q", code, out)
	}
}
