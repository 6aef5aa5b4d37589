-- Data-plane commands replace the release-only outbox: release, reboot,
-- reset and wipe_user_data, each with its own job ID. Existing release jobs
-- are carried over as release commands (job ID "job_" and the instance ID);
-- their leases are not, so a delivery in progress when the upgrade ran is
-- simply delivered again (receivers deduplicate by event ID).
CREATE TABLE commands (
	id               text PRIMARY KEY,
	type             text NOT NULL CHECK (type IN ('release', 'reboot', 'reset', 'wipe_user_data')),
	instance_id      text NOT NULL REFERENCES instances (id),
	tenant_id        text NOT NULL REFERENCES tenants (id),
	user_id          text NOT NULL DEFAULT '',
	task_id          text NOT NULL DEFAULT '',
	event_id         text NOT NULL UNIQUE,
	request_id       text NOT NULL DEFAULT '',
	state            text NOT NULL CHECK (state IN ('pending', 'accepted', 'done', 'failed', 'canceled')),
	attempts         integer NOT NULL DEFAULT 0,
	next_attempt_at  timestamptz NOT NULL,
	last_error       text NOT NULL DEFAULT '',
	lease_owner      text,
	lease_expires_at timestamptz,
	created_at       timestamptz NOT NULL,
	done_at          timestamptz
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
ALTER TABLE instances ADD COLUMN assign_user text NOT NULL DEFAULT '';

-- Admin tokens issued before these actions existed get them, so a client
-- that worked keeps working against the new APIs.
UPDATE tokens
SET actions = actions || ARRAY['instanceAssign', 'instanceUnassign', 'instanceReboot', 'instanceReset', 'instancePrepare']
WHERE actions @> ARRAY['instanceCreate', 'instanceDelete'] AND NOT actions @> ARRAY['instanceAssign'];
