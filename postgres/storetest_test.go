package postgres_test

import (
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/storetest"
)

// TestStore runs the store conformance suite on PostgreSQL, each store in a
// fresh schema dropped afterwards.
func TestStore(t *testing.T) {
	adminURL := MustTestURL(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) phonefleet.Store {
		return MustOpenDBAt(t, MustCreateSchema(t, adminURL), now)
	})
}

// TestTestClock runs the test clock's suite on PostgreSQL.
func TestTestClock(t *testing.T) {
	adminURL := MustTestURL(t)
	storetest.RunTestClock(t, func(t *testing.T, now func() time.Time) phonefleet.Store {
		db := MustOpenDBAt(t, MustCreateSchema(t, adminURL), now)
		db.TestClock = true
		return db
	})
}

// TestSnapshot copies PostgreSQL into PostgreSQL: every query answers the
// same in the copy.
func TestSnapshot(t *testing.T) {
	adminURL := MustTestURL(t)
	storetest.RunSnapshot(t, func(t *testing.T, now func() time.Time) phonefleet.Store {
		return MustOpenDBAt(t, MustCreateSchema(t, adminURL), now)
	}, func(t *testing.T, now func() time.Time) phonefleet.Store {
		return MustOpenDBAt(t, MustCreateSchema(t, adminURL), now)
	})
}
