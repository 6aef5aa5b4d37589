package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// CheckpointInterval is the least time between two checkpoints of the
// write-ahead log while writes go on.
const CheckpointInterval = 100 * time.Millisecond

var checkpointDuration = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "phonefleet_sqlite_checkpoint_duration_seconds",
	Help:    "Time of one checkpoint, which copies the pages of the write-ahead log into the database file.",
	Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs … ~6s
})

// checkpointer copies the write-ahead log into the database file on a
// connection of its own, so that the writer goroutine never does: SQLite's
// automatic checkpoint (every 1,000 pages) would run inside the writer's
// COMMIT, and took about a tenth of its time under load. The writer's
// connection has wal_autocheckpoint(0); the syncer pokes the checkpointer
// after each fsync, and it runs a PASSIVE checkpoint (which never waits for
// readers or the writer) at most every CheckpointInterval. Between two
// checkpoints the log holds at most what the writer commits in that time;
// a checkpoint writes each page once however often it changed.
type checkpointer struct {
	db     *sql.DB
	hook   func(logPages, done int) // test hook: after each checkpoint
	poke   chan struct{}            // capacity 1; closed by close
	closed sync.Once
	exited chan struct{}
}

// newCheckpointer starts a checkpointer on pool (one connection); hook, if
// set, gets the log's pages and those checkpointed after each checkpoint.
func newCheckpointer(pool *sql.DB, logf func(msg string, args ...any), hook func(logPages, done int)) *checkpointer {
	c := &checkpointer{db: pool, hook: hook, poke: make(chan struct{}, 1), exited: make(chan struct{})}
	go c.run(logf)
	return c
}

// notify says the log grew; it never blocks.
func (c *checkpointer) notify() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// close stops the checkpointer and waits for it. (SQLite checkpoints the
// log when the last connection to the file closes.)
func (c *checkpointer) close() {
	c.closed.Do(func() { close(c.poke) })
	<-c.exited
}

func (c *checkpointer) run(logf func(msg string, args ...any)) {
	defer close(c.exited)
	var last time.Time
	for {
		_, open := <-c.poke
		if !open {
			return
		}
		if wait := CheckpointInterval - time.Since(last); wait > 0 {
			// Pokes meanwhile add nothing: one checkpoint per interval.
			t := time.NewTimer(wait)
			for waiting := true; waiting; {
				select {
				case <-t.C:
					waiting = false
				case _, open := <-c.poke:
					if !open {
						t.Stop()
						return
					}
				}
			}
		}
		last = time.Now()
		var busy, logPages, done int
		err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &done)
		if err != nil {
			logf("checkpoint of the write-ahead log failed", "error", err)
			continue
		}
		checkpointDuration.Observe(time.Since(last).Seconds())
		if c.hook != nil {
			c.hook(logPages, done)
		}
	}
}
