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

// clockTenantKey carries the tenant whose business time an operation runs
// on (see onTenantClock).
type clockTenantKey struct{}

// onTenantClock returns ctx for an operation of tenantID (ctx itself when
// the test clock is off): the now its
// transactions get is that tenant's business time (its test clock's offset
// applied when the test clock is on), read in the transaction's first
// query. Each exported method sets it from its own request (never from the
// caller's principal); an operation of no tenant (the catalogue, tenant
// creation, the command worker) runs on the database's time.
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

// BusinessNow returns the database's time plus the tenant's stored offset.
func (db *DB) BusinessNow(ctx context.Context, tenantID string) (time.Time, error) {
	var out time.Time
	err := db.withTx(db.onTenantClock(ctx, tenantID), "business_now", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		out = now
		return nil
	})
	return out, err
}

// MoveClock moves the tenant's clock as phonefleet.PlanClockOffset decides
// (to the microsecond, PostgreSQL's precision) and writes the move's audit
// event in the same transaction. Concurrent moves of one tenant's clock are
// serialized on its row. Errors: EInvalid, ENotFound (no such tenant).
func (db *DB) MoveClock(ctx context.Context, m *phonefleet.ClockMove) (*phonefleet.ClockPlan, error) {
	var plan *phonefleet.ClockPlan
	// The transaction's now is the database's time: no tenant's clock.
	err := db.withTx(ctx, "move_clock", nil, func(ctx context.Context, tx pgx.Tx, base time.Time) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO tenant_clocks (tenant_id, offset_s, offset_ns, updated_at)
			SELECT id, 0, 0, $2 FROM tenants WHERE id = $1
			ON CONFLICT (tenant_id) DO NOTHING`, m.TenantID, base)
		if err != nil {
			return fmt.Errorf("create test clock: %w", err)
		}
		var cur phonefleet.ClockSpan
		err = tx.QueryRow(ctx, `SELECT offset_s, offset_ns FROM tenant_clocks WHERE tenant_id = $1 FOR UPDATE`, m.TenantID).Scan(&cur.Seconds, &cur.Nanos)
		if errors.Is(err, pgx.ErrNoRows) && tag.RowsAffected() == 0 {
			return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", m.TenantID)
		} else if err != nil {
			return fmt.Errorf("lock test clock: %w", err)
		}
		p, err := phonefleet.PlanClockOffset(m, base, cur, time.Microsecond)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tenant_clocks SET offset_s = $2, offset_ns = $3, updated_at = $4 WHERE tenant_id = $1`,
			m.TenantID, p.Offset.Seconds, p.Offset.Nanos, base); err != nil {
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

// The statements that read tenants' test clock offsets.
const (
	// The transaction's time and one tenant's offset (none: no row), in
	// the transaction's first query.
	txTimeTenantSQL = `
		SELECT transaction_timestamp(), c.offset_s, c.offset_ns
		FROM (SELECT 1) AS one LEFT JOIN tenant_clocks c ON c.tenant_id = $1`
	// The offsets of some tenants (those without a row have none).
	tenantClocksSQL = `SELECT tenant_id, offset_s, offset_ns FROM tenant_clocks WHERE tenant_id = ANY($1)`
)

// tenantOffset reads one tenant's offset in tx (zero if its clock was never
// moved).
func tenantOffset(ctx context.Context, tx pgx.Tx, tenantID string) (phonefleet.ClockSpan, error) {
	var off phonefleet.ClockSpan
	err := tx.QueryRow(ctx, `SELECT offset_s, offset_ns FROM tenant_clocks WHERE tenant_id = $1`, tenantID).Scan(&off.Seconds, &off.Nanos)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return phonefleet.ClockSpan{}, fmt.Errorf("read test clock: %w", err)
	}
	return off, nil
}
