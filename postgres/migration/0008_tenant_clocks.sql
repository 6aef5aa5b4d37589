-- 0008_tenant_clocks: each tenant has its own test clock. A tenant's
-- business time is database time plus its offset of offset_s seconds and
-- offset_ns nanoseconds (never a single count of nanoseconds, which
-- overflows after 292 years); a tenant without a row has none.
CREATE TABLE tenant_clocks (
	tenant_id  text PRIMARY KEY REFERENCES tenants (id),
	offset_s   bigint NOT NULL CHECK (offset_s >= 0),
	offset_ns  bigint NOT NULL CHECK (offset_ns >= 0 AND offset_ns < 1000000000),
	updated_at timestamptz NOT NULL
);

-- The one clock every tenant shared becomes each existing tenant's own, so
-- no tenant's business time moves on upgrade.
INSERT INTO tenant_clocks (tenant_id, offset_s, offset_ns, updated_at)
SELECT t.id, c.offset_ns / 1000000000, c.offset_ns % 1000000000, c.updated_at
FROM tenants t JOIN test_clock c ON c.id = 1
WHERE c.offset_ns > 0;

DROP TABLE test_clock;
