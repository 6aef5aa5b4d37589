-- Tenant users who sign in with a password (IAM tokens) or an access key.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	tenant_id     TEXT NOT NULL REFERENCES tenants (id),
	name          TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
);

CREATE UNIQUE INDEX users_tenant_id_name_idx ON users (tenant_id, name);

-- The secret is kept as it is: checking a signature needs it.
CREATE TABLE access_keys (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	user_id    TEXT NOT NULL REFERENCES users (id),
	secret     TEXT NOT NULL,
	created_at TEXT NOT NULL
);

CREATE INDEX access_keys_user_id_idx ON access_keys (user_id);

-- Tokens issued to a user die with the user's password or access.
ALTER TABLE tokens ADD COLUMN user_id TEXT REFERENCES users (id);
CREATE INDEX tokens_user_id_idx ON tokens (user_id);

ALTER TABLE audit_events ADD COLUMN user_name TEXT NOT NULL DEFAULT '';

-- The test clock: business time is real time plus offset_ns (one row).
CREATE TABLE test_clock (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	offset_ns  INTEGER NOT NULL CHECK (offset_ns >= 0),
	updated_at TEXT NOT NULL
);
