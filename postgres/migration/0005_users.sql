-- Tenant users who sign in with a password (IAM tokens) or an access key.

CREATE TABLE users (
	id            text PRIMARY KEY,
	tenant_id     text NOT NULL REFERENCES tenants (id),
	name          text NOT NULL,
	role          text NOT NULL CHECK (role IN ('admin', 'viewer')),
	password_hash text NOT NULL,
	disabled      boolean NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_tenant_id_name_idx ON users (tenant_id, name);

-- The secret is kept as it is: checking a signature needs it.
CREATE TABLE access_keys (
	id         text PRIMARY KEY,
	tenant_id  text NOT NULL REFERENCES tenants (id),
	user_id    text NOT NULL REFERENCES users (id),
	secret     text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX access_keys_user_id_idx ON access_keys (user_id);

-- Tokens issued to a user die with the user's password or access.
ALTER TABLE tokens ADD COLUMN user_id text REFERENCES users (id);
CREATE INDEX tokens_user_id_idx ON tokens (user_id);

ALTER TABLE audit_events ADD COLUMN user_name text NOT NULL DEFAULT '';

-- The test clock: business time is database time plus offset_ns (one row).
CREATE TABLE test_clock (
	id         integer PRIMARY KEY CHECK (id = 1),
	offset_ns  bigint NOT NULL CHECK (offset_ns >= 0),
	updated_at timestamptz NOT NULL
);
