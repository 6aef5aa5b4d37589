package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/sqlite"
)

func TestServeFlags_Retention(t *testing.T) {
	parse := func(args ...string) (*Main, error) {
		m := NewMain(&Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: os.Getenv})
		if err := m.ParseFlags(args); err != nil {
			return m, err
		}
		return m, m.Config.Validate()
	}
	m, err := parse("--audit-retention", "90d", "--job-retention", "36h", "--retention-export-dir", "/tmp")
	if err != nil {
		t.Fatal(err)
	} else if c := m.Config.RetentionConfig; c.AuditRetention != 90*24*time.Hour || c.JobRetention != 36*time.Hour || c.RetentionExportDir != "/tmp" {
		t.Fatalf("config=%+v", c)
	}
	if m, err := parse(); err != nil || m.Config.RetentionConfig != (RetentionConfig{}) {
		t.Fatalf("default retention=%+v, %v, want keep everything", m.Config.RetentionConfig, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--audit-retention", "-1h"}, "--audit-retention must be 0"},
		{[]string{"--job-retention", "-1d"}, "invalid number of days"},
		{[]string{"--job-retention", "3 days"}, "invalid duration"},
		{[]string{"--retention-export-dir", "/tmp"}, "--retention-export-dir needs --audit-retention or --job-retention"},
	} {
		_, err := parse(tc.args...)
		var cerrs ConfigErrors
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%v: err=%v, want %q", tc.args, err, tc.want)
		} else if strings.HasPrefix(tc.want, "--") && !errors.As(err, &cerrs) {
			t.Fatalf("%v: err=%T, want ConfigErrors", tc.args, err)
		}
	}
}

// FuzzDays: every value --audit-retention accepts prints as a value it
// accepts again, meaning the same duration.
func FuzzDays(f *testing.F) {
	for _, s := range []string{"90d", "36h", "0", "1d", "1h30m", "d", "-1d", "99999d", "1.5d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d days
		if err := d.Set(s); err != nil {
			return
		}
		var again days
		if err := again.Set(d.String()); err != nil || again != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, time.Duration(d), d.String(), time.Duration(again), err)
		}
	})
}

// TestMain_Retention boots serve with retention flags on a store holding
// an audit event of a year ago: the worker is wired to the store and the
// export directory, and after a pass the event is gone from the store and
// in an export file. Without the flags there is no worker.
func TestMain_Retention(t *testing.T) {
	if m, _ := MustRunMain(t, nil); m.Retention != nil {
		t.Fatal("a retention worker runs without --audit-retention or --job-retention")
	}
	db := filepath.Join(t.TempDir(), "r.db")
	store := sqlite.NewDB(db)
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateAuditEvent(t.Context(), &phonefleet.AuditEvent{
		At: time.Now().AddDate(-1, 0, 0), Action: phonefleet.ActionInstanceDelete, RequestID: "req-old", ErrorCode: phonefleet.ECodeOK,
	}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	export := t.TempDir()
	m, _ := MustRunMain(t, func(c *Config) {
		c.DB = db
		c.AuditRetention, c.JobRetention, c.RetentionExportDir = 90*24*time.Hour, 30*24*time.Hour, export
	})
	if m.Retention == nil {
		t.Fatal("no retention worker with --audit-retention")
	}
	// The worker's own first pass may run at the same time; either way,
	// once this pass returns the event is gone and was exported first.
	if _, err := m.Retention.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	es, err := m.Store.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.RequestID == "req-old" {
			t.Fatal("the year-old audit event is still there")
		}
	}
	files, _ := filepath.Glob(filepath.Join(export, "audit_events-*.jsonl"))
	var all string
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all += string(buf)
	}
	if !strings.Contains(all, `"request_id":"req-old"`) {
		t.Fatalf("export files %v hold %q, want the removed event", files, all)
	}
}
