package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// Cluster is a throwaway PostgreSQL cluster run with initdb and pg_ctl, as
// the postgres OS user when the test runs as root (the tools refuse root).
type Cluster struct {
	BinDir string
	Dir    string // owned by the cluster's user; data/ and the socket live here
	Port   int

	asUser string // "" to run the tools as ourselves
}

// MustStartCluster creates and starts a cluster on a free 127.0.0.1 port, or
// skips the test when no PostgreSQL server binaries are installed.
func MustStartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		tb.Skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: skipping the failure test (install the postgresql package)")
	}
	sort.Strings(bins)
	c := &Cluster{BinDir: filepath.Dir(bins[len(bins)-1])}

	// Under /tmp, not $TMPDIR: the postgres user must be able to reach it.
	dir, err := os.MkdirTemp("/tmp", "phonefleet-pgcluster-")
	if err != nil {
		tb.Fatal(err)
	}
	c.Dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root needs the postgres OS user to run initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		c.asUser = "postgres"
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	c.mustRun(tb, "initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	c.MustStart(tb)
	tb.Cleanup(func() { c.run("pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "stop") })
	return c
}

// URL is the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// MustStart starts the server and waits until it accepts connections.
func (c *Cluster) MustStart(tb testing.TB) {
	tb.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", c.Port, c.Dir)
	c.mustRun(tb, "pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.Dir, "server.log"), "-o", opts, "-w", "-t", "60", "start")
}

// MustStop stops the server at once, as a crash or a failover would.
func (c *Cluster) MustStop(tb testing.TB) {
	tb.Helper()
	c.mustRun(tb, "pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "stop")
}

// Signal sends sig to the postmaster and all its children: SIGSTOP freezes
// the server so that connections stay open but nothing answers, as on a
// network partition; SIGCONT thaws it.
func (c *Cluster) Signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	buf, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		tb.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(buf), "\n", 2)[0]))
	if err != nil {
		tb.Fatalf("postmaster.pid: %v", err)
	}
	pids := []int{pid}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at ')'.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			pids = append(pids, child)
		}
	}
	for _, p := range pids {
		syscall.Kill(p, sig)
	}
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) mustRun(tb testing.TB, tool string, args ...string) {
	tb.Helper()
	if out, err := c.run(tool, args...); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
		tb.Fatalf("%s %s: %v\n%s\nserver.log:\n%s", tool, strings.Join(args, " "), err, out, log)
	}
}

func (c *Cluster) run(tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(c.BinDir, tool)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.Dir
	return cmd.CombinedOutput()
}

// While PostgreSQL is down or frozen, requests answer KOOPHONE.API.9999 (HTTP
// 500) within a bounded time, /readyz fails and /healthz stays up; when it
// is back, the same serve process answers normally again, without restart.
func TestFailover(t *testing.T) {
	cluster := MustStartCluster(t)
	bin := testingutil.MustBuildBinary(t)
	dbURL := cluster.URL()
	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dbURL)
	testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "acme", "--db", dbURL)
	token := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "acme", "--db", dbURL))
	node := testingutil.MustStartNode(t, bin, "--db", dbURL, "--pg-max-conns", "4",
		"--pg-statement-timeout", "1s", "--pg-connect-timeout", "1s", "--token-cache-ttl", "1m")

	var bought purchaseData
	node.MustDo(t, "POST", "/v1/instances/create", token, purchaseBody("fo", 4), &bought)
	if len(bought.InstanceInfos) != 4 {
		t.Fatalf("purchase of 4 returned %d instances", len(bought.InstanceInfos))
	}
	ids := make([]string, len(bought.InstanceInfos))
	for i, in := range bought.InstanceInfos {
		ids[i] = in.InstanceID
	}
	MustStatuses(t, node, token, ids)
	mustProbe(t, node, "/readyz", http.StatusOK)

	// bound is how long any request may take while the database is gone:
	// well above connect + statement timeouts, far below a hang.
	const bound = 10 * time.Second

	t.Run("Down", func(t *testing.T) {
		cluster.MustStop(t)
		mustFailFast(t, node, token, ids, bound)
		mustProbe(t, node, "/healthz", http.StatusOK)
		mustProbe(t, node, "/readyz", http.StatusServiceUnavailable)

		cluster.MustStart(t)
		mustRecover(t, node, token, ids, ids[0])
	})

	// A frozen server keeps its connections open but never answers: only the
	// client-side bounds (connect timeout, the store's operation deadline)
	// stop a request from hanging.
	t.Run("Frozen", func(t *testing.T) {
		cluster.Signal(t, syscall.SIGSTOP)
		thawed := false
		thaw := func() {
			if !thawed {
				cluster.Signal(t, syscall.SIGCONT)
				thawed = true
			}
		}
		defer thaw()
		mustFailFast(t, node, token, ids, bound)
		mustProbe(t, node, "/healthz", http.StatusOK)
		mustProbe(t, node, "/readyz", http.StatusServiceUnavailable)

		thaw()
		mustRecover(t, node, token, ids, ids[1])
	})

	// The requests that failed changed nothing; the ones after recovery did.
	st := MustStatuses(t, node, token, ids)
	for _, id := range ids[:2] {
		if st[id] != 3 && st[id] != 0 {
			t.Fatalf("statuses=%v: want %s going offline (3) or released (0), unsubscribed after a recovery", st, id)
		}
	}
	if st[ids[2]] != 2 || st[ids[3]] != 2 {
		t.Fatalf("statuses=%v: want %s and %s still running (2)", st, ids[2], ids[3])
	}
}

