package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

const skuColumns = `s.id, s.type, s.name, s.calc_spec, s.storage_spec, s.spec_desc, s.max_resolution,
	s.band_sizes, s.month_price, s.year_price, s.hour_price, s.currency,
	ARRAY(SELECT r.region_id FROM sku_regions r WHERE r.sku_id = s.id ORDER BY r.position),
	s.retired_at,
	COALESCE((SELECT json_agg(json_build_object('region', p.region_id, 'month_price', p.month_price,
		'year_price', p.year_price, 'hour_price', p.hour_price) ORDER BY r.position)
		FROM sku_region_prices p JOIN sku_regions r ON r.sku_id = p.sku_id AND r.region_id = p.region_id
		WHERE p.sku_id = s.id), '[]')::text`

// FindSKUs returns the whole catalogue ordered by ID.
func (db *DB) FindSKUs(ctx context.Context) ([]*phonefleet.SKU, error) {
	var skus []*phonefleet.SKU
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `SELECT `+skuColumns+` FROM skus s ORDER BY s.id`)
		if err == nil {
			skus, err = pgx.CollectRows(rows, scanSKU)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find skus: %w", err)
	}
	return skus, nil
}

// CreateSKU adds s to the catalogue; EInvalid if it does not validate (a
// region named twice included), EConflict if the ID is taken.
func (db *DB) CreateSKU(ctx context.Context, s *phonefleet.SKU) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return db.withTx(ctx, "create_sku", nil, func(ctx context.Context, tx pgx.Tx, now time.Time) error {
		if err := formatError(insertSKU(ctx, tx, s)); isConflict(err) {
			return phonefleet.Errorf(phonefleet.EConflict, "sku %q already exists", s.ID)
		} else if err != nil {
			return err
		}
		return nil
	})
}

// findSKU returns the SKU with that ID, or nil if the catalogue has none.
func findSKU(ctx context.Context, tx pgx.Tx, id string) (*phonefleet.SKU, error) {
	rows, err := tx.Query(ctx, `SELECT `+skuColumns+` FROM skus s WHERE s.id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("find sku: %w", err)
	}
	skus, err := pgx.CollectRows(rows, scanSKU)
	if err != nil {
		return nil, fmt.Errorf("find sku: %w", err)
	} else if len(skus) == 0 {
		return nil, nil
	}
	return skus[0], nil
}

func insertSKU(ctx context.Context, tx pgx.Tx, s *phonefleet.SKU) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO skus (id, type, name, calc_spec, storage_spec, spec_desc, max_resolution,
			band_sizes, month_price, year_price, hour_price, currency)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		s.ID, s.Type, s.Name, s.CalcSpec, s.StorageSpec, s.SpecDesc, s.MaxResolution,
		s.BandSizes, s.MonthPrice, s.YearPrice, s.HourPrice, s.Currency,
	); err != nil {
		return fmt.Errorf("insert sku: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO sku_regions (sku_id, region_id, position)
		SELECT $1, r.region_id, r.position - 1
		FROM unnest($2::text[]) WITH ORDINALITY AS r (region_id, position)`, s.ID, s.Regions); err != nil {
		return fmt.Errorf("insert sku regions: %w", err)
	}
	for _, p := range s.Prices {
		if err := upsertSKUPrice(ctx, tx, s.ID, p); err != nil {
			return err
		}
	}
	if s.RetiredAt != nil {
		if _, err := tx.Exec(ctx, `UPDATE skus SET retired_at = $2 WHERE id = $1`, s.ID, *s.RetiredAt); err != nil {
			return fmt.Errorf("retire sku: %w", err)
		}
	}
	return nil
}

func scanSKU(row pgx.CollectableRow) (*phonefleet.SKU, error) {
	var s phonefleet.SKU
	var prices string
	err := row.Scan(&s.ID, &s.Type, &s.Name, &s.CalcSpec, &s.StorageSpec, &s.SpecDesc, &s.MaxResolution,
		&s.BandSizes, &s.MonthPrice, &s.YearPrice, &s.HourPrice, &s.Currency, &s.Regions, &s.RetiredAt, &prices)
	if err == nil {
		if err = json.Unmarshal([]byte(prices), &s.Prices); err == nil && len(s.Prices) == 0 {
			s.Prices = nil
		}
	}
	return &s, err
}
