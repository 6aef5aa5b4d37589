package postgres_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
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
