package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// requestResult is one request's answer.
type requestResult struct {
	requestID, instanceID string
	status                int
	code, msg             string
	outcome               string // X-Phonefleet-Outcome
	took                  time.Duration
}

// sendUnsubscribes unsubscribes each of ids alone, with the request ID
// prefix-<i>, from workers goroutines, and returns the answers.
func sendUnsubscribes(t *testing.T, node *testingutil.Node, token, prefix string, ids []string, workers int) []requestResult {
	t.Helper()
	results := make([]requestResult, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res := requestResult{requestID: fmt.Sprintf("%s-%d", prefix, i), instanceID: ids[i]}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				start := time.Now()
				r, err := testingutil.Do(ctx, "POST", node.URL+"/v1/instances/delete", token, "application/json",
					[]byte(`{"instanceIdList":["`+ids[i]+`"]}`), "X-Request-Id", res.requestID)
				res.took = time.Since(start)
				cancel()
				if err != nil {
					t.Errorf("request %s: %v", res.requestID, err)
				}
				res.status, res.code, res.msg, res.outcome = r.Status, r.Code(), r.Msg(), r.Header.Get("X-Phonefleet-Outcome")
				results[i] = res
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// mustQuery runs sql on dbURL and returns the first two columns of each
// row as strings.
func mustQuery(t *testing.T, dbURL, sql string, args ...any) [][2]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([2]string, error) {
		var a, b string
		err := row.Scan(&a, &b)
		return [2]string{a, b}, err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// mustNewNode sets up a database with a tenant and a token, starts a node
// on it through a proxy with flags, and buys count monthly instances.
func mustNewNodeBehindProxy(t *testing.T, count int, flags ...string) (dbURL string, proxy *Proxy, node *testingutil.Node, token string, ids []string) {
	t.Helper()
	dbURL = MustCreateDatabase(t, MustTestURL(t))
	bin := testingutil.MustBuildBinary(t)
	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dbURL)
	testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "acme", "--db", dbURL)
	token = strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "acme", "--db", dbURL))
	proxy = MustStartProxy(t, dbURL)
	node = testingutil.MustStartNode(t, bin, append([]string{"--db", proxy.URL(t, dbURL)}, flags...)...)
	var bought purchaseData
	node.MustDo(t, "POST", "/v1/instances/create", token, purchaseBody("tr", count), &bought)
	for _, in := range bought.InstanceInfos {
		ids = append(ids, in.InstanceID)
	}
	return dbURL, proxy, node, token, ids
}

// A proxy between the node and PostgreSQL freezes the server's answers on
// every third connection that sends COMMIT: the commit lands, its answer
// never arrives. No request that committed is answered 9999, no 9999 is
// given for a change that was made, and the audit trail has exactly one
// outcome per request, the one the client was told.
func TestAmbiguousCommit(t *testing.T) {
	dbURL, proxy, node, token, ids := mustNewNodeBehindProxy(t, 30,
		"--pg-max-conns", "8", "--pg-statement-timeout", "1s", "--pg-connect-timeout", "1s", "--request-timeout", "8s")

	proxy.FreezeEvery.Store(3)
	results := sendUnsubscribes(t, node, token, "amb", ids, 6)
	proxy.FreezeEvery.Store(0)
	if proxy.Frozen.Load() == 0 {
		t.Fatal("the proxy froze no connection: the test proved nothing")
	}

	refunded := map[string]bool{}
	for _, r := range mustQuery(t, dbURL, `SELECT instance_id, request_id FROM refunds`) {
		refunded[r[0]] = true
	}
	audit := map[string][]string{}
	for _, r := range mustQuery(t, dbURL, `SELECT request_id, error_code FROM audit_events WHERE action = 'instanceDelete'`) {
		audit[r[0]] = append(audit[r[0]], r[1])
	}
	ok, failed := 0, 0
	for _, r := range results {
		switch {
		case r.status == http.StatusOK && r.code == "0":
			ok++
			if !refunded[r.instanceID] {
				t.Errorf("request %s answered 0 but %s has no refund", r.requestID, r.instanceID)
			}
		case r.code == "KOOPHONE.API.9999":
			failed++
			t.Logf("request %s answered 9999 %q (outcome header %q) after %s; nothing was changed", r.requestID, r.msg, r.outcome, r.took.Round(time.Millisecond))
			if refunded[r.instanceID] {
				t.Errorf("request %s answered 9999 (%q, outcome %q) but its unsubscribe of %s committed", r.requestID, r.msg, r.outcome, r.instanceID)
			}
		default:
			t.Errorf("request %s: status=%d code=%q msg=%q", r.requestID, r.status, r.code, r.msg)
		}
		if r.code != "0" && r.outcome == "unknown" {
			continue // its audit event is written once the outcome is read back
		}
		if got := audit[r.requestID]; len(got) != 1 || got[0] != r.code {
			t.Errorf("audit of request %s=%v, want exactly one event with code %s", r.requestID, got, r.code)
		}
	}
	resolved := strings.Count(node.Stderr.String(), "reading back found the transaction committed")
	t.Logf("%d connections frozen after COMMIT; %d answered 0 (%d after reading back a lost commit answer), %d answered 9999",
		proxy.Frozen.Load(), ok, resolved, failed)
	if resolved == 0 {
		t.Fatal("no lost commit answer was read back as committed: the test proved nothing")
	}
}

