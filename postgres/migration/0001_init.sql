-- 0001_init: the phonefleet data model (DESIGN.md "Data model").
-- Times are timestamptz (UTC), money is bigint minor units, lists are arrays.

CREATE TABLE tenants (
	id         text PRIMARY KEY,
	name       text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

CREATE TABLE tokens (
	id         text PRIMARY KEY,
	tenant_id  text NOT NULL REFERENCES tenants (id),
	name       text NOT NULL DEFAULT '',
	hash       bytea NOT NULL UNIQUE,
	actions    text[] NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz
);
CREATE INDEX tokens_tenant_id_idx ON tokens (tenant_id, created_at);

CREATE TABLE skus (
	id             text PRIMARY KEY,
	type           text NOT NULL,
	name           text NOT NULL,
	calc_spec      text NOT NULL DEFAULT '',
	storage_spec   text NOT NULL DEFAULT '',
	spec_desc      text NOT NULL DEFAULT '',
	max_resolution text NOT NULL DEFAULT '',
	band_sizes     integer[] NOT NULL,
	month_price    bigint NOT NULL CHECK (month_price > 0),
	year_price     bigint NOT NULL CHECK (year_price > 0),
	hour_price     bigint NOT NULL CHECK (hour_price > 0),
	currency       text NOT NULL,
	created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sku_regions (
	sku_id    text NOT NULL REFERENCES skus (id),
	region_id text NOT NULL,
	position  integer NOT NULL, -- the order the operator listed the regions in
	PRIMARY KEY (sku_id, region_id)
);

CREATE TABLE orders (
	id           text PRIMARY KEY,
	tenant_id    text NOT NULL REFERENCES tenants (id),
	sku_id       text NOT NULL REFERENCES skus (id),
	region_id    text NOT NULL,
	os           text NOT NULL,
	band_size    integer NOT NULL,
	billing_mode text NOT NULL CHECK (billing_mode IN ('yearly', 'monthly', 'pay_per_use')),
	period_num   integer NOT NULL,
	count        integer NOT NULL,
	unit_price   bigint NOT NULL,
	total        bigint NOT NULL,
	currency     text NOT NULL,
	auto_pay     boolean NOT NULL,
	auto_renew   boolean NOT NULL,
	request_id   text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL
);
CREATE INDEX orders_tenant_id_idx ON orders (tenant_id, created_at);

CREATE TABLE instances (
	id           text PRIMARY KEY,
	tenant_id    text NOT NULL REFERENCES tenants (id),
	order_id     text NOT NULL REFERENCES orders (id),
	name         text NOT NULL,
	region_id    text NOT NULL,
	sku_id       text NOT NULL REFERENCES skus (id),
	os           text NOT NULL,
	band_size    integer NOT NULL,
	billing_mode text NOT NULL CHECK (billing_mode IN ('yearly', 'monthly', 'pay_per_use')),
	period_num   integer NOT NULL,
	paid_amount  bigint NOT NULL,
	currency     text NOT NULL,
	starts_at    timestamptz NOT NULL,
	expires_at   timestamptz,
	state        text NOT NULL CHECK (state IN ('running', 'deleting', 'released')),
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL
);
-- Listing pages in keyset order and unsubscribing by (tenant, id) stay O(log n).
-- (tenant_id, id) matches the tenant-scoped lookups exactly, so the planner
-- never scans a tenant's listing index for them, even on stale statistics.
CREATE UNIQUE INDEX instances_tenant_id_idx ON instances (tenant_id, id);
CREATE INDEX instances_tenant_created_idx ON instances (tenant_id, created_at, id);
CREATE INDEX instances_tenant_name_idx ON instances (tenant_id, name);

-- At most one refund per instance: the primary key is the last guard.
CREATE TABLE refunds (
	instance_id text PRIMARY KEY REFERENCES instances (id),
	tenant_id   text NOT NULL REFERENCES tenants (id),
	order_id    text NOT NULL,
	paid        bigint NOT NULL,
	consumed    bigint NOT NULL,
	fee         bigint NOT NULL,
	amount      bigint NOT NULL CHECK (amount >= 0),
	currency    text NOT NULL,
	request_id  text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL
);
CREATE INDEX refunds_created_idx ON refunds (created_at, instance_id);
CREATE INDEX refunds_tenant_idx ON refunds (tenant_id, created_at, instance_id);

-- The release outbox: one job per instance. A claim is a lease (lease_owner
-- until lease_expires_at).
CREATE TABLE release_jobs (
	instance_id      text PRIMARY KEY REFERENCES instances (id),
	tenant_id        text NOT NULL REFERENCES tenants (id),
	event_id         text NOT NULL UNIQUE,
	request_id       text NOT NULL DEFAULT '',
	state            text NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
	attempts         integer NOT NULL DEFAULT 0,
	next_attempt_at  timestamptz NOT NULL,
	last_error       text NOT NULL DEFAULT '',
	lease_owner      text,
	lease_expires_at timestamptz,
	created_at       timestamptz NOT NULL,
	done_at          timestamptz
);
CREATE INDEX release_jobs_due_idx ON release_jobs (next_attempt_at, instance_id) WHERE state = 'pending';
CREATE INDEX release_jobs_created_idx ON release_jobs (created_at, instance_id);

-- The audit trail keeps attempts of any tenant, also failed ones, so it has
-- no foreign keys.
CREATE TABLE audit_events (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at           timestamptz NOT NULL,
	tenant_id    text,
	token_id     text,
	action       text NOT NULL,
	request_id   text NOT NULL DEFAULT '',
	instance_ids text[] NOT NULL DEFAULT '{}',
	error_code   text NOT NULL DEFAULT '',
	detail       text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, at, id);
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
