package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// Two identical serve processes on one PostgreSQL database, as behind a load
// balancer: overlapping unsubscribe batches sent to both all succeed, every
// instance is refunded once and released (delivered to the data plane) once,
// untouched instances keep running, and both nodes answer the same.
func TestMultiNode_Unsubscribe(t *testing.T) {
	dbURL := MustCreateDatabase(t, MustTestURL(t))
	bin := testingutil.MustBuildBinary(t)
	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dbURL)
	if id := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "acme", "--db", dbURL)); id == "" {
		t.Fatal("tenant create printed no ID")
	}
	token := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "acme", "--db", dbURL))

	hook := newReleaseReceiver(t)
	flags := []string{"--db", dbURL, "--pg-max-conns", "8", "--release-driver", "webhook",
		"--webhook-url", hook.URL, "--webhook-secret", "multinode-secret", "--release-backoff", "100ms"}
	nodes := []*testingutil.Node{testingutil.MustStartNode(t, bin, flags...), testingutil.MustStartNode(t, bin, flags...)}

	// Buy on one node; the other sees the instances at once.
	const total = 100
	var bought purchaseData
	nodes[0].MustDo(t, "POST", "/v1/instances/create", token, purchaseBody("mn", total), &bought)
	if len(bought.InstanceInfos) != total {
		t.Fatalf("bought %d instances, want %d", len(bought.InstanceInfos), total)
	}
	ids := make([]string, total)
	for i, in := range bought.InstanceInfos {
		ids[i] = in.InstanceID
	}
	for id, st := range MustStatuses(t, nodes[1], token, ids) {
		if st != 2 {
			t.Fatalf("node 2: status of %s=%d, want 2 (running)", id, st)
		}
	}

	// 60 batches of 10 over the first 80 instances: batch b starts at 7b mod
	// 71, so each instance is named by several batches; every other batch
	// lists its IDs in reverse. Even batches go to node 1, odd to node 2,
	// all released at once.
	const batches, size = 60, 10
	lists := make([][]string, batches)
	named := map[string]bool{}
	for b := range batches {
		start := (7 * b) % 71
		lists[b] = slices.Clone(ids[start : start+size])
		if b%2 == 1 {
			slices.Reverse(lists[b])
		}
		for _, id := range lists[b] {
			named[id] = true
		}
	}
	type answer struct {
		r   *testingutil.Response
		err error
	}
	answers := make([]answer, batches)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for b := range batches {
		wg.Go(func() {
			<-ready
			r, err := nodes[b%2].Do(ctx, "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": lists[b]})
			answers[b] = answer{r, err}
		})
	}
	close(ready)
	wg.Wait()
	for b, a := range answers {
		if a.err != nil {
			t.Fatalf("batch %d: %v", b, a.err)
		} else if a.r.Status != http.StatusOK || a.r.Code() != "0" {
			t.Fatalf("batch %d on node %d: status=%d error_code=%q error_msg=%q, want 200 \"0\"", b, b%2+1, a.r.Status, a.r.Code(), a.r.Msg())
		}
	}

	// Exactly one refund per unsubscribed instance, each in full (bought
	// moments ago, within the five-day window).
	type refundLine struct {
		InstanceID string `json:"instance_id"`
		Paid       int64  `json:"paid"`
		Amount     int64  `json:"amount"`
	}
	refunds := testingutil.MustDecodeJSONLines[refundLine](t, testingutil.MustRunCLI(t, bin, nil, "refunds", "--db", dbURL))
	perInstance := map[string]int{}
	for _, r := range refunds {
		perInstance[r.InstanceID]++
		if !named[r.InstanceID] {
			t.Fatalf("refund for %s, which no batch named", r.InstanceID)
		} else if r.Amount != r.Paid || r.Paid <= 0 {
			t.Fatalf("refund of %s: amount=%d paid=%d, want a full refund", r.InstanceID, r.Amount, r.Paid)
		}
	}
	for id := range named {
		if perInstance[id] != 1 {
			t.Fatalf("refunds of %s=%d, want 1", id, perInstance[id])
		}
	}

	// The audit trail tells the same: across the 60 requests each named
	// instance was unsubscribed by exactly one and a no-op in the others.
	type auditLine struct {
		Action    string `json:"action"`
		ErrorCode string `json:"error_code"`
		Detail    string `json:"detail"`
	}
	var changed, noops, deletes int
	for _, e := range testingutil.MustDecodeJSONLines[auditLine](t, testingutil.MustRunCLI(t, bin, nil, "audit", "--db", dbURL)) {
		if e.Action != "instanceDelete" {
			continue
		}
		var c, n int
		if _, err := fmt.Sscanf(e.Detail, "unsubscribed %d, no-op %d", &c, &n); err != nil || e.ErrorCode != "0" {
			t.Fatalf("audit event %+v: want a successful unsubscribe (%v)", e, err)
		}
		changed, noops, deletes = changed+c, noops+n, deletes+1
	}
	if deletes != batches || changed != len(named) || noops != batches*size-len(named) {
		t.Fatalf("audit: %d unsubscribe events, %d unsubscribed, %d no-ops; want %d, %d, %d",
			deletes, changed, noops, batches, len(named), batches*size-len(named))
	}

	// Every unsubscribed instance is delivered to the data plane once, by
	// one of the two nodes' workers, and its job is done.
	if !hook.waitDistinct(len(named), 60*time.Second) {
		t.Fatalf("release deliveries: %d distinct instances, want %d", hook.distinct(), len(named))
	}
	type jobLine struct {
		InstanceID string `json:"instance_id"`
		State      string `json:"state"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		jobs := testingutil.MustDecodeJSONLines[jobLine](t, testingutil.MustRunCLI(t, bin, nil, "jobs", "--db", dbURL))
		done := 0
		for _, j := range jobs {
			if !named[j.InstanceID] {
				t.Fatalf("release job for %s, which no batch named", j.InstanceID)
			} else if j.State == "done" {
				done++
			}
		}
		if len(jobs) != len(named) {
			t.Fatalf("release jobs=%d, want %d", len(jobs), len(named))
		} else if done == len(named) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("release jobs done=%d of %d after 30s", done, len(named))
		}
		time.Sleep(200 * time.Millisecond) // polling another process's progress
	}
	for id, n := range hook.counts() {
		if n != 1 {
			t.Fatalf("instance %s delivered %d times, want 1", id, n)
		} else if !named[id] {
			t.Fatalf("instance %s delivered, but no batch named it", id)
		}
	}

	// Both nodes agree: unsubscribed and released instances are gone (0),
	// the others still run (2).
	st1, st2 := MustStatuses(t, nodes[0], token, ids), MustStatuses(t, nodes[1], token, ids)
	for _, id := range ids {
		want := 2
		if named[id] {
			want = 0
		}
		if st1[id] != want || st2[id] != want {
			t.Fatalf("status of %s: node 1=%d node 2=%d, want %d", id, st1[id], st2[id], want)
		}
	}
	var page1, page2 struct {
		TotalCount int `json:"total_count"`
	}
	nodes[0].MustDo(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=1000", token, nil, &page1)
	nodes[1].MustDo(t, "GET", "/v1/instances/batch-query?page_no=1&page_size=1000", token, nil, &page2)
	if want := total - len(named); page1.TotalCount != want || page2.TotalCount != want {
		t.Fatalf("batch-query total_count: node 1=%d node 2=%d, want %d", page1.TotalCount, page2.TotalCount, want)
	}
}

// A revoked token stops working on every node within the token cache TTL,
// the documented revocation bound, although each node had it cached.
func TestMultiNode_TokenRevocation(t *testing.T) {
	dbURL := MustCreateDatabase(t, MustTestURL(t))
	bin := testingutil.MustBuildBinary(t)
	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dbURL)
	testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "acme", "--db", dbURL)
	admin := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "acme", "--db", dbURL))
	viewer := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "acme", "--role", "viewer", "--db", dbURL))

	const ttl = 2 * time.Second
	flags := []string{"--db", dbURL, "--pg-max-conns", "4", "--token-cache-ttl", ttl.String()}
	nodes := []*testingutil.Node{testingutil.MustStartNode(t, bin, flags...), testingutil.MustStartNode(t, bin, flags...)}
	for _, n := range nodes {
		n.MustDo(t, "GET", "/v1/instances/sku?type=0", viewer, nil, nil)
	}

	testingutil.MustRunCLI(t, bin, nil, "token", "revoke", viewer, "--db", dbURL)
	// The revocation is committed by the time the CLI returns: time from
	// there, so the CLI's own start-up does not eat into the bound.
	revoked := time.Now()

	// Each node refuses the token within the TTL (plus scheduling slack).
	const slack = 1500 * time.Millisecond
	for i, n := range nodes {
		for {
			r, err := n.Do(context.Background(), "GET", "/v1/instances/sku?type=0", viewer, nil)
			if err != nil {
				t.Fatalf("node %d: %v", i+1, err)
			}
			if r.Status == http.StatusUnauthorized {
				if r.Code() != "APIGW.0301" {
					t.Fatalf("node %d: error_code=%q, want APIGW.0301", i+1, r.Code())
				}
				break
			} else if r.Status != http.StatusOK {
				t.Fatalf("node %d: status=%d error_code=%q, want 200 or 401", i+1, r.Status, r.Code())
			}
			if time.Since(revoked) > ttl+slack {
				t.Fatalf("node %d still accepts the token %s after revocation (token cache TTL %s)", i+1, time.Since(revoked), ttl)
			}
			time.Sleep(100 * time.Millisecond) // polling for the other process's cache to expire
		}
		t.Logf("node %d refused the revoked token %s after revocation", i+1, time.Since(revoked).Round(time.Millisecond))
	}
	// The tenant's other token is untouched.
	for _, n := range nodes {
		n.MustDo(t, "GET", "/v1/instances/sku?type=0", admin, nil, nil)
	}
}

// releaseReceiver is a data plane stand-in that counts release deliveries by
// instance.
type releaseReceiver struct {
	URL string

	mu      sync.Mutex
	n       map[string]int
	changed chan struct{}
}

func newReleaseReceiver(t *testing.T) *releaseReceiver {
	r := &releaseReceiver{n: map[string]int{}, changed: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev struct {
			Type       string `json:"type"`
			InstanceID string `json:"instance_id"`
		}
		if err := json.NewDecoder(req.Body).Decode(&ev); err != nil || ev.Type != "instance.release" || ev.InstanceID == "" {
			http.Error(w, fmt.Sprintf("bad event: %v", err), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.n[ev.InstanceID]++
		r.mu.Unlock()
		select {
		case r.changed <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *releaseReceiver) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.n))
	for k, v := range r.n {
		out[k] = v
	}
	return out
}

func (r *releaseReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.n)
}

// waitDistinct waits until n distinct instances were delivered or the
// timeout passes.
func (r *releaseReceiver) waitDistinct(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for r.distinct() < n {
		select {
		case <-r.changed:
		case <-deadline:
			return r.distinct() >= n
		}
	}
	return true
}
