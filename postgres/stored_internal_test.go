package postgres

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/storetest"
)

// TestStored checks what every write path stores, the unsubscribes run
// through the coalescer (one by one, and together in one shared
// transaction) and alone (each in a transaction of its own, waiting for
// its locks).
func TestStored(t *testing.T) {
	for _, alone := range []bool{false, true} {
		t.Run(fmt.Sprintf("Alone=%t", alone), func(t *testing.T) {
			storetest.RunStored(t, func(t *testing.T, now func() time.Time) (phonefleet.Store, storetest.Together) {
				db := NewDB(createTestSchema(t))
				db.MaxConns = 8
				db.Logger = slog.New(slog.DiscardHandler)
				db.Now, db.testNoCoalesce = now, alone
				g := &groupGate{}
				if !alone {
					g.install(db)
				}
				if err := db.Open(); err != nil {
					t.Fatalf("open: %v", err)
				}
				t.Cleanup(func() { db.Close() })
				if alone {
					return db, nil
				}
				return db, g.together
			})
		})
	}
}

// groupGate makes db run one group at a time and, once armed, hold its
// next group until the unsubscribes it waits for are all queued, so that
// they share one transaction; unlike holdGroups it can be armed again.
type groupGate struct {
	mu      sync.Mutex
	want    int           // unsubscribes to wait for; 0 when not armed
	open    chan struct{} // closed once they are queued
	grouped []int         // unsubscribes each committed group settled since arm
}

// install sets db's hooks; before Open.
func (g *groupGate) install(db *DB) {
	db.testRunners = 1
	db.testHookTake = func() {
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		if open != nil {
			<-open
		}
	}
	db.testHookQueued = func(queued int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.want > 0 && queued >= g.want {
			close(g.open)
			g.want = 0
		}
	}
	db.testHookGroup = func(n int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.grouped = append(g.grouped, n)
	}
}

// together is a storetest.Together: it arms the gate for ops, runs them
// concurrently, and checks that one transaction settled them all.
func (g *groupGate) together(t *testing.T, ops []func() error) []error {
	t.Helper()
	g.mu.Lock()
	g.want, g.open, g.grouped = len(ops), make(chan struct{}), nil
	g.mu.Unlock()
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { errs[i] = op() })
	}
	wg.Wait()
	g.mu.Lock()
	grouped := slices.Clone(g.grouped)
	g.mu.Unlock()
	if !slices.Equal(grouped, []int{len(ops)}) {
		t.Fatalf("shared transactions settled %v unsubscribes, want one settling all %d", grouped, len(ops))
	}
	return errs
}
