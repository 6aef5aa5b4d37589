// Command mutants checks that the test suite catches the bugs that matter.
// It copies the repository (tracked and untracked files, ignoring what git
// ignores) to a temporary directory, applies each mutation of the list
// below in turn (a small edit to one line of code, SQL or a constant), runs
// the tests of the packages that must catch it, and prints whether the
// tests failed (caught) or passed (survived).
//
// Run it from anywhere in the repository, with PostgreSQL configured as CI
// runs the tests:
//
//	PHONEFLEET_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//		go run ./scripts/mutants [-run REGEXP] [-list] [-check] [-failfast=false] [-v]
//
// Every mutation names the exact text it replaces, which must occur exactly
// once in its file: when the code it targets is changed or moved, the
// mutation is reported as stale instead of silently testing nothing, and the
// list must be updated with the code. The unmutated copy must pass the same
// tests first. The exit status is 0 only when every mutation was applied,
// compiled and caught.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// mutation is one deliberate bug: in file, old (which must occur exactly
// once) becomes new, and the tests of pkgs must fail. A file ending in "/"
// is a package directory: old must occur exactly once in all its non-test
// Go files together, so the mutation survives code moving between files.
type mutation struct {
	name     string
	file     string
	old, new string
	pkgs     []string
}

// Package sets.
var (
	root     = []string{"."}
	stores   = []string{"./sqlite", "./postgres"}
	sqliteP  = []string{"./sqlite"}
	pg       = []string{"./postgres"}
	httpP    = []string{"./http"}
	releaseP = []string{"./release"}
	e2eP     = []string{"./e2e"}
)

