// Package retention removes old audit events and finished data-plane
// commands in the background (serve --audit-retention, --job-retention),
// after writing them to JSON-lines export files when asked to.
//
// A Worker runs a pass at start and then every Interval. A pass removes,
// a batch at a time (phonefleet.RetentionBatch rows, each batch its own
// transaction, so it never holds the writer long), the audit events older
// than AuditRetention and the commands that finished longer than
// JobRetention ago and that no retry can run any more
// (phonefleet.CommandExpired): pending and accepted commands, and failed
// ones an operator may still retry, are never touched. With ExportDir,
// each batch is first appended to a file of the pass and fsynced; only
// then is it deleted. A row exported whose delete then finds it changed (a
// retry made it pending) stays in the store and in the file.
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of retention, registered with the default registry.
var (
	removedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_retention_removed_total",
		Help: "Rows removed by retention, by table (audit_events, commands).",
	}, []string{"table"})
	failuresTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_retention_failures_total",
		Help: "Retention passes that stopped on an error (the next pass starts over).",
	})
)

// Both tables' series are served from the start, at 0, so that a
// dashboard and the documented metrics see them before the first removal.
func init() {
	for _, t := range []string{TableAuditEvents, TableCommands} {
		removedTotal.WithLabelValues(t)
	}
}

// Tables, the label of phonefleet_retention_removed_total and the prefix
// of export files.
const (
	TableAuditEvents = "audit_events"
	TableCommands    = "commands"
)

// DefaultInterval is the time between two passes.
const DefaultInterval = 10 * time.Minute

