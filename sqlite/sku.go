package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// FindSKUs returns the whole catalogue ordered by ID.
func (db *DB) FindSKUs(ctx context.Context) ([]*phonefleet.SKU, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findSKUs(ctx, tx, "")
}

// CreateSKU adds s to the catalogue; EInvalid if it does not validate (a
// region named twice included), EConflict if the ID is taken.
func (db *DB) CreateSKU(ctx context.Context, s *phonefleet.SKU) error {
	if err := s.Validate(); err != nil {
		return err
	}

	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return insertSKU(ctx, tx, s)
	})
}

// insertSKU inserts the SKU and its regions, in the order given.
func insertSKU(ctx context.Context, tx *Tx, s *phonefleet.SKU) error {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO skus (id, type, name, calc_spec, storage_spec, spec_desc, max_resolution,
		                  band_sizes, month_price, year_price, hour_price, currency, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	`, s.ID, s.Type, s.Name, s.CalcSpec, s.StorageSpec, s.SpecDesc, s.MaxResolution,
		s.BandSizeList(), s.MonthPrice, s.YearPrice, s.HourPrice, s.Currency, formatTime(tx.now),
	); err != nil {
		if err = formatError(err); isConflict(err) {
			return phonefleet.Errorf(phonefleet.EConflict, "sku %q already exists", s.ID)
		}
		return fmt.Errorf("insert sku: %w", err)
	}
	for i, r := range s.Regions {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO sku_regions (sku_id, region_id, position)
			VALUES (?, ?, ?)
		`, s.ID, r, i); err != nil {
			return fmt.Errorf("insert sku region: %w", formatError(err))
		}
	}
	for _, p := range s.Prices {
		if err := upsertSKUPrice(ctx, tx, s.ID, p); err != nil {
			return err
		}
	}
	if s.RetiredAt != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE skus SET retired_at = ? WHERE id = ?`, formatTime(*s.RetiredAt), s.ID); err != nil {
			return fmt.Errorf("retire sku: %w", err)
		}
	}
	return nil
}

// findSKU returns the SKU with that ID, or nil if the catalogue has none.
func findSKU(ctx context.Context, tx *Tx, id string) (*phonefleet.SKU, error) {
	skus, err := findSKUs(ctx, tx, "WHERE id = ?", id)
	if err != nil || len(skus) == 0 {
		return nil, err
	}
	return skus[0], nil
}

// findSKUs returns the SKUs matching where (with its args) ordered by ID,
// each with its regions.
func findSKUs(ctx context.Context, tx *Tx, where string, args ...any) ([]*phonefleet.SKU, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT id, type, name, calc_spec, storage_spec, spec_desc, max_resolution,
		       band_sizes, month_price, year_price, hour_price, currency, retired_at
		FROM skus
		`+where+`
		ORDER BY id
	`, args...)
	if err != nil {
		return nil, fmt.Errorf("query skus: %w", err)
	}
	defer rows.Close()

	var out []*phonefleet.SKU
	byID := make(map[string]*phonefleet.SKU)
	for rows.Next() {
		var s phonefleet.SKU
		var bands string
		var retiredAt sql.NullString
		if err := rows.Scan(&s.ID, &s.Type, &s.Name, &s.CalcSpec, &s.StorageSpec, &s.SpecDesc, &s.MaxResolution,
			&bands, &s.MonthPrice, &s.YearPrice, &s.HourPrice, &s.Currency, &retiredAt); err != nil {
			return nil, fmt.Errorf("scan sku: %w", err)
		}
		if s.RetiredAt, err = parseNullTime(retiredAt); err != nil {
			return nil, err
		}
		if s.BandSizes, err = phonefleet.ParseBandSizes(bands); err != nil {
			return nil, fmt.Errorf("sku %s band sizes: %w", s.ID, err)
		}
		s.Regions = []string{}
		out = append(out, &s)
		byID[s.ID] = &s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query skus: %w", err)
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}

	ids := make([]string, len(out))
	for i, s := range out {
		ids[i] = s.ID
	}
	rrows, err := tx.QueryContext(ctx, `
		SELECT sku_id, region_id
		FROM sku_regions
		WHERE sku_id IN (SELECT value FROM json_each(?))
		ORDER BY sku_id, position
	`, jsonArray(ids))
	if err != nil {
		return nil, fmt.Errorf("query sku regions: %w", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var skuID, region string
		if err := rrows.Scan(&skuID, &region); err != nil {
			return nil, fmt.Errorf("scan sku region: %w", err)
		}
		if s := byID[skuID]; s != nil {
			s.Regions = append(s.Regions, region)
		}
	}
	if err := rrows.Err(); err != nil {
		return nil, fmt.Errorf("query sku regions: %w", err)
	}
	rrows.Close()

	prows, err := tx.QueryContext(ctx, `
		SELECT p.sku_id, p.region_id, p.month_price, p.year_price, p.hour_price
		FROM sku_region_prices p
		JOIN sku_regions r ON r.sku_id = p.sku_id AND r.region_id = p.region_id
		WHERE p.sku_id IN (SELECT value FROM json_each(?))
		ORDER BY p.sku_id, r.position
	`, jsonArray(ids))
	if err != nil {
		return nil, fmt.Errorf("query sku prices: %w", err)
	}
	defer prows.Close()
	for prows.Next() {
		var skuID string
		var p phonefleet.RegionPrice
		if err := prows.Scan(&skuID, &p.Region, &p.MonthPrice, &p.YearPrice, &p.HourPrice); err != nil {
			return nil, fmt.Errorf("scan sku price: %w", err)
		}
		if s := byID[skuID]; s != nil {
			s.Prices = append(s.Prices, p)
		}
	}
	if err := prows.Err(); err != nil {
		return nil, fmt.Errorf("query sku prices: %w", err)
	}
	return out, nil
}