func join(sets ...[]string) []string {
	var out []string
	for _, s := range sets {
		for _, p := range s {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// mutations is the list. The first group survived the suite once (the
// tests that catch them were written for that); the rest were always
// caught and stay here so they remain so.
var mutations = []mutation{
	// Signatures, replays, reports, clocks and lost commits (issue 21).
	{"root: a data-plane signature does not cover the path", "signature.go",
		`strconv.FormatInt(t, 10) + "." + method + " " + path + "."`, `strconv.FormatInt(t, 10) + "." + method + " " + "."`, root},
	{"root: a signature from the future is accepted", "signature.go",
		"d > SignatureTolerance || d < -SignatureTolerance", "d < -SignatureTolerance", root},
	{"root: a report of a job that timed out repeats as a no-op", "command.go",
		"case cmd.Reported && cmd.State == r.State:", "case cmd.State == r.State:", root},
	{"sqlite: a signature already accepted is fresh again", "sqlite/signature.go",
		"fresh = n == 1", "fresh = n >= 0", sqliteP},
	{"postgres: a signature already accepted is fresh again", "postgres/signature.go",
		"fresh = tag.RowsAffected() == 1", "fresh = tag.RowsAffected() >= 0", pg},
	{"sqlite: a batched completion keeps the last error", "sqlite/complete_batch.go",
		"done_at = ?, last_error = '', lease_owner", "done_at = ?, lease_owner", sqliteP},
	{"postgres: a completion keeps the last error", "postgres/command.go",
		"done_at = $2, last_error = '', reported = $3", "done_at = $2, reported = $3", pg},
	{"sqlite: a group plans every tenant on the process's clock", "sqlite/unsubscribe_batch.go",
		"if t, ok := nows[u.req.TenantID]; ok {\n\t\t\tnow = t", "if t, ok := nows[u.req.TenantID]; ok {\n\t\t\t_ = t", sqliteP},
	{"postgres: a shared unsubscribe plans every tenant on the first one's clock", "postgres/unsubscribe.go",
		"now := offsets[op.req.TenantID].AddTo(wall)", "now := offsets[ops[0].req.TenantID].AddTo(wall)", pg},
	{"postgres: a lost COMMIT answer that pgx calls safe to retry is taken as not sent", "postgres/conn.go",
		"HasPrefix(pgErr.Code, \"08\")\n\t}\n\treturn true", "HasPrefix(pgErr.Code, \"08\")\n\t}\n\treturn !pgconn.SafeToRetry(err)", pg},

	// Money and leases (issue 21): each write path that inserts refunds
	// stores the amount the rule computed, and a worker whose lease ran
	// out and was taken over changes nothing with its late report.
	{"sqlite: a grouped unsubscribe stores the paid amount as the refund", "sqlite/",
		"r.Fee, r.Amount, r.Currency, r.RequestID, formatTime(r.CreatedAt)})",
		"r.Fee, r.Paid, r.Currency, r.RequestID, formatTime(r.CreatedAt)})", sqliteP},
	{"sqlite: a single unsubscribe stores the paid amount as the refund", "sqlite/",
		"r.Fee, r.Amount, r.Currency, r.RequestID, formatTime(r.CreatedAt)); err != nil {",
		"r.Fee, r.Paid, r.Currency, r.RequestID, formatTime(r.CreatedAt)); err != nil {", sqliteP},
	{"postgres: an unsubscribe (alone or coalesced) stores the paid amount as the refund", "postgres/",
		"append(w.amount, r.Amount)", "append(w.amount, r.Paid)", pg},
	{"postgres: the refund insert takes the paid column as the amount", "postgres/",
		"u.consumed, u.fee, u.amount, u.currency", "u.consumed, u.fee, u.paid, u.currency", pg},
	{"sqlite: a snapshot import stores the paid amount as the refund", "sqlite/",
		"\n\t\t\tr.Amount, r.Currency, r.RequestID, formatTime(r.CreatedAt)); err != nil {",
		"\n\t\t\tr.Paid, r.Currency, r.RequestID, formatTime(r.CreatedAt)); err != nil {", sqliteP},
	{"postgres: a snapshot import stores the paid amount as the refund", "postgres/",
		"r.Fee, r.Amount, r.Currency, r.RequestID, r.CreatedAt}", "r.Fee, r.Paid, r.Currency, r.RequestID, r.CreatedAt}", pg},
	{"sqlite: a failed attempt to retry ignores its lease owner", "sqlite/",
		"lease_owner = ? AND state = 'pending'`\n\t\targs := []any{lastError",
		"(lease_owner = ? OR 1) AND state = 'pending'`\n\t\targs := []any{lastError", sqliteP},
	{"sqlite: a final failed attempt ignores its lease owner", "sqlite/",
		"lease_owner = ? AND state = 'pending'`\n\t\t\targs = []any{lastError",
		"(lease_owner = ? OR 1) AND state = 'pending'`\n\t\t\targs = []any{lastError", sqliteP},
	{"postgres: a failed attempt ignores its lease owner", "postgres/",
		"lease_owner = $2 AND state = 'pending'`,\n\t\t\tjobID, owner, lastError",
		"(lease_owner = $2 OR true) AND state = 'pending'`,\n\t\t\tjobID, owner, lastError", pg},
	{"sqlite: an accepted delivery ignores its lease owner", "sqlite/",
		"lease_owner = ? AND state = 'pending'\n\t\t`, formatTime(deadline), jobID, owner)",
		"(lease_owner = ? OR 1) AND state = 'pending'\n\t\t`, formatTime(deadline), jobID, owner)", sqliteP},
	{"postgres: an accepted delivery ignores its lease owner", "postgres/",
		"lease_owner = $2 AND state = 'pending'`, jobID, owner, deadline.UTC())",
		"(lease_owner = $2 OR true) AND state = 'pending'`, jobID, owner, deadline.UTC())", pg},

	// PostgreSQL transactions.
	{"postgres: a failed operation commits what it wrote", "postgres/",
		"\tdefer tx.Rollback(context.Background())\n\tnow, err := db.",
		"\tdefer tx.Commit(context.Background())\n\tnow, err := db.", pg},
	{"postgres: serialization failures are not retried", "postgres/",
		"return code == codeSerializationFailure || code == codeDeadlockDetected",
		"return code == codeDeadlockDetected", pg},
	{"postgres: deadlocks are not retried", "postgres/",
		"return code == codeSerializationFailure || code == codeDeadlockDetected",
		"return code == codeSerializationFailure", pg},
	{"postgres: retries are unbounded by MaxAttempts", "postgres/",
		"if attempt >= MaxAttempts ||", "if attempt >= MaxAttempts+1 ||", pg},
	{"postgres: the refund key does not make unsubscribe run again", "postgres/",
		`isUniqueViolation(err, "refunds_pkey", "commands_pkey",`, `isUniqueViolation(err, "commands_pkey",`, pg},
	{"postgres: assign, unassign and commands take no row lock", "postgres/",
		"ORDER BY i.id FOR UPDATE OF i\n\t\t`, tenantID, ids)", "ORDER BY i.id\n\t\t`, tenantID, ids)", pg},
	{"postgres: an update that missed an instance is not an error", "postgres/",
		"} else if tag.RowsAffected() != int64(n) {", "} else if tag.RowsAffected() > int64(n) {", pg},

	// The schema's last guards.
	{"postgres schema: no primary key on refunds", "postgres/migration/0001_init.sql",
		"\tinstance_id text PRIMARY KEY REFERENCES instances (id),\n\ttenant_id   text NOT NULL REFERENCES tenants (id),\n\torder_id    text NOT NULL,",
		"\tinstance_id text REFERENCES instances (id),\n\ttenant_id   text NOT NULL REFERENCES tenants (id),\n\torder_id    text NOT NULL,", pg},
	{"sqlite schema: no primary key on refunds", "sqlite/migration/0001_init.sql",
		"CREATE TABLE refunds (\n\tinstance_id TEXT PRIMARY KEY REFERENCES instances (id),",
		"CREATE TABLE refunds (\n\tinstance_id TEXT REFERENCES instances (id),", sqliteP},
	{"postgres schema: more than one release per instance", "postgres/migration/0006_commands.sql",
		"CREATE UNIQUE INDEX commands_release_idx", "CREATE INDEX commands_release_idx", pg},
	{"sqlite schema: more than one release per instance", "sqlite/migration/0006_commands.sql",
		"CREATE UNIQUE INDEX commands_release_idx", "CREATE INDEX commands_release_idx", sqliteP},
	{"postgres schema: more than one command in flight per instance", "postgres/migration/0006_commands.sql",
		"CREATE UNIQUE INDEX commands_in_flight_idx", "CREATE INDEX commands_in_flight_idx", pg},
	{"sqlite schema: more than one command in flight per instance", "sqlite/migration/0006_commands.sql",
		"CREATE UNIQUE INDEX commands_in_flight_idx", "CREATE INDEX commands_in_flight_idx", sqliteP},

	// SQLite transactions.
	{"sqlite: an update that missed an instance is not an error", "sqlite/",
		"} else if n != 1 {\n\t\t\treturn fmt.Errorf(\"update instance %s: not running any more",
		"} else if n > 1 {\n\t\t\treturn fmt.Errorf(\"update instance %s: not running any more", sqliteP},
	{"sqlite: a failed operation in a batch is not rolled back", "sqlite/",
		"`ROLLBACK TO op`", "`SELECT 1`", sqliteP},

	{"sqlite: a failed group goes on in the same transaction", "sqlite/",
		"if err := db.unsubscribeGroup(ctx, btx, batch, errs, grouped); err != nil {\n\t\t\treturn err",
		"if err := db.unsubscribeGroup(ctx, btx, batch, errs, grouped); err != nil {\n\t\t\t_ = err", sqliteP},

	{"sqlite: a batch is answered without an fsync of the log", "sqlite/",
		"if syncErr = db.checkFile(); syncErr == nil {\n\t\t\t\t\tsyncErr = db.syncWAL()",
		"if syncErr = db.checkFile(); syncErr != nil {\n\t\t\t\t\tsyncErr = db.syncWAL()", sqliteP},

	{"sqlite: a failed operation without group commit commits what it wrote", "sqlite/",
		"\tdefer tx.Rollback()\n\tif err := fn(ctx, tx); err != nil {",
		"\tdefer tx.sqlTx.Commit()\n\tif err := fn(ctx, tx); err != nil {", sqliteP},

	// Input limits.
	{"an unsubscribe of exactly 100 IDs is refused", "./",
		"} else if len(ids) > MaxUnsubscribeIDs {", "} else if len(ids) >= MaxUnsubscribeIDs {", join(root, httpP, e2eP)},
	{"an unsubscribe of 101 IDs is accepted", "./",
		"} else if len(ids) > MaxUnsubscribeIDs {", "} else if len(ids) > MaxUnsubscribeIDs+1 {", join(root, httpP, e2eP)},

	// Release worker.
	{"release: a delivery may last the whole lease", "release/",
		"w.Lease*4/5)", "w.Lease)", releaseP},
	{"ValidateClaim accepts anything", "./",
		"func ValidateClaim(owner string, limit int, lease time.Duration) error {",
		"func ValidateClaim(owner string, limit int, lease time.Duration) error {\n\treturn nil", join(root, stores)},
	{"ValidateClaim accepts a zero lease", "./",
		"} else if limit <= 0 || lease <= 0 {", "} else if limit <= 0 || lease < 0 {", join(root, stores)},

	// Refund boundaries and fee table (caught before).
	{"refund: the five-day window excludes its last instant", "./",
		"if now.Sub(in.StartsAt) <= FullRefundWindow {", "if now.Sub(in.StartsAt) < FullRefundWindow {", root},
	{"refund: the five-day window is a day longer", "./",
		"const FullRefundWindow = 120 * time.Hour", "const FullRefundWindow = 144 * time.Hour", root},
	{"refund: the last, partial hour of the period is not counted", "./",
		"\tif span%time.Hour > 0 {\n\t\tperiodHours++", "\tif span%time.Hour > 0 {\n\t\tperiodHours += 0", root},
	{"refund: the amount may go below zero", "./",
		"r.Amount = max(r.Paid-r.Consumed-r.Fee, 0)", "r.Amount = r.Paid - r.Consumed - r.Fee", root},
	{"fee: monthly 15%", "./",
		"if in.BillingMode != BillingModeYearly {\n\t\treturn 10", "if in.BillingMode != BillingModeYearly {\n\t\treturn 15", root},
	{"fee: 2-year first year 10%", "./",
		"return [...]int64{15, 10}[year-1]", "return [...]int64{10, 10}[year-1]", root},
	{"fee: 3-year third year 10%", "./",
		"return [...]int64{15, 10, 5}[year-1]", "return [...]int64{15, 10, 10}[year-1]", root},
	{"fee: the year of use changes after the anniversary, not on it", "./",
		"!now.Before(start.AddDate(year, 0, 0))", "now.After(start.AddDate(year, 0, 0))", root},

	// Check order and ownership (caught before).
	{"pay-per-use is checked before ownership", "./",
		"\tif len(missing) > 0 {\n\t\treturn nil, Errorf(ENotOwned,", "\tif len(missing) > 0 && len(payPerUse) == 0 {\n\t\treturn nil, Errorf(ENotOwned,", join(root, httpP, e2eP)},
	{"an instance of another tenant counts as owned", "./",
		"if in == nil || in.TenantID != tenantID {", "if in == nil {", root},
	{"the delete route checks a query action", "http/",
		`"POST /v1/instances/delete", s.authenticated(phonefleet.ActionInstanceDelete,`,
		`"POST /v1/instances/delete", s.authenticated(phonefleet.ActionQueryInstanceBatch,`, join(httpP, e2eP)},

	// Claim locking (caught before).
	{"postgres: a live lease does not keep a job from being claimed", "postgres/",
		"AND (lease_expires_at IS NULL OR lease_expires_at <= $1)", "AND (lease_expires_at IS NULL OR lease_expires_at <= $1 OR true)", pg},
	{"sqlite: a live lease does not keep a job from being claimed", "sqlite/",
		"IS NULL OR c.lease_expires_at <= ?)", "IS NULL OR c.lease_expires_at <= ? OR 1)", join(sqliteP, releaseP)},
	{"postgres: concurrent unsubscribes do not lock their instances", "postgres/",
		"ORDER BY i.id FOR UPDATE OF i`", "ORDER BY i.id FOR KEY SHARE OF i`", pg},
}

func main() {
	run := flag.String("run", "", "only the mutations whose name matches this regular expression")
	list := flag.Bool("list", false, "list the mutations and exit")
	check := flag.Bool("check", false, "only check that every mutation still applies to the code, and exit")
	verbose := flag.Bool("v", false, "print the failing tests of each caught mutation")
	timeout := flag.Duration("timeout", 15*time.Minute, "time limit of one go test run")
	flag.BoolVar(&failFast, "failfast", true, "stop each package's tests at its first failure (-failfast=false -v lists every test that catches a mutation)")
	flag.Parse()

	ms := mutations
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fatalf("-run: %v", err)
		}
		ms = slices.DeleteFunc(slices.Clone(ms), func(m mutation) bool { return !re.MatchString(m.name) })
	}
	if *list {
		for _, m := range ms {
			fmt.Printf("%-70s %s %v\n", m.name, m.file, m.pkgs)
		}
		return
	}
	if *check {
		repo, err := output("git", "rev-parse", "--show-toplevel")
		if err != nil {
			fatalf("not in a git repository: %v", err)
		}
		bad := 0
		for _, m := range ms {
			if err := matches(repo, m); err != nil {
				fmt.Printf("STALE     %s: %v\n", m.name, err)
				bad++
			}
		}
		if bad > 0 {
			fatalf("%d mutation(s) no longer match the code: update the list", bad)
		}
		fmt.Printf("all %d mutations apply\n", len(ms))
		return
	}
	if os.Getenv("PHONEFLEET_TEST_POSTGRES_URL") == "" {
		fatalf("PHONEFLEET_TEST_POSTGRES_URL is not set: the PostgreSQL tests would skip and their mutations survive")
	}

	repo, err := output("git", "rev-parse", "--show-toplevel")
	if err != nil {
		fatalf("not in a git repository: %v", err)
	}
	tmp, err := os.MkdirTemp("", "phonefleet-mutants-")
	if err != nil {
		fatalf("%v", err)
	}
	tmpDir = tmp
	defer os.RemoveAll(tmp)

	// Interrupted, stop the tests running (and every process they started)
	// and remove the copy.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := copyRepo(repo, tmp); err != nil {
		fatalf("copy %s: %v", repo, err)
	}

	// Every mutation must apply to the code as it is now.
	bad := 0
	for _, m := range ms {
		if err := matches(tmp, m); err != nil {
			fmt.Printf("STALE     %s: %v\n", m.name, err)
			bad++
		}
	}
	if bad > 0 {
		fatalf("%d mutation(s) no longer match the code: update the list", bad)
	}

	var all []string
	for _, m := range ms {
		all = join(all, m.pkgs)
	}
	fmt.Printf("baseline: go test %s\n", strings.Join(all, " "))
	if ok, out := goTest(ctx, tmp, all, *timeout); !ok {
		if ctx.Err() != nil {
			fatalf("interrupted")
		}
		fmt.Print(out)
		fatalf("the unmutated copy fails its tests: nothing can be learnt from mutations")
	}

	var survived, broken []string
	for i, m := range ms {
		path, orig, err := apply(tmp, m)
		if err != nil {
			fatalf("%s: %v", m.name, err)
		}
		start := time.Now()
		ok, out := goTest(ctx, tmp, m.pkgs, *timeout)
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			fatalf("restore %s: %v", path, err)
		}
		if ctx.Err() != nil {
			fatalf("interrupted")
		}
		took := time.Since(start).Round(time.Second)
		switch {
		case ok:
			survived = append(survived, m.name)
			fmt.Printf("[%2d/%d] SURVIVED  %s (%s, %s)\n", i+1, len(ms), m.name, strings.Join(m.pkgs, " "), took)
		case buildFailed(out):
			broken = append(broken, m.name)
			fmt.Printf("[%2d/%d] NO BUILD  %s (%s)\n%s", i+1, len(ms), m.name, took, out)
		default:
			fails := failedTests(out)
			fmt.Printf("[%2d/%d] caught    %s (%s) by %s\n", i+1, len(ms), m.name, took, summary(fails, 4))
			if *verbose {
				for _, f := range fails {
					fmt.Printf("            %s\n", f)
				}
			}
		}
	}
	fmt.Printf("\n%d mutations: %d caught, %d survived, %d did not build\n",
		len(ms), len(ms)-len(survived)-len(broken), len(survived), len(broken))
	for _, name := range survived {
		fmt.Printf("survived: %s\n", name)
	}
	if len(survived)+len(broken) > 0 {
		os.Exit(1)
	}
}

