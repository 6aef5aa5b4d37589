-- Instance quotas per tenant, the count of instances each tenant holds
-- (kept by purchase and release, so neither the quota check nor a listing's
-- total scans the tenant), and the index a purchase retry looks its first
-- order up by (tenant and X-Request-Id).
--
-- Tenants that exist now keep 0, unlimited: an upgrade refuses nothing that
-- worked before. New tenants get the quota the operator gives them.
ALTER TABLE tenants ADD COLUMN max_instances integer NOT NULL DEFAULT 0 CHECK (max_instances >= 0);
ALTER TABLE tenants ADD COLUMN held_instances integer NOT NULL DEFAULT 0 CHECK (held_instances >= 0);
UPDATE tenants SET held_instances = (
	SELECT COUNT(*) FROM instances WHERE instances.tenant_id = tenants.id AND instances.state <> 'released'
);
CREATE INDEX orders_tenant_id_request_id_idx ON orders (tenant_id, request_id, created_at);

-- The tenant's live instances in listing order: a batch-query without
-- filters pages through this index alone, whatever the tenant's size.
CREATE INDEX instances_tenant_id_created_at_live_idx ON instances (tenant_id, created_at, id, state) WHERE state <> 'released';
