package postgres_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/phonefleet/phonefleet/sqlite"
	"github.com/phonefleet/phonefleet/storetest"
)

// TestSnapshot_SQLite checks the operator's path from the SQLite file to
// PostgreSQL (phonefleet copy) and back: every query answers the same in the
// copy.
func TestSnapshot_SQLite(t *testing.T) {
	adminURL := MustTestURL(t)
	pg := func(t *testing.T, now func() time.Time) phonefleet.Store {
		return MustOpenDBAt(t, MustCreateSchema(t, adminURL), now)
	}
	lite := func(t *testing.T, now func() time.Time) phonefleet.Store {
		db := sqlite.NewDB(filepath.Join(t.TempDir(), "phonefleet.db"))
		db.Now = now
		if err := db.Open(); err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	t.Run("ToPostgres", func(t *testing.T) { storetest.RunSnapshot(t, lite, pg) })
	t.Run("FromPostgres", func(t *testing.T) { storetest.RunSnapshot(t, pg, lite) })
}

// The documented move from the SQLite file to PostgreSQL, as an operator
// runs it: instances bought and unsubscribed on SQLite, then migrate and
// copy; a serve process on PostgreSQL accepts the old token and answers the
// same statuses, and the refunds came along.
func TestCopyCommand(t *testing.T) {
	dbURL := MustCreateDatabase(t, MustTestURL(t))
	bin := testingutil.MustBuildBinary(t)
	file := filepath.Join(t.TempDir(), "phonefleet.db")
	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", file)
	testingutil.MustRunCLI(t, bin, nil, "tenant", "create", "acme", "--db", file)
	token := strings.TrimSpace(testingutil.MustRunCLI(t, bin, nil, "token", "issue", "--tenant", "acme", "--db", file))

	old := testingutil.MustStartNode(t, bin, "--db", file)
	var bought purchaseData
	old.MustDo(t, "POST", "/v1/instances/create", token, purchaseBody("mv", 3), &bought)
	ids := []string{bought.InstanceInfos[0].InstanceID, bought.InstanceInfos[1].InstanceID, bought.InstanceInfos[2].InstanceID}
	old.MustDo(t, "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": ids[:1]}, nil)
	old.Stop(t)
	refundsBefore := testingutil.MustRunCLI(t, bin, nil, "refunds", "--db", file)

	testingutil.MustRunCLI(t, bin, nil, "migrate", "--db", dbURL)
	testingutil.MustRunCLI(t, bin, nil, "copy", "--from", file, "--to", dbURL)
	// PostgreSQL keeps times to the microsecond; SQLite may hold more.
	got, want := microRefunds(t, testingutil.MustRunCLI(t, bin, nil, "refunds", "--db", dbURL)), microRefunds(t, refundsBefore)
	if len(want) != 1 || !slices.Equal(got, want) {
		t.Fatalf("refunds after copy:\n%v\nwant:\n%v", got, want)
	}

	node := testingutil.MustStartNode(t, bin, "--db", dbURL, "--pg-max-conns", "4")
	// The unsubscribed one is going offline or, if the old node's worker got
	// to it, released; the others run.
	after := MustStatuses(t, node, token, ids)
	if after[ids[0]] != 3 && after[ids[0]] != 0 {
		t.Fatalf("status of %s after copy=%d, want 3 or 0", ids[0], after[ids[0]])
	} else if after[ids[1]] != 2 || after[ids[2]] != 2 {
		t.Fatalf("statuses after copy=%v, want %s and %s running (2)", after, ids[1], ids[2])
	}
	// The copy is live: the old token can unsubscribe on PostgreSQL.
	node.MustDo(t, "POST", "/v1/instances/delete", token, map[string]any{"instanceIdList": ids[1:2]}, nil)
}

// microRefunds decodes refunds JSON lines with created_at truncated to the
// microsecond.
func microRefunds(tb testing.TB, out string) []string {
	tb.Helper()
	type refundLine struct {
		InstanceID string    `json:"instance_id"`
		OrderID    string    `json:"order_id"`
		Paid       int64     `json:"paid"`
		Consumed   int64     `json:"consumed"`
		Fee        int64     `json:"fee"`
		Amount     int64     `json:"amount"`
		Currency   string    `json:"currency"`
		RequestID  string    `json:"request_id"`
		CreatedAt  time.Time `json:"created_at"`
	}
	var lines []string
	for _, r := range testingutil.MustDecodeJSONLines[refundLine](tb, out) {
		r.CreatedAt = r.CreatedAt.Truncate(time.Microsecond)
		lines = append(lines, fmt.Sprintf("%+v", r))
	}
	return lines
}