// locate returns the path under dir of the one file m mutates and its
// content, or an error unless m.old occurs exactly once in m.file (in all
// the non-test Go files of a package directory together).
func locate(dir string, m mutation) (string, []byte, error) {
	paths := []string{filepath.Join(dir, m.file)}
	if strings.HasSuffix(m.file, "/") {
		all, err := filepath.Glob(filepath.Join(dir, m.file, "*.go"))
		if err != nil {
			return "", nil, err
		}
		paths = slices.DeleteFunc(all, func(p string) bool { return strings.HasSuffix(p, "_test.go") })
	}
	var found string
	var content []byte
	total := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", nil, err
		}
		if n := bytes.Count(b, []byte(m.old)); n > 0 {
			total += n
			found, content = p, b
		}
	}
	if total != 1 {
		return "", nil, fmt.Errorf("%s: the text to mutate occurs %d times, want once: %q", m.file, total, m.old)
	}
	return found, content, nil
}

// matches checks, without writing, that m applies to the tree at dir.
func matches(dir string, m mutation) error {
	_, _, err := locate(dir, m)
	return err
}

// apply writes m into the copy at dir and returns the path of the file it
// changed and the file's original content.
func apply(dir string, m mutation) (string, []byte, error) {
	path, orig, err := locate(dir, m)
	if err != nil {
		return "", nil, err
	}
	mutated := bytes.Replace(orig, []byte(m.old), []byte(m.new), 1)
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return "", nil, err
	}
	return path, orig, nil
}

