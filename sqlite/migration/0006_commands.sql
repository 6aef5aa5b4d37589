-- Data-plane commands replace the release-only outbox: release, reboot,
-- reset and wipe_user_data, each with its own job ID. Existing release jobs
-- are carried over as release commands (job ID "job_" and the instance ID);
-- their leases are not, so a delivery in progress when the upgrade ran is
-- simply delivered again (receivers deduplicate by event ID).
CREATE TABLE commands (
	id               TEXT PRIMARY KEY,
	type             TEXT NOT NULL CHECK (type IN ('release', 'reboot', 'reset', 'wipe_user_data')),
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
	done_at          TEXT
);

-- At most one command in flight per instance, and one release ever.
CREATE UNIQUE INDEX commands_in_flight_idx ON commands (instance_id) WHERE state IN ('pending', 'accepted');
CREATE UNIQUE INDEX commands_release_idx ON commands (instance_id) WHERE type = 'release';
CREATE INDEX commands_state_next_attempt_at_idx ON commands (state, next_attempt_at);
CREATE INDEX commands_created_at_idx ON commands (created_at, instance_id, id);
CREATE INDEX commands_instance_id_idx ON commands (instance_id, created_at);

INSERT INTO commands (id, type, instance_id, tenant_id, event_id, request_id, state, attempts,
                      next_attempt_at, last_error, created_at, done_at)
SELECT 'job_' || instance_id, 'release', instance_id, tenant_id, event_id, request_id, state, attempts,
       next_attempt_at, last_error, created_at, done_at
FROM release_jobs;

DROP TABLE release_jobs;

-- The end user an instance is assigned to; '' when unassigned.
ALTER TABLE instances ADD COLUMN assign_user TEXT NOT NULL DEFAULT '';

-- Admin tokens issued before these actions existed get them, so a client
-- that worked keeps working against the new APIs.
UPDATE tokens SET actions = json_insert(actions, '$[#]', 'instanceAssign', '$[#]', 'instanceUnassign',
                                        '$[#]', 'instanceReboot', '$[#]', 'instanceReset', '$[#]', 'instancePrepare')
WHERE EXISTS (SELECT 1 FROM json_each(tokens.actions) WHERE value = 'instanceDelete')
  AND EXISTS (SELECT 1 FROM json_each(tokens.actions) WHERE value = 'instanceCreate')
  AND NOT EXISTS (SELECT 1 FROM json_each(tokens.actions) WHERE value = 'instanceAssign');
