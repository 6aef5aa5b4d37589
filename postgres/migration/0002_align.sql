-- 0002_align: the constraints and index names of the SQLite store, so that
-- the two schemas differ only in column types (see schema_test.go).

-- A SKU's regions go with it.
ALTER TABLE sku_regions
	DROP CONSTRAINT sku_regions_sku_id_fkey,
	ADD CONSTRAINT sku_regions_sku_id_fkey FOREIGN KEY (sku_id) REFERENCES skus (id) ON DELETE CASCADE;

ALTER TABLE orders ADD CONSTRAINT orders_count_check CHECK (count > 0);

ALTER TABLE refunds ADD CONSTRAINT refunds_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id);

ALTER INDEX tokens_tenant_id_idx RENAME TO tokens_tenant_id_created_at_idx;
ALTER INDEX orders_tenant_id_idx RENAME TO orders_tenant_id_created_at_idx;
ALTER INDEX instances_tenant_id_idx RENAME TO instances_tenant_id_id_idx;
ALTER INDEX instances_tenant_created_idx RENAME TO instances_tenant_id_created_at_idx;
ALTER INDEX instances_tenant_name_idx RENAME TO instances_tenant_id_name_idx;
ALTER INDEX refunds_created_idx RENAME TO refunds_created_at_idx;
ALTER INDEX refunds_tenant_idx RENAME TO refunds_tenant_id_idx;
ALTER INDEX release_jobs_due_idx RENAME TO release_jobs_next_attempt_at_idx;
ALTER INDEX release_jobs_created_idx RENAME TO release_jobs_created_at_idx;

-- The audit trail is read newest first by ID, of all tenants or of one.
DROP INDEX audit_events_tenant_idx;
DROP INDEX audit_events_at_idx;
CREATE INDEX audit_events_tenant_id_idx ON audit_events (tenant_id, id);
