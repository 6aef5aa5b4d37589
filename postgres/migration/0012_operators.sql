-- The operator plane: suspended tenants, retired SKUs and a SKU's prices
-- per region. A tenant that is suspended answers every API with
-- KOOPHONE.API.1004 while its instances keep running; a retired SKU is
-- neither listed nor sold. A region's prices override the SKU's base prices
-- there and go with the region.

ALTER TABLE tenants ADD COLUMN suspended_at timestamptz;
ALTER TABLE skus ADD COLUMN retired_at timestamptz;

CREATE TABLE sku_region_prices (
	sku_id      text NOT NULL,
	region_id   text NOT NULL,
	month_price bigint NOT NULL CHECK (month_price > 0),
	year_price  bigint NOT NULL CHECK (year_price > 0),
	hour_price  bigint NOT NULL CHECK (hour_price > 0),
	PRIMARY KEY (sku_id, region_id),
	FOREIGN KEY (sku_id, region_id) REFERENCES sku_regions (sku_id, region_id) ON DELETE CASCADE
);
