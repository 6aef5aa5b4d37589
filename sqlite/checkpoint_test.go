package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// TestCheckpointer: the writer never checkpoints (wal_autocheckpoint is 0
// on its connection); the checkpointer copies every committed page of the
// log into the database file after writes, so the log does not grow
// without bound.
func TestCheckpointer(t *testing.T) {
	type result struct{ logPages, done int }
	checkpoints := make(chan result, 100)
	db := mustOpenDBWith(t, filepath.Join(t.TempDir(), "phonefleet.db"), func(db *DB) {
		db.testHookCheckpoint = func(logPages, done int) {
			select {
			case checkpoints <- result{logPages, done}:
			default:
			}
		}
	})
	for i := range 20 {
		if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: fmt.Sprintf("t%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Every write pokes the checkpointer; wait for one that found the
	// log's pages and copied them all.
	for r := range checkpoints {
		if r.logPages < 0 || r.done > r.logPages {
			t.Fatalf("checkpoint of %d log pages copied %d", r.logPages, r.done)
		}
		if r.logPages > 0 && r.done == r.logPages {
			break
		}
	}
	var busy, logPages, done int
	if err := db.wdb.QueryRowContext(t.Context(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &done); err != nil {
		t.Fatal(err)
	}
	if done != logPages {
		t.Fatalf("after the checkpointer: %d of %d log pages checkpointed", done, logPages)
	}
}
