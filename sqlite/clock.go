package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.ClockService = (*DB)(nil)

// clockTenantKey carries the tenant whose business time an operation runs
// on (see onTenantClock).
type clockTenantKey struct{}

// onTenantClock returns ctx for an operation of tenantID (ctx itself when
// the test clock is off): its transaction's
// now is that tenant's business time (its test clock's offset applied when
// the test clock is on). Each exported method sets it from its own request
// (never from the caller's principal); an operation of no tenant (the
// catalogue, tenant creation, the command worker) runs on wall time.
func (db *DB) onTenantClock(ctx context.Context, tenantID string) context.Context {
	if tenantID == "" || !db.TestClock {
		return ctx
	}
	return context.WithValue(ctx, clockTenantKey{}, tenantID)
}

// clockTenant returns the tenant onTenantClock set, or "".
func clockTenant(ctx context.Context) string {
	id, _ := ctx.Value(clockTenantKey{}).(string)
	return id
}

// BusinessNow returns the process's time plus the tenant's stored offset.
func (db *DB) BusinessNow(ctx context.Context, tenantID string) (time.Time, error) {
	tx, err := db.beginTx(db.onTenantClock(ctx, tenantID), false)
	if err != nil {
		return time.Time{}, err
	}
	defer tx.Rollback()
	return tx.now, nil
}

// MoveClock moves the tenant's clock as phonefleet.PlanClockOffset decides
// and writes the move's audit event in the same write operation. Errors:
// EInvalid, ENotFound (no such tenant).
func (db *DB) MoveClock(ctx context.Context, m *phonefleet.ClockMove) (*phonefleet.ClockPlan, error) {
	var plan *phonefleet.ClockPlan
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?)`, m.TenantID).Scan(&exists); err != nil {
			return fmt.Errorf("find tenant: %w", err)
		} else if !exists {
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", m.TenantID)
		}
		cur, err := tenantClockOffset(ctx, tx, m.TenantID)
		if err != nil {
			return err
		}
		p, err := phonefleet.PlanClockOffset(m, tx.wall, cur, time.Nanosecond)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO tenant_clocks (tenant_id, offset_s, offset_ns, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET offset_s = excluded.offset_s, offset_ns = excluded.offset_ns, updated_at = excluded.updated_at
		`, m.TenantID, p.Offset.Seconds, p.Offset.Nanos, formatTime(tx.wall)); err != nil {
			return fmt.Errorf("set test clock: %w", err)
		}
		if err := insertAuditEvent(ctx, tx, phonefleet.ClockAuditEvent(m, p)); err != nil {
			return err
		}
		plan = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// tenantClockOffset reads the tenant's test clock offset (zero if its
// clock was never moved).
func tenantClockOffset(ctx context.Context, tx *Tx, tenantID string) (phonefleet.ClockSpan, error) {
	var off phonefleet.ClockSpan
	err := tx.QueryRowContext(ctx, `SELECT offset_s, offset_ns FROM tenant_clocks WHERE tenant_id = ?`, tenantID).Scan(&off.Seconds, &off.Nanos)
	if errNoRows(err) {
		return phonefleet.ClockSpan{}, nil
	} else if err != nil {
		return phonefleet.ClockSpan{}, fmt.Errorf("read test clock: %w", err)
	}
	return off, nil
}

// tenantNow returns the tenant's business time in tx: its wall time plus
// the tenant's offset when the test clock is on.
func (db *DB) tenantNow(ctx context.Context, tx *Tx, tenantID string) (time.Time, error) {
	if !db.TestClock || !db.migrated || tenantID == "" {
		return tx.wall, nil
	}
	off, err := tenantClockOffset(ctx, tx, tenantID)
	if err != nil {
		return time.Time{}, err
	}
	return off.AddTo(tx.wall), nil
}
