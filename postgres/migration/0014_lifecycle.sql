-- 0014_lifecycle: yearly/monthly subscriptions end. A running instance's
-- lifecycle phase is active, expired (grace: it keeps working) or frozen
-- (retention: it refuses work); the state column keeps running, deleting
-- and released, so the rules that select running instances still hold for
-- the phases. Tenants may have their own grace and retention periods (in
-- nanoseconds; NULL: the deployment's).
ALTER TABLE tenants ADD COLUMN grace_period_ns bigint CHECK (grace_period_ns >= 0);
ALTER TABLE tenants ADD COLUMN retention_period_ns bigint CHECK (retention_period_ns >= 0);
ALTER TABLE instances ADD COLUMN lifecycle text NOT NULL DEFAULT 'active' CHECK (lifecycle IN ('active', 'expired', 'frozen'));

-- The sweep reads each tenant's due instances by phase and expiry, so it
-- costs what is due, not what is held.
CREATE INDEX instances_lifecycle_due_idx ON instances (tenant_id, lifecycle, expires_at) WHERE state = 'running' AND expires_at IS NOT NULL;

-- Commands gain freeze and unfreeze.
ALTER TABLE commands DROP CONSTRAINT commands_type_check;
ALTER TABLE commands ADD CONSTRAINT commands_type_check
	CHECK (type IN ('release', 'reboot', 'reset', 'wipe_user_data', 'freeze', 'unfreeze'));
