package postgres_test

import (
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet/internal/testingutil"
)

// TestOperatorCLI_NoLimitLines: operator commands on PostgreSQL do not log
// the connection budget or the superuser warning on every call; serve logs
// the budget once when it starts (and, connected as the test's superuser,
// the warning once).
func TestOperatorCLI_NoLimitLines(t *testing.T) {
	dbURL := MustCreateSchema(t, MustTestURL(t))
	bin := testingutil.MustBuildBinary(t)
	for _, args := range [][]string{
		{"migrate", "--db", dbURL},
		{"tenant", "create", "acme", "--db", dbURL},
		{"tenant", "list", "--db", dbURL},
		{"audit", "--db", dbURL},
	} {
		r := testingutil.RunCLI(t, bin, nil, args...)
		if r.Code != 0 {
			t.Fatalf("phonefleet %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
		}
		if strings.Contains(r.Stderr, "connection budget") || strings.Contains(r.Stderr, "superuser") {
			t.Errorf("phonefleet %s logged the server's limits:\n%s", strings.Join(args, " "), r.Stderr)
		}
	}
	node := testingutil.MustStartNode(t, bin, "--db", dbURL)
	logs := node.Stderr.String()
	if n := strings.Count(logs, "connection budget"); n != 1 {
		t.Errorf("serve logged the connection budget %d times, want once:\n%s", n, logs)
	}
}