// Ten rows are locked from another session while 60 clients wait on them:
// /readyz stays 200 (it has a connection of its own and never waits for a
// lock or the pool), the locked requests fail within the statement timeout,
// and another tenant's requests keep answering in well under a statement
// timeout (the waiting tenant holds at most half the pool).
func TestReadyz_LockedRows(t *testing.T) {
	const stmtTimeout = 3 * time.Second
	dbURL, _, node, token, ids := mustNewNodeBehindProxy(t, 10,
		"--pg-max-conns", "4", "--pg-statement-timeout", stmtTimeout.String(), "--request-timeout", "10s")
	bin := testingutil.MustBuildBinary(t)
	testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "other", "--db", dbURL)
	otherToken := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "other", "--db", dbURL))
	var otherBought purchaseData
	node.MustDo(t, "POST", "/v1/instances/create", otherToken, purchaseBody("ot", 2), &otherBought)
	otherIDs := []string{otherBought.InstanceInfos[0].InstanceID, otherBought.InstanceInfos[1].InstanceID}

	// Lock the ten rows from psql's point of view: another session.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	locker, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(context.Background())
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT 1 FROM instances WHERE id = ANY($1) FOR UPDATE`, ids); err != nil {
		t.Fatal(err)
	}

	// 60 clients unsubscribe the locked rows: they fill the pool of 4.
	var wg sync.WaitGroup
	lockedResults := make(chan requestResult, 60)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[i%len(ids)]
			start := time.Now()
			r, err := node.Do(context.Background(), "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": []string{id}})
			if err != nil {
				t.Errorf("locked unsubscribe: %v", err)
				return
			}
			lockedResults <- requestResult{instanceID: id, status: r.Status, code: r.Code(), took: time.Since(start)}
		}()
	}

	// While they wait: readiness holds, every time, and the other tenant's
	// reads and writes answer.
	var otherWorst time.Duration
	for i := range 20 {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := node.Do(rctx, "GET", "/readyz", "", nil)
		rcancel()
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("GET /readyz while requests wait on locked rows: status=%d err=%v, want 200", r.Status, err)
		}
		start := time.Now()
		path, body := "/v1/instances/batch-query-status", any(map[string]any{"instance_ids": otherIDs})
		if i == 10 {
			path, body = "/v1/instances/delete", map[string]any{"instanceIdList": otherIDs[:1]}
		}
		node.MustDo(t, "POST", path, otherToken, body, nil)
		otherWorst = max(otherWorst, time.Since(start))
	}
	// Without a share per tenant, the other tenant's requests wait for a
	// pool connection until a locked request gives up (a statement
	// timeout).
	if otherWorst >= stmtTimeout/2 {
		t.Errorf("another tenant's slowest request took %s while rows were locked, want well under the %s statement timeout", otherWorst, stmtTimeout)
	}
	wg.Wait()
	close(lockedResults)
	var worst time.Duration
	for r := range lockedResults {
		if r.code != "KOOPHONE.API.9999" {
			t.Errorf("unsubscribe of locked %s: code=%q, want 9999 (lock wait over the statement timeout)", r.instanceID, r.code)
		}
		worst = max(worst, r.took)
	}
	// Each waits for the pool, then at most one statement timeout for the
	// lock; within the request deadline in any case.
	if worst > 10*time.Second+2*time.Second {
		t.Fatalf("slowest locked request took %s, want within the 10s request deadline", worst)
	}
	t.Logf("60 requests on locked rows: all 9999, slowest after %s; /readyz answered 200 20 times meanwhile; the other tenant's slowest request took %s",
		worst.Round(time.Millisecond), otherWorst.Round(time.Millisecond))
}

// While PostgreSQL is silent (the proxy swallows everything: connections
// stay open, nothing answers), every request answers 9999 within the
// documented bound, --request-timeout (or connect + 2 x statement timeout
// when smaller), plus the time to write the answer.
func TestSilentDatabase_Bound(t *testing.T) {
	const requestTimeout = 4 * time.Second
	_, proxy, node, token, ids := mustNewNodeBehindProxy(t, 4,
		"--pg-max-conns", "4", "--pg-statement-timeout", "5s", "--pg-connect-timeout", "3s", "--request-timeout", requestTimeout.String())

	proxy.Silent.Store(true)
	results := sendUnsubscribes(t, node, token, "silent", ids, 4)
	var worst time.Duration
	for _, r := range results {
		if r.code != "KOOPHONE.API.9999" {
			t.Errorf("request %s with the database silent: code=%q, want 9999", r.requestID, r.code)
		}
		worst = max(worst, r.took)
	}
	// A read, on a token the node has cached.
	start := time.Now()
	r, err := node.Do(context.Background(), "POST", "/v1/instances/batch-query-status", token, map[string]any{"instance_ids": ids})
	if took := time.Since(start); err != nil || r.Code() != "KOOPHONE.API.9999" {
		t.Errorf("batch-query-status with the database silent: err=%v code=%q, want 9999", err, r.Code())
	} else {
		worst = max(worst, took)
	}
	// The bound check: the deadline, plus a margin for a loaded machine to
	// write the answer (the documented figure is the deadline itself).
	if bound := requestTimeout + time.Second; worst > bound {
		t.Fatalf("slowest request with the database silent answered after %s, want within %s", worst, bound)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if r, err := node.Do(rctx, "GET", "/readyz", "", nil); err != nil || r.Status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz with the database silent: status=%d err=%v, want 503", r.Status, err)
	}
	t.Logf("database silent: every request answered 9999, the slowest after %s (deadline %s)", worst.Round(time.Millisecond), requestTimeout)
}

// The proxy cuts the node's connection right after every COMMIT and holds
// the COMMIT itself for a random moment before it reaches the server, so
// reading back races a commit still in flight: the server may apply it
// before, during or never (reading back ended its session first). Over at
// least 200 lost commit answers of unsubscribes, alone and in shared
// transactions: every 0 is durable, no plain 9999 has committed anything,
// and "outcome unknown" may go either way.
func TestAmbiguousCommit_Rounds(t *testing.T) {
	const requests, workers, minRounds = 320, 8, 200
	dbURL, proxy, node, token, ids := mustNewNodeBehindProxy(t, requests,
		"--pg-max-conns", "16", "--pg-statement-timeout", "1s", "--pg-connect-timeout", "1s", "--request-timeout", "2s")

	proxy.CommitDelay = func() time.Duration { return time.Duration(rand.N(20)) * time.Millisecond }
	proxy.Cut.Store(true)
	proxy.FreezeEvery.Store(1)
	results := sendUnsubscribes(t, node, token, "round", ids, workers)
	proxy.FreezeEvery.Store(0)

	refunded := map[string]string{}
	for _, r := range mustQuery(t, dbURL, `SELECT instance_id, request_id FROM refunds`) {
		refunded[r[0]] = r[1]
	}
	running := map[string]bool{}
	for _, r := range mustQuery(t, dbURL, `SELECT id, state FROM instances WHERE state = 'running'`) {
		running[r[0]] = true
	}
	var ok, failed, unknown int
	for _, r := range results {
		switch {
		case r.status == http.StatusOK && r.code == "0":
			ok++
			if refunded[r.instanceID] != r.requestID || running[r.instanceID] {
				t.Errorf("request %s answered 0, but %s has refund of request %q, running=%v", r.requestID, r.instanceID, refunded[r.instanceID], running[r.instanceID])
			}
		case r.code == "KOOPHONE.API.9999" && r.outcome == "unknown":
			unknown++
		case r.code == "KOOPHONE.API.9999":
			failed++
			if refunded[r.instanceID] != "" || !running[r.instanceID] {
				t.Errorf("request %s answered 9999 (%q, no outcome header), but %s has refund of request %q, running=%v",
					r.requestID, r.msg, r.instanceID, refunded[r.instanceID], running[r.instanceID])
			}
		default:
			t.Errorf("request %s: status=%d code=%q msg=%q", r.requestID, r.status, r.code, r.msg)
		}
	}
	logs := node.Stderr.String()
	count := func(found string) int {
		n := 0
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "op=unsubscribe") && strings.Contains(line, found) {
				n++
			}
		}
		return n
	}
	committed, rolledBack, unread := count("reading back found the transaction committed"), count("reading back found nothing committed"), count("reading back failed")
	t.Logf("%d requests: %d answered 0, %d 9999, %d outcome unknown; %d lost commit answers of unsubscribes read back: %d committed, %d rolled back, %d unknown",
		len(results), ok, failed, unknown, committed+rolledBack+unread, committed, rolledBack, unread)
	if rounds := committed + rolledBack + unread; rounds < minRounds {
		t.Fatalf("%d lost commit answers of unsubscribes, want at least %d", rounds, minRounds)
	}
	if committed == 0 || rolledBack == 0 {
		t.Fatalf("reading back found %d committed and %d rolled back, want both: the race was not run", committed, rolledBack)
	}
}

// One tenant's rows are locked from another session (as from psql) while
// 60 of its clients keep unsubscribing them; meanwhile another tenant's
// unsubscribes and reads all succeed, before the lock is released. The
// statement timeout is longer than the request deadline, so a request that
// waited on the lock could only end in 9999: each success shows it did not
// wait. Locked in turn: the tenant's instances, its tenant row and its
// orders (the rows its refunds' foreign keys check).
func TestLockedTenant_OthersUnaffected(t *testing.T) {
	locks := []struct{ name, sql string }{
		{"Instances", `SELECT 1 FROM instances WHERE id = ANY($1) FOR UPDATE`},
		{"Tenant", `SELECT 1 FROM tenants WHERE id IN (SELECT tenant_id FROM instances WHERE id = ANY($1)) FOR UPDATE`},
		{"Orders", `SELECT 1 FROM orders WHERE id IN (SELECT order_id FROM instances WHERE id = ANY($1)) FOR UPDATE`},
	}
	for _, lock := range locks {
		t.Run(lock.name, func(t *testing.T) {
			const clients, others = 60, 16
			dbURL, _, node, token, ids := mustNewNodeBehindProxy(t, clients,
				"--pg-max-conns", "8", "--pg-statement-timeout", "30s", "--request-timeout", "8s")
			bin := testingutil.MustBuildBinary(t)
			testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "other", "--db", dbURL)
			otherToken := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "other", "--db", dbURL))
			var otherBought purchaseData
			node.MustDo(t, "POST", "/v1/instances/create", otherToken, purchaseBody("ot", others), &otherBought)

			ctx := context.Background()
			locker, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer locker.Close(ctx)
			tx, err := locker.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, lock.sql, ids); err != nil {
				t.Fatal(err)
			}

			// The locked tenant's clients unsubscribe its instances again
			// and again until the lock is gone.
			var stop atomic.Bool
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						node.Do(context.Background(), "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": []string{ids[i]}})
					}
				}()
			}
			defer func() {
				stop.Store(true)
				tx.Rollback(ctx)
				wg.Wait()
			}()
			// Wait until the node's sessions queue on the lock.
			for waiting, polls := 0, 0; waiting == 0; polls++ {
				if polls == 10000 {
					t.Fatal("no session of the node waits on the locked rows")
				}
				rows := mustQuery(t, dbURL, `SELECT COUNT(*)::text, '' FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`)
				waiting, _ = strconv.Atoi(rows[0][0])
			}

			var worst time.Duration
			answered := 0
			for i, in := range otherBought.InstanceInfos {
				path, body := "/v1/instances/delete", any(map[string]any{"instanceIdList": []string{in.InstanceID}})
				if i%2 == 1 {
					path, body = "/v1/instances/batch-query-status", map[string]any{"instance_ids": []string{in.InstanceID}}
				}
				start := time.Now()
				r, err := node.Do(ctx, "POST", path, otherToken, body)
				worst = max(worst, time.Since(start))
				if err != nil {
					t.Errorf("other tenant's %s %d while the first tenant's rows are locked: %v", path, i, err)
				} else if r.Code() != "0" {
					t.Errorf("other tenant's %s %d while the first tenant's rows are locked: code=%q msg=%q, want 0",
						path, i, r.Code(), r.Msg())
				} else {
					answered++
				}
			}
			// The lock is still held: every answer above came while it was.
			if rows := mustQuery(t, dbURL, `SELECT COUNT(*)::text, '' FROM refunds WHERE instance_id = ANY($1)`, ids); rows[0][0] != "0" {
				t.Fatalf("%s of the locked tenant's instances refunded while their rows were locked", rows[0][0])
			}
			var otherIDs []string
			for i, in := range otherBought.InstanceInfos {
				if i%2 == 0 {
					otherIDs = append(otherIDs, in.InstanceID)
				}
			}
			if rows := mustQuery(t, dbURL, `SELECT COUNT(*)::text, '' FROM refunds WHERE instance_id = ANY($1)`, otherIDs); rows[0][0] != strconv.Itoa(len(otherIDs)) {
				t.Errorf("%s of the other tenant's %d unsubscribed instances refunded, want all", rows[0][0], len(otherIDs))
			}
			t.Logf("%d clients wait on the locked %s; %d of the other tenant's %d requests answered 0 meanwhile, the slowest in %s",
				clients, strings.ToLower(lock.name), answered, others, worst.Round(time.Millisecond))
		})
	}
}
