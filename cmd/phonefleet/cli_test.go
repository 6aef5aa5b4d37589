package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// runCLI runs the CLI in-process with PHONEFLEET_DB unset.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI runs the CLI and fails the test unless it exits 0 with nothing on
// stderr; it returns stdout.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("phonefleet %s: exit %d, stderr %q, want 0 and nothing", strings.Join(args, " "), code, errOut)
	}
	return out
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantPos []string
		wantDB  string
	}{
		{[]string{"create", "acme"}, []string{"create", "acme"}, "def"},
		{[]string{"--db", "x.db", "create", "acme"}, []string{"create", "acme"}, "x.db"},
		{[]string{"create", "--db", "x.db", "acme"}, []string{"create", "acme"}, "x.db"},
		{[]string{"create", "acme", "--db=x.db"}, []string{"create", "acme"}, "x.db"},
		{[]string{"create", "--", "--db"}, []string{"create", "--db"}, "def"},
	} {
		var db string
		fs := &flagSet{FlagSet: flag.NewFlagSet("t", flag.ContinueOnError)}
		fs.StringVar(&db, "db", "def", "")
		pos, err := parseArgs(fs, tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !slices.Equal(pos, tc.wantPos) || db != tc.wantDB {
			t.Fatalf("%v: pos=%q db=%q, want %q %q", tc.args, pos, db, tc.wantPos, tc.wantDB)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"OK", func(*Config) {}, ""},
		{"Webhook", func(c *Config) {
			c.ReleaseDriver, c.WebhookURL, c.WebhookSecret = "webhook", "http://127.0.0.1:9/x", "s"
		}, ""},
		{"ErrAddr", func(c *Config) { c.Addr = "" }, "--addr"},
		{"TrustedProxies", func(c *Config) { c.TrustedProxies = "10.0.0.0/8, 192.0.2.1,2001:db8::/32" }, ""},
		{"ErrTrustedProxiesPrefix", func(c *Config) { c.TrustedProxies = "10.0.0.0/8,10.0.0.0/33" }, `--trusted-proxies "10.0.0.0/33" is not a CIDR`},
		{"ErrTrustedProxiesName", func(c *Config) { c.TrustedProxies = "lb.internal" }, `--trusted-proxies "lb.internal"`},
		{"ErrTrustedProxiesEmpty", func(c *Config) { c.TrustedProxies = "10.0.0.0/8," }, `--trusted-proxies ""`},
		{"ErrLogFormat", func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{"ErrLogLevel", func(c *Config) { c.LogLevel = "loud" }, "--log-level"},
		{"ErrRate", func(c *Config) { c.RateLimit = -1 }, "--rate-limit"},
		{"ErrBurst", func(c *Config) { c.RateBurst = -1 }, "--rate-burst"},
		{"ErrTokenCacheTTL", func(c *Config) { c.TokenCacheTTL = -1 }, "--token-cache-ttl"},
		{"ErrDB", func(c *Config) { c.DB = "" }, "--db"},
		{"ErrPGMaxConns", func(c *Config) { c.PGMaxConns = 1001 }, "--pg-max-conns"},
		{"ErrPGStatementTimeout", func(c *Config) { c.PGStatementTimeout = 0 }, "--pg-statement-timeout"},
		{"ErrPGConnectTimeout", func(c *Config) { c.PGConnectTimeout = -1 }, "--pg-connect-timeout"},
		{"ErrBackoff", func(c *Config) { c.ReleaseBackoff = 0 }, "--release-backoff"},
		{"ErrAttempts", func(c *Config) { c.ReleaseMaxAttempts = 0 }, "--release-max-attempts"},
		{"ErrWorkers", func(c *Config) { c.ReleaseWorkers = 0 }, "--release-workers"},
		{"ErrDriver", func(c *Config) { c.ReleaseDriver = "kafka" }, "--release-driver"},
		{"ErrWebhookURL", func(c *Config) { c.ReleaseDriver, c.WebhookSecret = "webhook", "s" }, "--webhook-url"},
		{"ErrWebhookScheme", func(c *Config) { c.ReleaseDriver, c.WebhookURL, c.WebhookSecret = "webhook", "ftp://x/", "s" }, "--webhook-url"},
		{"ErrWebhookSecret", func(c *Config) { c.ReleaseDriver, c.WebhookURL = "webhook", "http://127.0.0.1:9/" }, "--webhook-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mut(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate()=%v, want nil", err)
			} else if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate()=%v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestCLI runs the operator commands in-process. Every subtest has a
// database of its own and creates what it needs, so any one of them runs
// alone (go test -run TestCLI/Token).
func TestCLI(t *testing.T) {
	t.Setenv("PHONEFLEET_DB", "")
	// newDB returns a migrated database: only migrate, serve, tenant create
	// and copy create a missing one.
	newDB := func(t *testing.T) string {
		db := filepath.Join(t.TempDir(), "cli.db")
		mustCLI(t, "migrate", "--db", db)
		return db
	}

	t.Run("Usage", func(t *testing.T) {
		db := newDB(t)
		if out, _, code := runCLI(t, "-h"); code != 0 || !strings.Contains(out, "Commands:") {
			t.Fatalf("-h: code %d out %q", code, out)
		}
		if out, errOut, code := runCLI(t, "tenant", "-h"); code != 0 || strings.Count(out, "tenant create NAME") != 1 || errOut != "" {
			t.Fatalf("tenant -h: code %d out %q err %q, want the usage once", code, out, errOut)
		}
		// A bad flag is an error on stderr; stdout stays empty, so
		// TOKEN=$(phonefleet token issue ...) never captures usage text.
		for _, args := range [][]string{{"token", "issue", "--tenant", "x", "--ttl", "abc"}, {"tenant", "list", "--bogus"}, {"serve", "--bogus"}} {
			if out, errOut, code := runCLI(t, args...); code != 2 || out != "" || !strings.Contains(errOut, "see -h") {
				t.Fatalf("%v: code %d out %q err %q, want exit 2, empty stdout, the error on stderr", args, code, out, errOut)
			}
		}
		if out, errOut, code := runCLI(t, "frobnicate"); code != 2 || out != "" || !strings.Contains(errOut, `unknown command "frobnicate"`) {
			t.Fatalf("unknown command: code %d out %q err %q", code, out, errOut)
		}
		if out, errOut, code := runCLI(t, "token", "issue", "--db", db); code != 2 || out != "" || !strings.Contains(errOut, "--tenant is required") {
			t.Fatalf("token issue without tenant: code %d out %q err %q", code, out, errOut)
		}
		if _, errOut, code := runCLI(t, "audit", "--limit", "x", "--db", db); code != 2 || !strings.Contains(errOut, "limit") {
			t.Fatalf("bad flag: code %d err %q", code, errOut)
		}
	})

	t.Run("Tenant", func(t *testing.T) {
		db := newDB(t)
		out, errOut, code := runCLI(t, "tenant", "create", "acme", "--db", db)
		if code != 0 || errOut != "" || strings.Count(out, "\n") != 1 || len(strings.TrimSpace(out)) == 0 {
			t.Fatalf("tenant create: code %d out %q err %q", code, out, errOut)
		}
		id := strings.TrimSpace(out)
		out, errOut, code = runCLI(t, "--db", db, "tenant", "create", "acme")
		if code != 2 && code != 1 || out != "" || !strings.Contains(errOut, "acme") {
			t.Fatalf("duplicate tenant: code %d out %q err %q", code, out, errOut)
		}
		out = mustCLI(t, "tenant", "list", "--db", db)
		var got struct{ ID, Name string }
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.ID != id || got.Name != "acme" {
			t.Fatalf("tenant list %q (%v)", out, err)
		}
		if out, errOut, code := runCLI(t, "tenant", "create", "bad name", "--db", db); code == 0 || out != "" || errOut == "" {
			t.Fatalf("invalid name: code %d out %q err %q", code, out, errOut)
		}
	})

	t.Run("Token", func(t *testing.T) {
		db := newDB(t)
		mustCLI(t, "tenant", "create", "acme", "--db", db)
		out, errOut, code := runCLI(t, "token", "issue", "--tenant", "acme", "--role", "viewer", "--ttl", "1h", "--name", "ci", "--db", db)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "tk") || strings.Count(out, "\n") != 1 {
			t.Fatalf("token issue: code %d out %q err %q", code, out, errOut)
		}
		token := strings.TrimSpace(out)
		id, _, _ := strings.Cut(token, ".")
		out = mustCLI(t, "token", "list", "--tenant", "acme", "--db", db)
		var tok struct {
			ID        string    `json:"id"`
			Name      string    `json:"name"`
			Actions   []string  `json:"actions"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.ID != id || tok.Name != "ci" || len(tok.Actions) != 3 || strings.Contains(out, token) {
			t.Fatalf("token list %q (%v)", out, err)
		}
		if d := time.Until(tok.ExpiresAt); d < 59*time.Minute || d > time.Hour {
			t.Fatalf("expires in %v, want 1h", d)
		}
		if _, errOut, code := runCLI(t, "token", "revoke", token, "--db", db); code != 0 || errOut != "" {
			t.Fatalf("revoke by token: code %d err %q", code, errOut)
		}
		out = mustCLI(t, "token", "list", "--tenant", "acme", "--db", db)
		var revoked struct {
			ID        string     `json:"id"`
			RevokedAt *time.Time `json:"revoked_at"`
		}
		if err := json.Unmarshal([]byte(out), &revoked); err != nil || revoked.ID != id || revoked.RevokedAt == nil {
			t.Fatalf("token list after revoke %q (%v), want the token revoked", out, err)
		}
		if _, errOut, code := runCLI(t, "token", "revoke", "tknosuchtoken", "--db", db); code != 1 || errOut == "" {
			t.Fatalf("revoke unknown: code %d err %q", code, errOut)
		}
		if _, errOut, code := runCLI(t, "token", "issue", "--tenant", "nobody", "--db", db); code != 1 || !strings.Contains(errOut, "nobody") {
			t.Fatalf("issue for unknown tenant: code %d err %q", code, errOut)
		}
	})

	t.Run("SKU", func(t *testing.T) {
		db := newDB(t)
		out, errOut, code := runCLI(t, "sku", "add", "kp.test.1u2g", "--name", "Test", "--regions", "eu-west-101", "--band-sizes", "4,2",
			"--month-price", "900", "--year-price", "9000", "--hour-price", "2", "--db", db)
		if code != 0 || out != "kp.test.1u2g\n" || errOut != "" {
			t.Fatalf("sku add: code %d out %q err %q", code, out, errOut)
		}
		out = mustCLI(t, "sku", "list", "--db", db)
		if n := strings.Count(out, "\n"); n != 4 || !strings.Contains(out, `"band_sizes":[2,4]`) {
			t.Fatalf("sku list (%d lines): %s", n, out)
		}
		if _, errOut, code := runCLI(t, "sku", "add", "kp.test.bad", "--name", "x", "--regions", "eu", "--month-price", "0", "--year-price", "1", "--hour-price", "1", "--db", db); code != 1 || !strings.Contains(errOut, "price") {
			t.Fatalf("invalid sku: code %d err %q", code, errOut)
		}
	})

	t.Run("Lists", func(t *testing.T) {
		db := newDB(t)
		mustCLI(t, "tenant", "create", "acme", "--db", db)
		for _, args := range [][]string{{"refunds"}, {"jobs", "--state", "failed"}, {"audit", "--tenant", "acme"}} {
			out, errOut, code := runCLI(t, append(args, "--db", db)...)
			if code != 0 || out != "" || errOut != "" {
				t.Fatalf("%v on an empty history: code %d out %q err %q", args, code, out, errOut)
			}
		}
		if _, errOut, code := runCLI(t, "jobs", "--state", "stuck", "--db", db); code != 2 || !strings.Contains(errOut, "--state") {
			t.Fatalf("jobs --state stuck: code %d err %q", code, errOut)
		}
		if _, errOut, code := runCLI(t, "jobs", "retry", "nosuch", "--db", db); code != 1 || errOut == "" {
			t.Fatalf("jobs retry unknown: code %d err %q", code, errOut)
		}
	})
}

func TestHoistGlobalFlags(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"tenant", "list"}, []string{"tenant", "list"}},
		{[]string{"--db", "x.db", "tenant", "list"}, []string{"tenant", "--db", "x.db", "list"}},
		{[]string{"-db=x.db", "audit"}, []string{"audit", "-db=x.db"}},
		{[]string{"--db", "x.db"}, []string{"--db", "x.db"}},
		{[]string{}, []string{}},
	} {
		if got := hoistGlobalFlags(tc.in); !slices.Equal(got, tc.want) {
			t.Fatalf("hoistGlobalFlags(%q)=%q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSKUAddIDOnce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	args := []string{"sku", "add", "kp.a", "--id", "kp.b", "--name", "x", "--regions", "r1", "--month-price", "1", "--year-price", "1", "--hour-price", "1", "--db", db}
	if out, errOut, code := runCLI(t, args...); code != 2 || out != "" || !strings.Contains(errOut, "--id") {
		t.Fatalf("two SKU IDs: code %d out %q err %q, want a usage error", code, out, errOut)
	}
}

// TestLeafFlags checks that each leaf command has its own flags: a flag of
// one leaf given to another is a usage error, not silently ignored.
func TestLeafFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	for _, args := range [][]string{
		{"token", "revoke", "X", "--role", "viewer", "--ttl", "1h"},
		{"token", "list", "--ttl", "1h"},
		{"token", "issue", "--tenant", "acme", "--bogus"},
		{"sku", "list", "--month-price", "5"},
		{"tenant", "list", "--tenant", "acme"},
		{"jobs", "retry", "X", "--state", "failed"},
	} {
		out, errOut, code := runCLI(t, append(args, "--db", db)...)
		if code != 2 || out != "" || !strings.Contains(errOut, "flag provided but not defined") {
			t.Fatalf("%v: code %d out %q err %q, want a usage error naming the flag", args, code, out, errOut)
		}
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"token"}},
		{[]string{"token", "frob"}},
		{[]string{"tenant", "create"}},
		{[]string{"tenant", "create", "a", "b"}},
		{[]string{"token", "revoke"}},
		{[]string{"jobs", "retry"}},
		{[]string{"sku", "list", "extra"}},
	} {
		if out, errOut, code := runCLI(t, append(tc.args, "--db", db)...); code != 2 || out != "" || errOut == "" {
			t.Fatalf("%v: code %d out %q err %q, want a usage error", tc.args, code, out, errOut)
		}
	}
	// A leading --db still works in front of the leaf.
	if _, errOut, code := runCLI(t, "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: code %d err %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "tenant", "--db", db, "list"); code != 0 || errOut != "" {
		t.Fatalf("tenant --db X list: code %d err %q", code, errOut)
	}
	if out, errOut, code := runCLI(t, "token", "issue", "-h"); code != 0 || errOut != "" || !strings.Contains(out, "-ttl") || strings.Contains(out, "-month-price") {
		t.Fatalf("token issue -h: code %d out %q err %q, want the issue flags only", code, out, errOut)
	}
}

// TestConfigValidate_EveryFlag checks that Validate names every wrong flag
// at once, not only the first.
func TestConfigValidate_EveryFlag(t *testing.T) {
	c := DefaultConfig()
	c.Addr, c.LogFormat, c.RateBurst, c.ReleaseWorkers, c.PGMaxConns, c.PGConnectTimeout = "", "xml", -1, 0, 0, 0
	err := c.Validate()
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate()=%v, want ConfigErrors", err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Flag)
	}
	want := []string{"--addr", "--log-format", "--rate-burst", "--release-workers", "--pg-max-conns", "--pg-connect-timeout"}
	if !slices.Equal(got, want) {
		t.Fatalf("Validate() named %q, want %q", got, want)
	}
	_, errOut, code := runCLI(t, "serve", "--addr", "", "--pg-max-conns", "0", "--db", filepath.Join(t.TempDir(), "x.db"))
	if code != 2 || !strings.Contains(errOut, "--addr") || !strings.Contains(errOut, "--pg-max-conns") {
		t.Fatalf("serve with two bad flags: code %d err %q, want exit 2 naming both", code, errOut)
	}
}

// TestClockCommand: phonefleet clock show|set|advance reads and moves one
// tenant's clock (flags before or after the argument), prints the
// resulting time, audits the move by operator/cli, and refuses bad input
// with a message naming it.
func TestClockCommand(t *testing.T) {
	t.Setenv("PHONEFLEET_DB", "")
	db := filepath.Join(t.TempDir(), "clock.db")
	mustCLI(t, "tenant", "create", "acme", "--db", db)
	mustCLI(t, "tenant", "create", "beta", "--db", db)
	parse := func(out string) time.Time {
		t.Helper()
		at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(out))
		if err != nil || strings.Count(out, "\n") != 1 {
			t.Fatalf("output %q, want one RFC 3339 time", out)
		}
		return at
	}
	before := parse(mustCLI(t, "clock", "show", "--tenant", "beta", "--db", db))
	if d := time.Since(before).Abs(); d > time.Minute {
		t.Fatalf("beta's clock %v before any move, want about now", before)
	}
	if out := mustCLI(t, "clock", "--db", db, "set", "2400-01-01T00:00:00Z", "--tenant", "acme"); out != "2400-01-01T00:00:00Z\n" {
		t.Fatalf("clock set 2400: %q", out)
	}
	moved := parse(mustCLI(t, "clock", "advance", "--tenant", "acme", "121h", "--db="+db))
	if d := moved.Sub(time.Date(2400, 1, 6, 1, 0, 0, 0, time.UTC)); d < 0 || d > time.Minute {
		t.Fatalf("clock advance 121h after 2400-01-01: %v", moved)
	}
	if out := mustCLI(t, "clock", "set", "9999-12-31T23:59:59.999999999Z", "--tenant", "acme", "--db", db); out != "9999-12-31T23:59:59.999999999Z\n" {
		t.Fatalf("clock set 9999: %q", out)
	}
	if got := parse(mustCLI(t, "clock", "show", "--tenant", "acme", "--db", db)); !got.Equal(phonefleet.MaxBusinessTime) {
		t.Fatalf("acme's clock=%v, want the end of year 9999", got)
	}
	if got := parse(mustCLI(t, "clock", "show", "--db", db, "--tenant", "beta")); got.Sub(before) > time.Minute {
		t.Fatalf("beta's clock=%v after acme's moves, want about %v", got, before)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"clock", "advance", "-1s", "--tenant", "beta"}, 1, "advance must not be negative"},
		{[]string{"clock", "advance", "5 days", "--tenant", "beta"}, 1, "advance must be a duration"},
		{[]string{"clock", "advance", "1ns", "--tenant", "acme"}, 1, "advance 1ns would move business time past 9999-12-31T23:59:59.999999999Z"},
		{[]string{"clock", "set", "2000-01-01T00:00:00Z", "--tenant", "beta"}, 1, "now must not be in the past"},
		{[]string{"clock", "set", "yesterday", "--tenant", "beta"}, 2, `TIME must be an RFC 3339 time`},
		{[]string{"clock", "set", "--tenant", "beta"}, 2, "usage: phonefleet clock set TIME --tenant NAME"},
		{[]string{"clock", "show", "x", "--tenant", "beta"}, 2, "usage: phonefleet clock show --tenant NAME"},
		{[]string{"clock", "show"}, 2, "--tenant is required"},
		{[]string{"clock", "advance", "1h", "--tenant", "nosuch"}, 1, `tenant "nosuch" not found`},
		{[]string{"clock", "rewind", "--tenant", "beta"}, 2, "unknown subcommand"},
	} {
		out, errOut, code := runCLI(t, append(tc.args, "--db", db)...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.msg) {
			t.Fatalf("%v: exit %d, out %q, err %q; want %d and %q", tc.args, code, out, errOut, tc.code, tc.msg)
		}
	}
	if got := parse(mustCLI(t, "clock", "show", "--tenant", "beta", "--db", db)); got.Sub(before) > time.Minute {
		t.Fatalf("beta's clock=%v after refused moves, want about %v", got, before)
	}
	// Every move is in the tenant's audit trail, by operator/cli.
	var moves []string
	for _, line := range strings.Split(strings.TrimSpace(mustCLI(t, "audit", "--tenant", "acme", "--db", db)), "\n") {
		var e struct{ At, Action, Detail, Actor string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Action == "testClockMove" && e.Actor != "operator/cli" {
			t.Errorf("clock move %s: actor %q, want operator/cli", e.At, e.Actor)
		}
		if e.Action == "testClockMove" {
			moves = append(moves, e.At+" "+e.Detail)
		}
	}
	if len(moves) != 3 || !strings.HasPrefix(moves[0], "9999-12-31T23:59:59.999999999Z test clock moved from 2400-01-06T01:") ||
		!strings.HasSuffix(moves[0], " to 9999-12-31T23:59:59.999999999Z (now 9999-12-31T23:59:59.999999999Z) by operator/cli") ||
		!strings.HasSuffix(moves[1], "(advance 121h0m0s) by operator/cli") ||
		!strings.HasPrefix(moves[2], "2400-01-01T00:00:00Z test clock moved from ") {
		t.Fatalf("acme's audited moves:\n%s", strings.Join(moves, "\n"))
	}
}
