package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/retention"
)

// RetentionConfig is how long serve keeps audit events and finished
// commands (0: for ever) and where it exports them before removing them.
type RetentionConfig struct {
	AuditRetention     time.Duration
	JobRetention       time.Duration
	RetentionExportDir string
}

// addFlags registers the retention flags of serve.
func (c *RetentionConfig) addFlags(fs *flagSet) {
	fs.Var((*days)(&c.AuditRetention), "audit-retention", "remove audit events older than this `duration` (e.g. 90d or 2160h), in the background (0: keep them)")
	fs.Var((*days)(&c.JobRetention), "job-retention", "remove data-plane commands that finished longer ago than this `duration` (e.g. 30d) and can no longer be retried (0: keep them)")
	fs.StringVar(&c.RetentionExportDir, "retention-export-dir", c.RetentionExportDir, "write what retention removes to JSON-lines files in this directory first")
}

// validate reports the wrong retention settings through bad.
func (c *RetentionConfig) validate(bad func(flag, format string, args ...any)) {
	if c.AuditRetention < 0 {
		bad("--audit-retention", "must be 0 (keep) or more")
	}
	if c.JobRetention < 0 {
		bad("--job-retention", "must be 0 (keep) or more")
	}
	if c.RetentionExportDir != "" && c.AuditRetention == 0 && c.JobRetention == 0 {
		bad("--retention-export-dir", "needs --audit-retention or --job-retention")
	}
}

// openRetention starts the retention worker when a retention is set.
func (m *Main) openRetention() error {
	cfg := m.Config.RetentionConfig
	if cfg.AuditRetention == 0 && cfg.JobRetention == 0 {
		return nil
	}
	store, ok := m.Store.(phonefleet.RetentionService)
	if !ok {
		return fmt.Errorf("--audit-retention, --job-retention: this store cannot remove old rows")
	}
	m.Retention = &retention.Worker{
		Store: store, AuditRetention: cfg.AuditRetention, JobRetention: cfg.JobRetention,
		ExportDir: cfg.RetentionExportDir, Logger: m.Logger.With("system", "retention"),
	}
	if err := m.Retention.Open(); err != nil {
		return fmt.Errorf("--retention-export-dir: %w", err)
	}
	return nil
}

// days is a duration flag that also takes whole days ("90d").
type days time.Duration

func (d *days) String() string {
	if d == nil || *d == 0 {
		return "0"
	} else if time.Duration(*d)%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", time.Duration(*d)/(24*time.Hour))
	}
	return time.Duration(*d).String()
}

// Get returns the duration, so that days is a flag.Getter like the
// standard duration flags.
func (d *days) Get() any { return time.Duration(*d) }

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		k, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid number of days %q", s)
		}
		*d = days(time.Duration(k) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (e.g. 90d, 36h)", s)
	}
	*d = days(v)
	return nil
}
