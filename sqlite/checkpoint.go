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
// checkpointer while writes go on.
const CheckpointInterval = 50 * time.Millisecond

// DefaultWALRestartPages is the size of the write-ahead log, in pages, at
// which the writer's own connection checkpoints (wal_autocheckpoint), unless
// DB.WALRestartPages says otherwise.
const DefaultWALRestartPages = 4000

var checkpointDuration = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "phonefleet_sqlite_checkpoint_duration_seconds",
	Help:    "Time of one checkpoint, which copies the pages of the write-ahead log into the database file.",
	Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs … ~6s
})

// checkpointer copies the write-ahead log into the database file on a
// connection of its own, so that the writer goroutine mostly does not:
// SQLite's automatic checkpoint (every 1,000 pages by default) runs inside
// the writer's COMMIT, and took about a tenth of its time under load. The
// syncer pokes the checkpointer after each fsync, and it runs a PASSIVE
// checkpoint (which never waits for readers or the writer) at most every
// CheckpointInterval; a checkpoint writes each page once however often it
// changed.
//
// Only a checkpoint on the writer's own connection, between two of its
// transactions, can finish the log so that the next transaction starts it
// over: one running beside a busy writer always leaves the newest pages
// behind, and the log would grow without bound. So the writer keeps its
// automatic checkpoint, at DB.WALRestartPages (4,000 pages, 16 MB): by then
// the checkpointer has copied all but the last few batches' pages, and the
// log's file stays about that size.
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