// failFast passes -failfast to go test.
var failFast = true

// goTest runs the packages' tests in dir, uncached, and reports whether
// they passed, with the combined output.
func goTest(ctx context.Context, dir string, pkgs []string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := []string{"test", "-count=1"}
	if failFast {
		args = append(args, "-failfast")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = dir
	// go test starts test binaries, which start phonefleet and more: end
	// the whole process group, not only go test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return false, out.String() + "\n(timed out or interrupted)\n"
	}
	return err == nil, out.String()
}

// buildFailed reports whether go test could not compile the mutated code:
// such a mutation proves nothing and must be rewritten.
func buildFailed(out string) bool {
	return strings.Contains(out, "[build failed]") || strings.Contains(out, "[setup failed]")
}

var failRE = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// failedTests returns the names of the failed tests and subtests in out,
// or the FAIL lines when no test failed by name (a panic, a timeout).
func failedTests(out string) []string {
	var names []string
	for _, m := range failRE.FindAllStringSubmatch(out, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "FAIL") || strings.Contains(line, "panic:") {
				names = append(names, strings.TrimSpace(line))
			}
		}
	}
	return names
}

// summary keeps the most specific names: a subtest hides its parents.
func summary(names []string, max int) string {
	var leaves []string
	for _, n := range names {
		parent := false
		for _, o := range names {
			if o != n && strings.HasPrefix(o, n+"/") {
				parent = true
			}
		}
		if !parent && !slices.Contains(leaves, n) {
			leaves = append(leaves, n)
		}
	}
	if len(leaves) > max {
		return fmt.Sprintf("%s and %d more", strings.Join(leaves[:max], ", "), len(leaves)-max)
	}
	return strings.Join(leaves, ", ")
}

// copyRepo copies the files git knows or would add (tracked and untracked,
// not ignored) from repo to dir.
func copyRepo(repo, dir string) error {
	out, err := output("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return err
	}
	for _, name := range strings.Split(strings.TrimRight(out, "\x00"), "\x00") {
		src := filepath.Join(repo, name)
		info, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		} else if err != nil {
			return err
		} else if !info.Mode().IsRegular() {
			continue
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(src, dst, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return strings.TrimSpace(string(out)), err
}

// tmpDir is the copy of the repository, removed by fatalf too.
var tmpDir string

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mutants: "+format+"\n", args...)
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(2)
}
