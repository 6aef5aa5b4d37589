package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/postgres"
)

// testURLEnv names the variable with the URL of a PostgreSQL server the
// tests may create and drop databases on.
const testURLEnv = "PHONEFLEET_TEST_POSTGRES_URL"

var (
	ensureOnce sync.Once
	ensureErr  error
)

// requirePostgres says why the PostgreSQL tests must not skip: CI=true, or
// PHONEFLEET_REQUIRE_POSTGRES set (.ci/run sets it); "" when they may.
func requirePostgres() string {
	switch {
	case os.Getenv("PHONEFLEET_REQUIRE_POSTGRES") != "":
		return "PHONEFLEET_REQUIRE_POSTGRES is set"
	case os.Getenv("CI") == "true":
		return "CI is true"
	}
	return ""
}

// MustTestURL returns the admin URL of the test server, or skips the test.
// The database it names is created on first use if the server lacks it, so
// a freshly installed server works as is.
func MustTestURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(testURLEnv)
	if u == "" && requirePostgres() != "" {
		tb.Fatalf("%s is not set, and %s", testURLEnv, requirePostgres())
	} else if u == "" {
		tb.Skipf("%s is not set: skipping PostgreSQL tests (e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", testURLEnv, testURLEnv)
	}
	ensureOnce.Do(func() { ensureErr = ensureDatabase(u) })
	if ensureErr != nil {
		tb.Fatalf("%s: %v", testURLEnv, ensureErr)
	}
	return u
}

