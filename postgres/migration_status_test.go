package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/postgres"
)

// TestAppliedMigrations reads the migrations of an empty schema (none),
// of a migrated one (every one this binary knows) and of one a newer
// version ran on (the unknown one too), applying nothing.
func TestAppliedMigrations(t *testing.T) {
	url := MustCreateSchema(t, MustTestURL(t))
	ctx := context.Background()
	applied, err := postgres.AppliedMigrations(ctx, url)
	if err != nil {
		t.Fatal(err)
	} else if len(applied) != 0 {
		t.Fatalf("empty schema: applied=%v, want none", applied)
	}
	MustOpenDBAt(t, url, nil)
	applied, err = postgres.AppliedMigrations(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	st := phonefleet.PlanMigrationStatus(postgres.Migrations(), applied)
	for _, m := range st {
		if !m.Known || !m.Applied {
			t.Fatalf("migrated schema: %+v, want known and applied", m)
		}
	}
	if len(st) != len(postgres.Migrations()) || len(st) == 0 {
		t.Fatalf("migrated schema: %d migrations, want %d", len(st), len(postgres.Migrations()))
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO migrations (name) VALUES ('migration/9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	applied, err = postgres.AppliedMigrations(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if u := phonefleet.UnknownMigrations(phonefleet.PlanMigrationStatus(postgres.Migrations(), applied)); len(u) != 1 || u[0] != "migration/9999_future.sql" {
		t.Fatalf("UnknownMigrations=%v, want the future one", u)
	}
}
