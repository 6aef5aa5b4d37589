package main

import (
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRun: on a database made by phonefleet bench, sqlfloor runs the
// writer's statements on both drivers, in either order of instances, and
// prints a time for every step and the ratio for every group size.
func TestRun(t *testing.T) {
	dbPath := benchDB(t, "--instances", "500", "--duration", "100ms", "--conns", "2", "--workload", "query")
	for _, order := range []string{"random", "id"} {
		t.Run(order, func(t *testing.T) { testRun(t, dbPath, order) })
	}
}

func testRun(t *testing.T, dbPath, order string) {
	var out strings.Builder
	if err := run([]string{"--db", dbPath, "--instances", "400", "--rounds", "1", "--order", order}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if want := "in " + order + " order"; !strings.Contains(out.String(), want) {
		t.Errorf("output does not say %q:\n%s", want, out.String())
	}
	rows := regexp.MustCompile(`(?m)^(C|pure Go)\s+(\d+)((?:\s+\d+\.\d)+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 6 {
		t.Fatalf("%d result rows, want 6 (2 drivers x 3 group sizes):\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		times := strings.Fields(r[3])
		if len(times) != len(steps)+1 {
			t.Errorf("%s, groups of %s: %d figures, want %d", r[1], r[2], len(times), len(steps)+1)
			continue
		}
		if total, _ := strconv.ParseFloat(times[len(times)-1], 64); total <= 0 {
			t.Errorf("%s, groups of %s: total %s µs per instance", r[1], r[2], times[len(times)-1])
		}
	}
	if n := strings.Count(out.String(), "pure Go / C = "); n != 3 {
		t.Errorf("%d ratio lines, want 3:\n%s", n, out.String())
	}
}

// TestRun_TooFewInstances: a database with fewer running instances than
// asked for is an error that says how to get more.
func TestRun_TooFewInstances(t *testing.T) {
	dbPath := benchDB(t, "--instances", "50", "--duration", "50ms", "--conns", "1", "--workload", "query")
	var out strings.Builder
	err := run([]string{"--db", dbPath, "--instances", "400"}, &out)
	if err == nil || !strings.Contains(err.Error(), "raise bench --instances") {
		t.Fatalf("run = %v, want the shortfall named", err)
	}
}

// TestRun_BadOrder: an --order that is neither random nor id is an error
// naming it.
func TestRun_BadOrder(t *testing.T) {
	err := run([]string{"--db", "unused.db", "--order", "sorted"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `--order "sorted"`) {
		t.Fatalf("run = %v, want the bad --order named", err)
	}
}

// benchDB runs phonefleet bench of the repository with args on a new
// database file and returns its path.
func benchDB(t *testing.T, args ...string) string {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "floor.db")
	bench := exec.Command("go", append([]string{"-C", "../..", "run", "./cmd/phonefleet", "bench", "--db", dbPath}, args...)...)
	if out, err := bench.CombinedOutput(); err != nil {
		t.Fatalf("phonefleet bench: %v\n%s", err, out)
	}
	return dbPath
}
