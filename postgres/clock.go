package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.ClockService = (*DB)(nil)

// BusinessNow returns the database's time plus the stored test clock
// offset.
func (db *DB) BusinessNow(ctx context.Context) (time.Time, error) {
	var out time.Time
	err := db.withTx(ctx, "business_now", nil, func(ctx context.Context, tx pgx.Tx, _ time.Time) error {
		base, err := db.txNow(ctx, tx)
		if err != nil {
			return err
		}
		off, err := testClockOffset(ctx, tx)
		out = base.Add(off)
		return err
	})
	return out, err
}

// SetBusinessNow stores the offset that makes business time t; EInvalid if
// t is before the current business time. Concurrent moves are serialized
// on the clock's row.
func (db *DB) SetBusinessNow(ctx context.Context, t time.Time) (time.Time, error) {
	t = t.UTC().Truncate(time.Microsecond)
	err := db.withTx(ctx, "set_business_now", nil, func(ctx context.Context, tx pgx.Tx, _ time.Time) error {
		base, err := db.txNow(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO test_clock (id, offset_ns, updated_at) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING`, base); err != nil {
			return fmt.Errorf("create test clock: %w", err)
		}
		var ns int64
		if err := tx.QueryRow(ctx, `SELECT offset_ns FROM test_clock WHERE id = 1 FOR UPDATE`).Scan(&ns); err != nil {
			return fmt.Errorf("lock test clock: %w", err)
		}
		next, err := phonefleet.PlanClockOffset(base, base.Add(time.Duration(ns)), t)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE test_clock SET offset_ns = $1, updated_at = $2 WHERE id = 1`, int64(next), base); err != nil {
			return fmt.Errorf("set test clock: %w", err)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// testClockOffset reads the test clock's offset in tx (0 if it was never
// moved).
func testClockOffset(ctx context.Context, tx pgx.Tx) (time.Duration, error) {
	var ns int64
	err := tx.QueryRow(ctx, `SELECT offset_ns FROM test_clock WHERE id = 1`).Scan(&ns)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read test clock: %w", err)
	}
	return time.Duration(ns), nil
}
