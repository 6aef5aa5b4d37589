package main

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/postgres"
)

// mustPGSchema returns the URL of a new schema on the test server, dropped
// when the test ends; it skips without PHONEFLEET_TEST_POSTGRES_URL.
func mustPGSchema(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	admin := os.Getenv("PHONEFLEET_TEST_POSTGRES_URL")
	if admin == "" {
		t.Skip("PHONEFLEET_TEST_POSTGRES_URL is not set: skipping the PostgreSQL CLI test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	name := "pf_test_" + phonefleet.NewID(12)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
		conn.Close(context.Background())
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), conn
}

// TestMigrateStatus_Postgres: on an empty schema nothing is applied, after
// migrate everything is, and a migration of a newer version makes the
// status exit 1; check passes on the migrated store.
func TestMigrateStatus_Postgres(t *testing.T) {
	dsn, conn := mustPGSchema(t)
	count := func(out string) (known, applied int) {
		for line := range strings.Lines(out) {
			known += strings.Count(line, `"known":true`)
			applied += strings.Count(line, `"applied":true`)
		}
		return
	}
	out, errOut, code := runCLI(t, "migrate", "--status", "--db", dsn)
	if k, a := count(out); code != 0 || k != len(postgres.Migrations()) || a != 0 {
		t.Fatalf("status of an empty schema: exit %d, %d known, %d applied: %q %q", code, k, a, out, errOut)
	}
	if _, errOut, code := runCLI(t, "migrate", "--db", dsn); code != 0 {
		t.Fatal(errOut)
	}
	out, _, code = runCLI(t, "migrate", "--status", "--db", dsn)
	if k, a := count(out); code != 0 || k != len(postgres.Migrations()) || a != k {
		t.Fatalf("status after migrate: exit %d, %d known, %d applied", code, k, a)
	}
	if out, errOut, code := runCLI(t, "check", "--db", dsn); code != 0 || out != "" {
		t.Fatalf("check: exit %d %q %q", code, out, errOut)
	}
	schema, _ := url.Parse(dsn)
	if _, err := conn.Exec(t.Context(), `INSERT INTO `+schema.Query().Get("search_path")+`.migrations (name) VALUES ('migration/9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, "migrate", "--status", "--db", dsn)
	if code != 1 || !strings.Contains(errOut, "9999_future") {
		t.Fatalf("status with a newer migration: exit %d %q, want 1 naming it", code, errOut)
	}
}
