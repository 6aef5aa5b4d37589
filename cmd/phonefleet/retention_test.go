package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
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
