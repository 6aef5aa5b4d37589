package sqlite

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/storetest"
)

// TestStored checks what every write path stores, with group commit (the
// unsubscribes run one by one, each in its savepoint, and together, as
// one group of a batch) and without.
func TestStored(t *testing.T) {
	for _, group := range []bool{true, false} {
		t.Run(fmt.Sprintf("GroupCommit=%t", group), func(t *testing.T) {
			storetest.RunStored(t, func(t *testing.T, now func() time.Time) (phonefleet.Store, storetest.Together) {
				g := &groupGate{}
				db := mustOpenDBWith(t, filepath.Join(t.TempDir(), "phonefleet.db"), func(db *DB) {
					db.Now, db.GroupCommit = now, group
					g.install(db)
				})
				if !group {
					return db, nil
				}
				return db, g.together
			})
		})
	}
}

// groupGate holds the writer before its next batch, once armed, until the
// operations it waits for are all queued, so that they share that batch;
// unlike writerHold it can be armed again.
type groupGate struct {
	mu      sync.Mutex
	want    int           // operations to wait for; 0 when not armed
	open    chan struct{} // closed once they are queued
	grouped []int         // operations each batch committed since arm ran together
}

// install sets db's hooks; before Open, since the writer reads them.
func (g *groupGate) install(db *DB) {
	db.testHookQueued = func(n int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.want > 0 && n >= g.want {
			close(g.open)
			g.want = 0
		}
	}
	db.testHookBeforeBatch = func() {
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		if open != nil {
			<-open
		}
	}
	db.testHookGroup = func(n int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.grouped = append(g.grouped, n)
	}
}

// together is a storetest.Together: it arms the gate for ops, runs them
// concurrently, and checks that one batch ran them all as a group.
func (g *groupGate) together(t *testing.T, ops []func() error) []error {
	t.Helper()
	g.mu.Lock()
	g.want, g.open, g.grouped = len(ops), make(chan struct{}), nil
	g.mu.Unlock()
	errs := runOps(ops)
	g.mu.Lock()
	grouped := slices.Clone(g.grouped)
	g.mu.Unlock()
	if !slices.Contains(grouped, len(ops)) {
		t.Fatalf("batches ran %v operations together, want one running all %d", grouped, len(ops))
	}
	return errs
}