// Worker removes what retention lets go. Set the fields, then Open; Close
// stops it.
type Worker struct {
	Store phonefleet.RetentionService
	// AuditRetention and JobRetention are how long audit events and
	// finished commands are kept; 0 keeps them for ever.
	AuditRetention time.Duration
	JobRetention   time.Duration
	// ExportDir, if set, is the directory the rows go to before they are
	// removed: TABLE-YYYYMMDDTHHMMSSZ-N.jsonl, one file per table and pass
	// that removes anything.
	ExportDir string
	Interval  time.Duration // between passes; default DefaultInterval
	Batch     int           // rows per transaction; default phonefleet.RetentionBatch
	Logger    *slog.Logger  // default slog.Default() with system=retention
	Now       func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Result counts what a pass removed, by table.
type Result struct {
	AuditEvents, Commands int
}

func (w *Worker) setDefaults() {
	if w.Interval <= 0 {
		w.Interval = DefaultInterval
	}
	if w.Batch <= 0 {
		w.Batch = phonefleet.RetentionBatch
	}
	if w.Logger == nil {
		w.Logger = slog.Default().With("system", "retention")
	}
	if w.Now == nil {
		w.Now = time.Now
	}
}

// Open checks the settings and starts the loop, unless both retentions
// are 0 (then it does nothing). ExportDir must be a directory.
func (w *Worker) Open() error {
	if w.Store == nil {
		return errors.New("retention: store required")
	} else if w.cancel != nil {
		return errors.New("retention: already open")
	}
	w.setDefaults()
	if w.AuditRetention <= 0 && w.JobRetention <= 0 {
		return nil
	}
	if w.ExportDir != "" {
		if fi, err := os.Stat(w.ExportDir); err != nil {
			return fmt.Errorf("retention export directory: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("retention export directory %s is not a directory", w.ExportDir)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.loop(ctx) }()
	w.Logger.Info("retention started", "audit_retention", w.AuditRetention, "job_retention", w.JobRetention,
		"export_dir", w.ExportDir, "interval", w.Interval)
	return nil
}

// Close stops the loop and waits for a pass under way to stop at its next
// batch. Nothing is lost: a batch is exported, then deleted, in that order.
func (w *Worker) Close() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}

func (w *Worker) loop(ctx context.Context) {
	ticker := time.NewTicker(w.Interval)
	defer ticker.Stop()
	for {
		res, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			failuresTotal.Inc()
			w.Logger.Error("retention pass failed; the next one starts over", "error", err,
				"removed_audit_events", res.AuditEvents, "removed_commands", res.Commands)
		} else if res.AuditEvents+res.Commands > 0 {
			w.Logger.Info("retention pass", "removed_audit_events", res.AuditEvents, "removed_commands", res.Commands)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// RunOnce runs one pass: the audit events, then the commands, until none
// is left to remove or ctx ends. It returns what it removed, also on an
// error.
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	w.setDefaults()
	var res Result
	now := w.Now()
	if w.AuditRetention > 0 {
		n, err := w.auditPass(ctx, now.Add(-w.AuditRetention))
		res.AuditEvents = n
		if err != nil {
			return res, fmt.Errorf("audit events: %w", err)
		}
	}
	if w.JobRetention > 0 {
		n, err := w.commandPass(ctx, now.Add(-w.JobRetention))
		res.Commands = n
		if err != nil {
			return res, fmt.Errorf("commands: %w", err)
		}
	}
	return res, nil
}

// auditEventRecord is an audit event as exported: every column.
type auditEventRecord struct {
	ID       int64  `json:"id"`
	TenantID string `json:"tenant_id"`
	TokenID  string `json:"token_id"`
	*phonefleet.AuditEvent
}

func (w *Worker) auditPass(ctx context.Context, before time.Time) (int, error) {
	ex := w.newExport(TableAuditEvents)
	defer ex.close()
	removed := 0
	for ctx.Err() == nil {
		es, err := w.Store.FindExpiredAuditEvents(ctx, before, w.Batch)
		if err != nil || len(es) == 0 {
			return removed, err
		}
		ids := make([]int64, len(es))
		recs := make([]any, len(es))
		for i, e := range es {
			ids[i] = e.ID
			recs[i] = auditEventRecord{ID: e.ID, TenantID: e.TenantID, TokenID: e.TokenID, AuditEvent: e}
		}
		if err := ex.write(recs); err != nil {
			return removed, err
		}
		n, err := w.Store.DeleteAuditEvents(ctx, before, ids)
		removed += n
		removedTotal.WithLabelValues(TableAuditEvents).Add(float64(n))
		if err != nil {
			return removed, err
		} else if n == 0 {
			// Found but not deleted: nothing more will go this pass.
			return removed, nil
		}
	}
	return removed, ctx.Err()
}

func (w *Worker) commandPass(ctx context.Context, before time.Time) (int, error) {
	ex := w.newExport(TableCommands)
	defer ex.close()
	removed := 0
	var after *phonefleet.Command
	for ctx.Err() == nil {
		cs, next, err := w.Store.FindExpiredCommands(ctx, before, after, w.Batch)
		if err != nil {
			return removed, err
		}
		if len(cs) > 0 {
			ids := make([]string, len(cs))
			recs := make([]any, len(cs))
			for i, c := range cs {
				ids[i], recs[i] = c.ID, c
			}
			if err := ex.write(recs); err != nil {
				return removed, err
			}
			n, err := w.Store.DeleteCommands(ctx, before, ids)
			removed += n
			removedTotal.WithLabelValues(TableCommands).Add(float64(n))
			if err != nil {
				return removed, err
			}
		}
		if next == nil {
			return removed, nil
		}
		after = next
	}
	return removed, ctx.Err()
}

// export is the file one pass exports one table to, created at its first
// batch; without an export directory it writes nothing.
type export struct {
	dir, table string
	now        time.Time
	f          *os.File
}

func (w *Worker) newExport(table string) *export {
	return &export{dir: w.ExportDir, table: table, now: w.Now().UTC()}
}

// write appends recs as JSON lines and fsyncs the file, creating it (and
// fsyncing the directory) on the first call.
func (ex *export) write(recs []any) error {
	if ex.dir == "" {
		return nil
	}
	if ex.f == nil {
		if err := ex.create(); err != nil {
			return err
		}
	}
	buf := make([]byte, 0, 256*len(recs))
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode export row: %w", err)
		}
		buf = append(append(buf, line...), '\n')
	}
	if _, err := ex.f.Write(buf); err != nil {
		return fmt.Errorf("write %s: %w", ex.f.Name(), err)
	}
	if err := ex.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", ex.f.Name(), err)
	}
	return nil
}

// create makes the pass's file under a name no other file has.
func (ex *export) create() error {
	stamp := ex.now.Format("20060102T150405Z")
	for i := 1; ; i++ {
		name := filepath.Join(ex.dir, fmt.Sprintf("%s-%s-%d.jsonl", ex.table, stamp, i))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("create export file: %w", err)
		}
		ex.f = f
		break
	}
	d, err := os.Open(ex.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", ex.dir, err)
	}
	return nil
}

func (ex *export) close() {
	if ex.f != nil {
		ex.f.Close()
	}
}
