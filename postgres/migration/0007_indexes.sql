-- 0007_indexes: keep only indexes that enforce a rule or serve a query.
-- Orders are looked up by tenant and request ID (purchase retries), which
-- orders_tenant_id_request_id_idx serves; nothing lists a tenant's orders by
-- time, so that index only cost a B-tree write per purchase.
DROP INDEX orders_tenant_id_created_at_idx;
