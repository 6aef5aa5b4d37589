package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// Sweeping expired signatures: at most sweepSignatureRows per operation,
// once per sweepSignatureEvery on each node unless the last sweep found
// more.
const (
	sweepSignatureRows  = 1000
	sweepSignatureEvery = time.Minute
)

// RememberSignature records key as accepted until until and reports
// whether it was fresh (not recorded, or recorded and expired). The
// primary key decides between nodes: of two transactions inserting one key
// at once, the second waits for the first and then finds the key taken.
// From time to time the same transaction deletes expired keys.
func (db *DB) RememberSignature(ctx context.Context, key string, until time.Time) (bool, error) {
	if err := phonefleet.ValidateReplayKey(key); err != nil {
		return false, err
	}
	var fresh bool
	err := db.withTx(ctx, "remember_signature", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		// Signature windows keep wall time, whatever the test clock says.
		wall, err := db.wallNow(ctx, tx, now)
		if err != nil {
			return err
		}
		// An expired record of the same key is taken over: the key is
		// fresh again.
		tag, err := tx.Exec(ctx, `
			INSERT INTO signatures (key, expires_at) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE signatures.expires_at <= $3`,
			key, until.UTC(), wall)
		if err != nil {
			return fmt.Errorf("remember signature: %w", err)
		}
		fresh = tag.RowsAffected() == 1
		return db.sweepSignatures(ctx, tx, wall)
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}

// sweepSignatures deletes up to sweepSignatureRows expired signatures when
// this node's sweep is due: a minute after its last one, or at once if the
// last one was full. Rows another node is deleting are skipped.
func (db *DB) sweepSignatures(ctx context.Context, tx pgx.Tx, now time.Time) error {
	due := db.signaturesSwept.Load()
	if now.UnixNano() < due || !db.signaturesSwept.CompareAndSwap(due, now.Add(sweepSignatureEvery).UnixNano()) {
		return nil
	}
	tag, err := tx.Exec(ctx, `
		DELETE FROM signatures WHERE key IN (
			SELECT key FROM signatures WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now, sweepSignatureRows)
	if err != nil {
		return fmt.Errorf("delete expired signatures: %w", err)
	}
	if tag.RowsAffected() == sweepSignatureRows {
		db.signaturesSwept.Store(0) // more to delete: again next time
	}
	return nil
}
