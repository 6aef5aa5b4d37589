package postgres_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// Every pooled connection of the store is terminated from another session
// (as an administrator or a failover does) while it sits idle: the next
// read and the next write each run once more on a fresh connection and
// succeed instead of answering an error.
func TestDB_RetriesOnFreshConnection(t *testing.T) {
	adminURL := MustTestURL(t)
	dbURL := MustCreateDatabase(t, adminURL)
	db := MustOpenDBAt(t, dbURL, nil)
	tn := MustCreateTenant(t, db, "acme")
	ins := MustPurchase(t, db, tn.ID, 2, true)
	ctx := context.Background()
	name := dbURL[strings.LastIndex(dbURL, "/")+1:]
	name = name[:strings.IndexByte(name, '?')]
	terminate := func() {
		t.Helper()
		// The pool's connections, not the health check's.
		rows := mustQuery(t, adminURL, `SELECT pg_terminate_backend(pid)::text, '' FROM pg_stat_activity
			WHERE datname = $1 AND application_name = 'phonefleet' AND pid <> pg_backend_pid()`, name)
		if len(rows) == 0 {
			t.Fatal("no pooled connection to terminate")
		}
	}

	terminate()
	if _, _, err := db.FindInstances(ctx, phonefleet.InstanceFilter{TenantID: tn.ID}); err != nil {
		t.Fatalf("read after its connection was terminated: %v", err)
	}
	terminate()
	req := &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "after-terminate", InstanceIDs: []string{ins[0].ID}}
	if _, err := db.Unsubscribe(ctx, req); err != nil {
		t.Fatalf("write after its connection was terminated: %v", err)
	}
	MustStates(t, db, tn.ID, map[string]phonefleet.InstanceState{ins[0].ID: phonefleet.InstanceStateDeleting, ins[1].ID: phonefleet.InstanceStateRunning})
}

// A node started while PostgreSQL cannot be reached retries with backoff,
// logging each attempt, and serves once the database answers, so nodes and
// database may start in any order.
func TestNode_StartsBeforeDatabase(t *testing.T) {
	dbURL := MustCreateDatabase(t, MustTestURL(t))
	bin := testingutil.MustBuildBinary(t)
	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dbURL)

	// An address nothing listens on yet; a proxy to the database takes it
	// once the node has said it is retrying.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u, _ := url.Parse(dbURL)
	u.Host = addr

	logs := &testingutil.SyncBuffer{}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", u.String(), "--pg-startup-timeout", "60s")
	cmd.Env = append(os.Environ(), "PHONEFLEET_DB=")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("node logs:\n%s", logs)
		}
	})
	waitFor := func(what string) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			out, changed := logs.Snapshot()
			if strings.Contains(out, what) {
				return
			}
			select {
			case <-changed:
			case err := <-exited:
				t.Fatalf("serve exited (%v) before logging %q:\n%s", err, what, out)
			case <-timeout:
				t.Fatalf("serve did not log %q within 60s:\n%s", what, out)
			}
		}
	}
	waitFor("PostgreSQL not reachable; retrying")
	MustStartProxyAt(t, dbURL, addr)
	waitFor("msg=listening")
	t.Logf("the node retried %d times, then started", strings.Count(logs.String(), "PostgreSQL not reachable; retrying"))
}