// mustFailFast checks that a query and an unsubscribe both answer HTTP 500
// KOOPHONE.API.9999 within bound.
func mustFailFast(t *testing.T, node *testingutil.Node, token string, ids []string, bound time.Duration) {
	t.Helper()
	for _, req := range []struct {
		path string
		body any
	}{
		{"/v1/instances/batch-query-status", map[string]any{"instance_ids": ids}},
		{"/v1/instances/delete", map[string]any{"instanceIdList": ids[2:]}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*bound)
		start := time.Now()
		r, err := node.Do(ctx, "POST", req.path, token, req.body)
		took := time.Since(start)
		cancel()
		if err != nil {
			t.Fatalf("POST %s with the database down: %v after %s", req.path, err, took)
		}
		if r.Status != http.StatusInternalServerError || r.Code() != "KOOPHONE.API.9999" {
			t.Fatalf("POST %s with the database down: status=%d error_code=%q, want 500 KOOPHONE.API.9999", req.path, r.Status, r.Code())
		}
		if took > bound {
			t.Fatalf("POST %s with the database down took %s, want < %s", req.path, took, bound)
		}
		t.Logf("POST %s with the database down: 500 KOOPHONE.API.9999 in %s", req.path, took.Round(time.Millisecond))
	}
}

// mustRecover waits until the node answers again (the pool reconnects by
// itself), then checks that a query succeeds, that unsubscribing victim
// (still running: the failed requests changed nothing) succeeds, and that
// /readyz does.
func mustRecover(t *testing.T, node *testingutil.Node, token string, ids []string, victim string) {
	t.Helper()
	start, deadline := time.Now(), time.Now().Add(60*time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		r, err := node.Do(ctx, "POST", "/v1/instances/batch-query-status", token, map[string]any{"instance_ids": ids})
		cancel()
		var last string
		switch {
		case err != nil:
			last = err.Error()
		case r.Status == http.StatusOK && r.Code() == "0":
			last = ""
		default:
			last = fmt.Sprintf("status=%d error_code=%q", r.Status, r.Code())
		}
		if last == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not recover within 60s: %s", last)
		}
		time.Sleep(200 * time.Millisecond) // polling the other process's reconnect
	}
	t.Logf("node answered again %s after the database came back", time.Since(start).Round(time.Millisecond))

	if st := MustStatuses(t, node, token, []string{victim}); st[victim] != 2 {
		t.Fatalf("instance %s status=%d after the outage, want still running (2)", victim, st[victim])
	}
	node.MustDo(t, "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": []string{victim}}, nil)
	if st := MustStatuses(t, node, token, []string{victim}); st[victim] != 3 && st[victim] != 0 {
		t.Fatalf("instance %s status=%d after unsubscribe, want 3 or 0", victim, st[victim])
	}
	mustProbe(t, node, "/readyz", http.StatusOK)
}

// mustProbe checks a health endpoint's status.
func mustProbe(t *testing.T, node *testingutil.Node, path string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := node.Do(ctx, "GET", path, "", nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	} else if r.Status != want {
		t.Fatalf("GET %s: status=%d, want %d", path, r.Status, want)
	}
}
