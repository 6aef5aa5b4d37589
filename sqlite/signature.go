package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/phonefleet/phonefleet"
)

// Sweeping expired signatures: at most sweepSignatureRows per operation,
// once per sweepSignatureEvery unless the last sweep found more.
const (
	sweepSignatureRows  = 1000
	sweepSignatureEvery = time.Minute
)

// RememberSignature records key as accepted until until and reports
// whether it was fresh (not recorded, or recorded and expired). It is one
// write operation, so it joins a group commit like any other and its answer
// waits for the fsync. From time to time (sweepSignatures) the same
// operation deletes expired keys.
func (db *DB) RememberSignature(ctx context.Context, key string, until time.Time) (bool, error) {
	if err := phonefleet.ValidateReplayKey(key); err != nil {
		return false, err
	}
	var fresh bool
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		now := formatTime(tx.wall)
		// An expired record of the same key is taken over: the key is
		// fresh again.
		res, err := tx.ExecContext(ctx, `
			INSERT INTO signatures (key, expires_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE signatures.expires_at <= ?
		`, key, formatTime(until), now)
		if err != nil {
			return fmt.Errorf("remember signature: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("remember signature: %w", err)
		}
		fresh = n == 1
		return db.sweepSignatures(ctx, tx)
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}

// sweepSignatures deletes up to sweepSignatureRows expired signatures when
// a sweep is due: a minute after the last one, or at once if the last one
// was full.
func (db *DB) sweepSignatures(ctx context.Context, tx *Tx) error {
	due := db.signaturesSwept.Load()
	if tx.wall.UnixNano() < due || !db.signaturesSwept.CompareAndSwap(due, tx.wall.Add(sweepSignatureEvery).UnixNano()) {
		return nil
	}
	res, err := tx.ExecContext(ctx, `
		DELETE FROM signatures WHERE key IN (
			SELECT key FROM signatures WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)
	`, formatTime(tx.wall), sweepSignatureRows)
	if err != nil {
		return fmt.Errorf("delete expired signatures: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == sweepSignatureRows {
		db.signaturesSwept.Store(0) // more to delete: again next time
	}
	return nil
}
