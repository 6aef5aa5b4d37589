package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Metrics of the store's health, registered with the default registry.
var (
	diskFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_sqlite_disk_failures_total",
		Help: "SQLite writes that failed for lack of disk or with an I/O error.",
	})
	fileLost = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "phonefleet_sqlite_file_lost",
		Help: "1 once the SQLite file at the configured path is no longer the one opened (deleted or replaced); writes are refused.",
	})
)

// DefaultMinFreeBytes is the free space below which Ping reports the
// database not ready: writes would soon fail for lack of disk.
const DefaultMinFreeBytes = 64 << 20

// diskFailureWindow is how long a write that failed for lack of disk (or an
// I/O error) keeps Ping failing. Later successes do not end it early: small
// writes may still fit where a purchase did not.
const diskFailureWindow = time.Minute

// fileID identifies a file by device and inode: a file deleted or replaced
// at the same path has another (or none).
type fileID struct{ dev, ino uint64 }

// errFileLost is the error of every write once the file at Path is no
// longer the one Open opened: acknowledging a write into an unlinked file
// would lose it silently.
var errFileLost = errors.New("the database file at the path is no longer the one this process opened (deleted or replaced); writes are refused until restart")

// failSync makes every later write fail, and Ping report the store not
// ready, after an fsync of the write-ahead log failed with err; it returns
// the error the failed batches get.
func (db *DB) failSync(err error) error {
	lost := fmt.Errorf("fsync of the write-ahead log failed, so what is on disk is unknown; writes are refused until restart: %w", err)
	if db.health.refuse(lost) {
		db.log.Error("fsync of the write-ahead log failed: refusing writes; restart the server", "path", db.Path, "error", err)
	}
	return lost
}

// health is what the store knows about whether writes can succeed: the
// identity of the file it opened, whether that file was lost, and the last
// write that failed for lack of disk.
type health struct {
	mu       sync.Mutex
	id       fileID
	known    bool  // id was read at Open (false where the platform cannot tell)
	lost     error // sticky: set once the file at the path changed or an fsync failed
	failedAt time.Time
	failErr  error // the last disk failure
}

// refuse makes every later write fail with err, unless a reason to refuse
// writes is already set, and reports whether err is the first.
func (h *health) refuse(err error) (first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost != nil {
		return false
	}
	h.lost = err
	return true
}

// recordOpen remembers the identity of the file just opened.
func (db *DB) recordOpen() error {
	id, ok, err := statFileID(db.Path)
	if err != nil {
		return fmt.Errorf("stat %s: %w", db.Path, err)
	}
	db.health.mu.Lock()
	db.health.id, db.health.known = id, ok
	db.health.mu.Unlock()
	return nil
}

// checkFile returns errFileLost (and logs it the first time) if the file
// at Path is missing or another file than the one opened.
func (db *DB) checkFile() error {
	h := &db.health
	h.mu.Lock()
	lost, known, want := h.lost, h.known, h.id
	h.mu.Unlock()
	if lost != nil {
		return lost
	} else if !known {
		return nil
	}
	id, _, err := statFileID(db.Path)
	if err == nil && id == want {
		return nil
	}
	detail := "replaced"
	if errors.Is(err, os.ErrNotExist) {
		detail = "deleted"
	} else if err != nil {
		detail = err.Error()
	}
	if h.refuse(errFileLost) {
		fileLost.Set(1)
		db.log.Error("database file lost: refusing writes; restore the file or restart on the right path",
			"path", db.Path, "detail", detail)
	}
	return errFileLost
}

// recordWrite notes the outcome of a write: a failure for lack of disk or
// an I/O error makes Ping fail for diskFailureWindow.
func (db *DB) recordWrite(err error) {
	if err == nil || !isDiskFailure(err) {
		return
	}
	h := &db.health
	h.mu.Lock()
	h.failedAt, h.failErr = time.Now(), err
	h.mu.Unlock()
	diskFailures.Inc()
}

// isDiskFailure reports whether err is SQLite's "database or disk is full"
// or an I/O error.
func isDiskFailure(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		return true
	}
	return false
}

// checkHealth is the readiness part of Ping: the file is still the one
// opened, no write failed for lack of disk in the last minute, and the
// directory has at least MinFreeBytes free.
func (db *DB) checkHealth() error {
	if err := db.checkFile(); err != nil {
		return err
	}
	h := &db.health
	h.mu.Lock()
	failErr, failedAt := h.failErr, h.failedAt
	h.mu.Unlock()
	if failErr != nil && time.Since(failedAt) < diskFailureWindow {
		return fmt.Errorf("writes are failing: %w", failErr)
	}
	minFree := db.MinFreeBytes
	if minFree == 0 {
		minFree = DefaultMinFreeBytes
	}
	if minFree > 0 {
		free, ok, err := freeBytes(filepath.Dir(db.Path))
		if err != nil {
			return fmt.Errorf("free space of %s: %w", filepath.Dir(db.Path), err)
		} else if ok && free < uint64(minFree) {
			return fmt.Errorf("only %d bytes free next to %s (need %d)", free, db.Path, minFree)
		}
	}
	return nil
}
