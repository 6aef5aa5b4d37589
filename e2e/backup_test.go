package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestBackupRestore drives the binary as an operator would: a backup of
// the file a running server writes, a restore over that file refused while
// the server (another process) holds it, and a restore into a new path
// that a second server then serves with the same tenant, token and
// instances as at the backup.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	db, bak, restored := filepath.Join(dir, "live.db"), filepath.Join(dir, "backup.db"), filepath.Join(dir, "restored.db")
	acme := MustTenant(t, db, "acme")
	n := MustServe(t, db, heldReleaseFlags(t)...)
	ids := MustBuy(t, n.URL, acme.Admin, buyBody(3, 1, 2, 1))
	wantOK(t, postJSON(t, n.URL+"/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": ids[:1]}))

	if out := MustCLI(t, db, "backup", "--to", bak); !strings.Contains(out, "backed up") {
		t.Fatalf("backup printed %q", out)
	}
	later := MustBuy(t, n.URL, acme.Admin, buyBody(1, 1, 2, 1))

	bin := testingutil.MustBuildBinary(t)
	r := testingutil.RunCLI(t, bin, nil, "restore", "--from", bak, "--db", db, "--force")
	if r.Code != 1 || !strings.Contains(r.Stderr, "in use") {
		t.Fatalf("restore over the served database: exit %d %q, want 1 saying it is in use", r.Code, r.Stderr)
	}
	// The server kept its file and still writes to it.
	wantOK(t, postJSON(t, n.URL+"/v1/instances/delete", acme.Admin, map[string]any{"instanceIdList": later}))

	MustCLI(t, restored, "restore", "--from", bak)
	if out := MustCLI(t, restored, "check"); out != "" {
		t.Fatalf("check of the restored database printed %q", out)
	}
	MustCLI(t, restored, "migrate", "--status")

	// Releases stay pending here too, so the unsubscribed instance is still
	// going offline when asked.
	n2 := MustServe(t, restored, heldReleaseFlags(t)...)
	got := statuses(t, n2.URL, acme.Admin, ids)
	if got[ids[0]] != 3 || got[ids[1]] != 2 || got[ids[2]] != 2 {
		t.Fatalf("statuses in the restored database=%v, want %s going offline (3), the others running (2)", got, ids[0])
	}
}
