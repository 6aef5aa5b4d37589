-- 0002_align: the same column and index names as the PostgreSQL store, so
-- that the two schemas differ only in column types (see schema_test.go in
-- postgres/).

ALTER TABLE release_jobs RENAME COLUMN lease_until TO lease_expires_at;

DROP INDEX tokens_tenant_id_idx;
CREATE INDEX tokens_tenant_id_created_at_idx ON tokens (tenant_id, created_at);

DROP INDEX orders_tenant_id_idx;
CREATE INDEX orders_tenant_id_created_at_idx ON orders (tenant_id, created_at);

CREATE INDEX instances_tenant_id_name_idx ON instances (tenant_id, name);

-- Claims look only at pending jobs that are due.
DROP INDEX release_jobs_state_next_attempt_at_idx;
CREATE INDEX release_jobs_next_attempt_at_idx ON release_jobs (next_attempt_at, instance_id) WHERE state = 'pending';
