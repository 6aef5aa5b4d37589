package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/sqlite"
)

// TestAuditCommand: phonefleet audit filters by tenant, action, instance,
// actor and time, exports JSON lines or CSV past its read batch, keeps the
// newest --limit events, and refuses bad flags naming them.
func TestAuditCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	acme := strings.TrimSpace(mustCLI(t, "tenant", "create", "acme", "--db", db))
	beta := strings.TrimSpace(mustCLI(t, "tenant", "create", "beta", "--db", db))
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	store := sqlite.NewDB(db)
	store.Logger = slog.New(slog.DiscardHandler)
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	const n = 2503
	for i := range n {
		e := &phonefleet.AuditEvent{At: start.Add(time.Duration(i) * time.Minute), TenantID: acme, Action: phonefleet.ActionInstanceCreate,
			Actor: "alice", RequestID: fmt.Sprintf("r%d", i), InstanceIDs: []string{fmt.Sprintf("in%d", i%10)}, ErrorCode: "0", Detail: "a, \"b\""}
		if i%5 == 0 {
			e.Action, e.Actor, e.DryRun = phonefleet.ActionInstanceDelete, "ci-token", true
		}
		if err := store.CreateAuditEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.CreateAuditEvent(context.Background(), &phonefleet.AuditEvent{At: start, TenantID: beta, Action: "instanceCreate", Actor: "alice", RequestID: "beta", ErrorCode: "0"}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	lines := func(out string) []map[string]any {
		t.Helper()
		var got []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			got = append(got, m)
		}
		return got
	}
	all := lines(mustCLI(t, "audit", "--tenant", "acme", "--db", db))
	if len(all) != n || all[0]["request_id"] != fmt.Sprintf("r%d", n-1) || all[n-1]["request_id"] != "r0" || all[n-1]["dry_run"] != true || all[n-1]["actor"] != "ci-token" {
		t.Fatalf("acme's trail: %d events, newest %v, oldest %v", len(all), all[0], all[n-1])
	}
	// Without --tenant, beta's event (written last) comes first.
	if got := lines(mustCLI(t, "audit", "--limit", "1500", "--db", db)); len(got) != 1500 || got[0]["request_id"] != "beta" || got[1499]["request_id"] != fmt.Sprintf("r%d", n-1499) {
		t.Fatalf("--limit 1500: %d events, last %v", len(got), got[len(got)-1])
	}
	got := lines(mustCLI(t, "audit", "--actor", "ci-token", "--instance", "in5", "--since", start.Add(100*time.Minute).Format(time.RFC3339),
		"--until", start.Add(200*time.Minute).Format(time.RFC3339), "--db", db))
	if len(got) != 10 || got[0]["request_id"] != "r195" || got[9]["request_id"] != "r105" {
		t.Fatalf("filtered: %v", got)
	}

	out := mustCLI(t, "audit", "--action", "instanceDelete", "--format", "csv", "--db", db)
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(records[0], ",") != strings.Join(phonefleet.AuditCSVHeader, ",") || len(records) != 1+(n+4)/5 {
		t.Fatalf("csv: header %v, %d rows, want %d", records[0], len(records), 1+(n+4)/5)
	}
	if r := records[1]; r[2] != "acme" || r[3] != "ci-token" || r[6] != "true" || r[7] != "instanceDelete" || r[8] != "r2500" || r[11] != `a, "b"` {
		t.Fatalf("csv newest row %q", r)
	}

	for _, tc := range []struct{ args, msg string }{
		{"--format xml", "--format must be jsonl or csv"},
		{"--since yesterday", "--since must be an RFC 3339 time"},
		{"--until 2026-12-01", "--until must be an RFC 3339 time"},
		{"--since 2026-12-02T00:00:00Z --until 2026-12-01T00:00:00Z", "--since must be before --until"},
		{"--actor " + strings.Repeat("x", 129), "--actor must be at most 128 bytes"},
	} {
		_, errOut, code := runCLI(t, append(append([]string{"audit"}, strings.Fields(tc.args)...), "--db", db)...)
		if code != 2 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("audit %s: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.msg)
		}
	}
}
