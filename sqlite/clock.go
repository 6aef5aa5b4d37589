package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.ClockService = (*DB)(nil)

// BusinessNow returns the process's time plus the stored test clock offset.
func (db *DB) BusinessNow(ctx context.Context) (time.Time, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return time.Time{}, err
	}
	defer tx.Rollback()
	off, err := testClockOffset(ctx, tx)
	if err != nil {
		return time.Time{}, err
	}
	return tx.wall.Add(off), nil
}

// SetBusinessNow stores the offset that makes business time t; EInvalid if
// t is before the current business time.
func (db *DB) SetBusinessNow(ctx context.Context, t time.Time) (time.Time, error) {
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		off, err := testClockOffset(ctx, tx)
		if err != nil {
			return err
		}
		next, err := phonefleet.PlanClockOffset(tx.wall, tx.wall.Add(off), t)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO test_clock (id, offset_ns, updated_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET offset_ns = excluded.offset_ns, updated_at = excluded.updated_at
		`, int64(next), formatTime(tx.wall)); err != nil {
			return fmt.Errorf("set test clock: %w", err)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// testClockOffset reads the test clock's offset (0 if it was never moved).
func testClockOffset(ctx context.Context, tx *Tx) (time.Duration, error) {
	var ns int64
	err := tx.QueryRowContext(ctx, `SELECT offset_ns FROM test_clock WHERE id = 1`).Scan(&ns)
	if errNoRows(err) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("read test clock: %w", err)
	}
	return time.Duration(ns), nil
}