// ensureDatabase creates the database that adminURL names if it does not
// exist, from the server's postgres database.
func ensureDatabase(adminURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	if conn, err = pgx.Connect(ctx, u.String()); err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	// Another test binary may create it at the same moment (42P04).
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil &&
		!(errors.As(err, &pgErr) && pgErr.Code == "42P04") {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// MustCreateDatabase creates a fresh, empty database pf_test_<random> on the
// server at adminURL, drops it when the test ends, and returns its URL.
func MustCreateDatabase(tb testing.TB, adminURL string) string {
	tb.Helper()
	name := "pf_test_" + phonefleet.NewID(12)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		tb.Fatalf("connect to %s: %v", testURLEnv, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			tb.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(adminURL)
	if err != nil {
		tb.Fatalf("parse %s: %v", testURLEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustCreateSchema creates a fresh schema pf_test_<random> in the database
// at adminURL, drops it with everything in it when the test ends, and
// returns a URL whose connections use it (search_path). Cheaper than a
// database per test on a busy server.
func MustCreateSchema(tb testing.TB, adminURL string) string {
	tb.Helper()
	name := "pf_test_" + phonefleet.NewID(12)
	mustExecAdmin(tb, adminURL, `CREATE SCHEMA `+name)
	tb.Cleanup(func() { mustExecAdmin(tb, adminURL, `DROP SCHEMA IF EXISTS `+name+` CASCADE`) })

	u, err := url.Parse(adminURL)
	if err != nil {
		tb.Fatalf("parse %s: %v", testURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func mustExecAdmin(tb testing.TB, adminURL, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		tb.Fatalf("connect to %s: %v", testURLEnv, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// MustOpenDB opens a store in a fresh schema with the clock now (nil:
// time.Now) and closes it when the test ends.
func MustOpenDB(tb testing.TB, now func() time.Time) *postgres.DB {
	tb.Helper()
	return MustOpenDBAt(tb, MustCreateSchema(tb, MustTestURL(tb)), now)
}

// MustOpenDBAt opens a store on the database at dbURL.
func MustOpenDBAt(tb testing.TB, dbURL string, now func() time.Time) *postgres.DB {
	tb.Helper()
	db := postgres.NewDB(dbURL)
	db.MaxConns = 8
	db.Logger = slog.New(slog.DiscardHandler)
	if now != nil {
		db.Now = now
	}
	if err := db.Open(); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustCreateTenant creates a tenant called name.
func MustCreateTenant(tb testing.TB, db phonefleet.Store, name string) *phonefleet.Tenant {
	tb.Helper()
	t := &phonefleet.Tenant{Name: name}
	if err := db.CreateTenant(context.Background(), t); err != nil {
		tb.Fatalf("create tenant: %v", err)
	}
	return t
}

// MustPurchase buys count instances of the default catalogue for the tenant:
// monthly for one month when monthly is set, else pay-per-use.
func MustPurchase(tb testing.TB, db phonefleet.Store, tenantID string, count int, monthly bool) []*phonefleet.Instance {
	tb.Helper()
	req := &phonefleet.PurchaseRequest{
		TenantID: tenantID, RequestID: "req-buy-" + phonefleet.NewID(8), OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g",
		BandSKUID: phonefleet.BandSKUID, RegionID: "cn-north-4", NamePrefix: "phone", BandSize: 2, Count: count,
		ChargingMode: phonefleet.ChargingModePayPerUse,
	}
	if monthly {
		req.ChargingMode, req.PeriodType, req.PeriodNum = phonefleet.ChargingModePrepaid, phonefleet.PeriodTypeMonth, 1
	}
	_, ins, err := db.Purchase(context.Background(), req)
	if err != nil {
		tb.Fatalf("purchase: %v", err)
	}
	return ins
}

func TestDB_Open(t *testing.T) {
	t.Run("DefaultSKUs", func(t *testing.T) {
		db := MustOpenDB(t, nil)
		skus, err := db.FindSKUs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := phonefleet.DefaultSKUs()
		slices.SortFunc(want, func(a, b *phonefleet.SKU) int { return strings.Compare(a.ID, b.ID) })
		if got, want := len(skus), len(want); got != want {
			t.Fatalf("len(skus)=%d, want %d", got, want)
		}
		for i := range want {
			if got, want := skus[i].ID, want[i].ID; got != want {
				t.Fatalf("skus[%d].ID=%s, want %s", i, got, want)
			}
			if got, want := skus[i].BandSizeList(), want[i].BandSizeList(); got != want {
				t.Fatalf("skus[%d].BandSizes=%s, want %s", i, got, want)
			}
			if got, want := len(skus[i].Regions), len(want[i].Regions); got != want {
				t.Fatalf("len(skus[%d].Regions)=%d, want %d", i, got, want)
			}
		}
	})

	// Nodes that start at once on a new database migrate it once: the
	// advisory lock serialises them and none fails or duplicates the
	// default catalogue.
	t.Run("ConcurrentNodes", func(t *testing.T) {
		dbURL := MustCreateDatabase(t, MustTestURL(t))
		errs := make(chan error, 4)
		dbs := make(chan *postgres.DB, 4)
		for range 4 {
			go func() {
				db := postgres.NewDB(dbURL)
				db.MaxConns = 2
				db.Logger = slog.New(slog.DiscardHandler)
				err := db.Open()
				errs <- err
				dbs <- db
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("open: %v", err)
			}
			db := <-dbs
			t.Cleanup(func() { db.Close() })
		}
		db := MustOpenDBAt(t, dbURL, nil)
		skus, err := db.FindSKUs(context.Background())
		if err != nil {
			t.Fatal(err)
		} else if got, want := len(skus), len(phonefleet.DefaultSKUs()); got != want {
			t.Fatalf("len(skus)=%d, want %d", got, want)
		}
	})
}

func TestDB_Ping(t *testing.T) {
	db := MustOpenDB(t, nil)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping=%v, want nil", err)
	}
}

// While nothing listens at the database's address, every operation fails
// within a bounded time instead of hanging.
func TestDB_Unreachable(t *testing.T) {
	db := postgres.NewDB("postgres://postgres@127.0.0.1:1/nothing?sslmode=disable")
	db.ConnectTimeout = time.Second
	start := time.Now()
	if err := db.Open(); err == nil {
		db.Close()
		t.Fatal("Open=nil, want error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %s, want < 5s", d)
	}
}

// TestDB_PingBeforeOpen checks that Ping on a DB that Open has not opened
// is an error, as on SQLite, not a panic.
func TestDB_PingBeforeOpen(t *testing.T) {
	db := postgres.NewDB("postgres://127.0.0.1:1/none")
	if err := db.Ping(context.Background()); err == nil {
		t.Fatal("Ping before Open succeeded")
	}
	if st := db.Stat(); st != nil {
		t.Fatalf("Stat before Open=%v, want nil", st)
	}
}
