package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// TestCheckpointer: after writes, the checkpointer copies every committed
// page of the log into the database file.
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
	timeout := time.After(10 * time.Second)
	for copied := false; !copied; {
		select {
		case r := <-checkpoints:
			if r.logPages < 0 || r.done > r.logPages {
				t.Fatalf("checkpoint of %d log pages copied %d", r.logPages, r.done)
			}
			copied = r.logPages > 0 && r.done == r.logPages
		case <-timeout:
			t.Fatal("no checkpoint of the checkpointer copied the whole log")
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

// TestCheckpointer_LogBounded: under writes that keep the writer busy, the
// log's file stays about WALRestartPages long: the writer finishes the log
// and starts it over, which a checkpoint beside it never could.
func TestCheckpointer_LogBounded(t *testing.T) {
	const restart = 64
	path := filepath.Join(t.TempDir(), "phonefleet.db")
	db := mustOpenDBWith(t, path, func(db *DB) { db.WALRestartPages = restart })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: fmt.Sprintf("t%d-%d", g, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// A frame is a page and its 24-byte header. The log may pass the
	// restart size for a while: the writer's checkpoint gives up at once
	// when the checkpointer is in the middle of one, and tries again after
	// its next commit. Without the restart it grows about tenfold.
	var pageSize int64
	if err := db.wdb.QueryRowContext(t.Context(), `PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if max := 32 + 4*restart*(pageSize+24); st.Size() > max {
		t.Fatalf("log of %d bytes after 800 writes, want at most %d (about %d pages)", st.Size(), max, restart)
	}
}
