-- 0014_lifecycle: yearly/monthly subscriptions end. A running instance's
-- lifecycle phase is active, expired (grace: it keeps working) or frozen
-- (retention: it refuses work); the state column keeps running, deleting
-- and released, so the rules that select running instances still hold for
-- the phases. Tenants may have their own grace and retention periods (in
-- nanoseconds; NULL: the deployment's).
ALTER TABLE tenants ADD COLUMN grace_period_ns INTEGER CHECK (grace_period_ns >= 0);
ALTER TABLE tenants ADD COLUMN retention_period_ns INTEGER CHECK (retention_period_ns >= 0);
ALTER TABLE instances ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle IN ('active', 'expired', 'frozen'));

-- The sweep reads each tenant's due instances by phase and expiry, so it
-- costs what is due, not what is held.
CREATE INDEX instances_lifecycle_due_idx ON instances (tenant_id, lifecycle, expires_at) WHERE state = 'running' AND expires_at IS NOT NULL;

-- Commands gain freeze and unfreeze. SQLite cannot change a CHECK, so the
-- table is rebuilt (nothing refers to it).
CREATE TABLE commands_new (
	id               TEXT PRIMARY KEY,
	type             TEXT NOT NULL CHECK (type IN ('release', 'reboot', 'reset', 'wipe_user_data', 'freeze', 'unfreeze')),
	instance_id      TEXT NOT NULL REFERENCES instances (id),
	tenant_id        TEXT NOT NULL REFERENCES tenants (id),
	user_id          TEXT NOT NULL DEFAULT '',
	task_id          TEXT NOT NULL DEFAULT '',
	event_id         TEXT NOT NULL UNIQUE,
	request_id       TEXT NOT NULL DEFAULT '',
	state            TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'done', 'failed', 'canceled')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  TEXT NOT NULL,
	last_error       TEXT NOT NULL DEFAULT '',
	lease_owner      TEXT,
	lease_expires_at TEXT,
	created_at       TEXT NOT NULL,
	done_at          TEXT,
	deliveries       INTEGER NOT NULL DEFAULT 1,
	reported         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO commands_new (id, type, instance_id, tenant_id, user_id, task_id, event_id, request_id, state, attempts,
                          next_attempt_at, last_error, lease_owner, lease_expires_at, created_at, done_at, deliveries, reported)
SELECT id, type, instance_id, tenant_id, user_id, task_id, event_id, request_id, state, attempts,
       next_attempt_at, last_error, lease_owner, lease_expires_at, created_at, done_at, deliveries, reported
FROM commands;
DROP TABLE commands;
ALTER TABLE commands_new RENAME TO commands;
CREATE UNIQUE INDEX commands_in_flight_idx ON commands (instance_id) WHERE state IN ('pending', 'accepted');
CREATE UNIQUE INDEX commands_release_idx ON commands (instance_id) WHERE type = 'release';
CREATE INDEX commands_state_next_attempt_at_idx ON commands (state, next_attempt_at);
CREATE INDEX commands_created_at_idx ON commands (created_at, instance_id, id);
CREATE INDEX commands_instance_id_idx ON commands (instance_id, created_at);
