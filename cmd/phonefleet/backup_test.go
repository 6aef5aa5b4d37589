package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/phonefleet/phonefleet/sqlite"
)

// ackedWrite is a write the server answered with success: a purchase of
// one instance, or its unsubscribe.
type ackedWrite struct {
	instanceID  string
	unsubscribe bool
}

// ackLog records acknowledged writes in the order their answers came.
type ackLog struct {
	mu     sync.Mutex
	writes []ackedWrite
	grew   chan struct{} // gets a value after each write
}

func (l *ackLog) add(w ackedWrite) {
	l.mu.Lock()
	l.writes = append(l.writes, w)
	l.mu.Unlock()
	select {
	case l.grew <- struct{}{}:
	default:
	}
}

func (l *ackLog) snapshot() []ackedWrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ackedWrite(nil), l.writes...)
}

// waitFor blocks until the log holds at least n writes.
func (l *ackLog) waitFor(t *testing.T, n int, stop <-chan struct{}) {
	for {
		l.mu.Lock()
		k := len(l.writes)
		l.mu.Unlock()
		if k >= n {
			return
		}
		select {
		case <-l.grew:
		case <-stop:
			t.Fatalf("the writers stopped after %d acknowledged writes, want %d", k, n)
		}
	}
}

// TestBackupRestore_WhileWriting serves a SQLite store while clients buy
// and unsubscribe in a loop, backs it up in the middle of the stream,
// restores the backup into a new path, and checks there that every write
// acknowledged before the backup began is present and the store passes
// the consistency checks. Restoring over the served store is refused and
// leaves it serving.
func TestBackupRestore_WhileWriting(t *testing.T) {
	m, _ := MustRunMain(t, nil)
	db := m.Config.DB
	if _, errOut, code := runCLI(t, "tenant", "create", "acme", "--db", db); code != 0 {
		t.Fatalf("tenant create: %s", errOut)
	}
	token, errOut, code := runCLI(t, "token", "issue", "--tenant", "acme", "--db", db)
	if code != 0 {
		t.Fatalf("token issue: %s", errOut)
	}
	token = strings.TrimSpace(token)
	url := m.HTTPServer.URL()

	log := &ackLog{grew: make(chan struct{}, 1)}
	stop, writersDone := make(chan struct{}), make(chan struct{})
	buy := []byte(`{"os":"AOSP11","instanceSkuId":"kp.pro.2u4g","bandSkuId":"kp.band.bgp.standard","regionId":"cn-north-4",
		"instanceNamePrefix":"phone","bandSize":2,"count":1,"chargeParam":{"chargingMode":1,"periodType":2,"periodNum":1}}`)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := testingutil.Do(context.Background(), "POST", url+"/v1/instances/create", token, "application/json", buy)
				if err != nil || r.Status != 200 || r.Code() != "0" {
					t.Errorf("create: %v %v", err, r)
					return
				}
				var data struct {
					InstanceInfos []struct {
						InstanceID string `json:"instanceId"`
					} `json:"instanceInfos"`
				}
				buf, _ := json.Marshal(r.Data())
				if err := json.Unmarshal(buf, &data); err != nil || len(data.InstanceInfos) != 1 {
					t.Errorf("create answered %s", r.Raw)
					return
				}
				id := data.InstanceInfos[0].InstanceID
				log.add(ackedWrite{instanceID: id})
				if i%2 == 1 {
					continue // every other instance keeps running
				}
				r, err = testingutil.Do(context.Background(), "POST", url+"/v1/instances/delete", token, "application/json",
					[]byte(`{"instanceIdList":["`+id+`"]}`))
				if err != nil || r.Status != 200 || r.Code() != "0" {
					t.Errorf("delete %s: %v %v", id, err, r)
					return
				}
				log.add(ackedWrite{instanceID: id, unsubscribe: true})
			}
		})
	}
	go func() { wg.Wait(); close(writersDone) }()
	defer func() {
		close(stop)
		<-writersDone
	}()

	// Back up in the middle of the stream: after some writes, and with
	// more answered while the backup runs and after it.
	log.waitFor(t, 60, writersDone)
	before := log.snapshot()
	bak := filepath.Join(t.TempDir(), "backup.db")
	if out, errOut, code := runCLI(t, "backup", "--db", db, "--to", bak); code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("backup: exit %d %q %q", code, out, errOut)
	}
	log.waitFor(t, len(log.snapshot())+20, writersDone)

	t.Run("ErrExists", func(t *testing.T) {
		fi, _ := os.Stat(bak)
		if _, errOut, code := runCLI(t, "backup", "--db", db, "--to", bak); code != 1 || !strings.Contains(errOut, "--force") {
			t.Fatalf("backup over an existing file: exit %d %q, want 1 naming --force", code, errOut)
		}
		if fi2, _ := os.Stat(bak); fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
			t.Fatal("a refused backup changed the existing file")
		}
	})

	t.Run("ErrInUse", func(t *testing.T) {
		_, errOut, code := runCLI(t, "restore", "--from", bak, "--db", db, "--force")
		if code != 1 || !strings.Contains(errOut, "in use") {
			t.Fatalf("restore over the served store: exit %d %q, want 1 saying it is in use", code, errOut)
		}
		// The server still serves writes into its own file.
		n := len(log.snapshot())
		log.waitFor(t, n+4, writersDone)
	})

	restored := filepath.Join(t.TempDir(), "restored.db")
	if out, errOut, code := runCLI(t, "restore", "--from", bak, "--db", restored); code != 0 {
		t.Fatalf("restore: exit %d %q %q", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "check", "--db", restored); code != 0 || out != "" {
		t.Fatalf("check of the restored store: exit %d %q %q", code, out, errOut)
	}

	store := sqlite.NewDB(restored)
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tn, err := store.FindTenantByName(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, w := range before {
		ids = append(ids, w.instanceID)
	}
	states, err := store.FindInstanceStatuses(t.Context(), tn.ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	refunds := map[string]bool{}
	rs, err := store.FindRefunds(t.Context(), phonefleet.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		refunds[r.InstanceID] = true
	}
	for _, w := range before {
		st, ok := states[w.instanceID]
		switch {
		case !ok:
			t.Errorf("instance %s, bought before the backup, is missing from it", w.instanceID)
		case w.unsubscribe && st.State == phonefleet.InstanceStateRunning:
			t.Errorf("instance %s, unsubscribed before the backup, is running in it", w.instanceID)
		case w.unsubscribe && !refunds[w.instanceID]:
			t.Errorf("instance %s, unsubscribed before the backup, has no refund in it", w.instanceID)
		}
	}
	check := phonefleet.NewConsistencyCheck()
	if err := store.ExportBatches(t.Context(), check.Add); err != nil {
		t.Fatal(err)
	} else if p := check.Problems(); len(p) > 0 {
		t.Fatalf("the restored store is inconsistent:\n%s", strings.Join(p, "\n"))
	}
	t.Logf("%d writes acknowledged before the backup, %d by the end", len(before), len(log.snapshot()))
}
