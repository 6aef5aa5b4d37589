-- Times are UTC RFC 3339 text with nine fractional digits, so text order is
-- time order. Money is INTEGER minor units.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL
);

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id),
	name       TEXT NOT NULL DEFAULT '',
	hash       BLOB NOT NULL UNIQUE,
	actions    TEXT NOT NULL, -- JSON array of IAM actions
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	revoked_at TEXT
);

CREATE INDEX tokens_tenant_id_idx ON tokens (tenant_id);

CREATE TABLE skus (
	id             TEXT PRIMARY KEY,
	type           TEXT NOT NULL,
	name           TEXT NOT NULL,
	calc_spec      TEXT NOT NULL DEFAULT '',
	storage_spec   TEXT NOT NULL DEFAULT '',
	spec_desc      TEXT NOT NULL DEFAULT '',
	max_resolution TEXT NOT NULL DEFAULT '',
	band_sizes     TEXT NOT NULL, -- "2,4,8"
	month_price    INTEGER NOT NULL CHECK (month_price > 0),
	year_price     INTEGER NOT NULL CHECK (year_price > 0),
	hour_price     INTEGER NOT NULL CHECK (hour_price > 0),
	currency       TEXT NOT NULL,
	created_at     TEXT NOT NULL
);

CREATE TABLE sku_regions (
	sku_id    TEXT NOT NULL REFERENCES skus (id) ON DELETE CASCADE,
	region_id TEXT NOT NULL,
	position  INTEGER NOT NULL,
	PRIMARY KEY (sku_id, region_id)
);

CREATE TABLE orders (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants (id),
	sku_id       TEXT NOT NULL REFERENCES skus (id),
	region_id    TEXT NOT NULL,
	os           TEXT NOT NULL,
	band_size    INTEGER NOT NULL,
	billing_mode TEXT NOT NULL CHECK (billing_mode IN ('yearly', 'monthly', 'pay_per_use')),
	period_num   INTEGER NOT NULL,
	count        INTEGER NOT NULL CHECK (count > 0),
	unit_price   INTEGER NOT NULL,
	total        INTEGER NOT NULL,
	currency     TEXT NOT NULL,
	auto_pay     INTEGER NOT NULL,
	auto_renew   INTEGER NOT NULL,
	request_id   TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL
);

CREATE INDEX orders_tenant_id_idx ON orders (tenant_id);

CREATE TABLE instances (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants (id),
	order_id     TEXT NOT NULL REFERENCES orders (id),
	name         TEXT NOT NULL,
	region_id    TEXT NOT NULL,
	sku_id       TEXT NOT NULL REFERENCES skus (id),
	os           TEXT NOT NULL,
	band_size    INTEGER NOT NULL,
	billing_mode TEXT NOT NULL CHECK (billing_mode IN ('yearly', 'monthly', 'pay_per_use')),
	period_num   INTEGER NOT NULL,
	paid_amount  INTEGER NOT NULL,
	currency     TEXT NOT NULL,
	starts_at    TEXT NOT NULL,
	expires_at   TEXT,
	state        TEXT NOT NULL CHECK (state IN ('running', 'deleting', 'released')),
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL
);

CREATE UNIQUE INDEX instances_tenant_id_id_idx ON instances (tenant_id, id);
CREATE INDEX instances_tenant_id_created_at_idx ON instances (tenant_id, created_at, id);

-- At most one refund per instance, whatever the concurrency: the key says so.
CREATE TABLE refunds (
	instance_id TEXT PRIMARY KEY REFERENCES instances (id),
	tenant_id   TEXT NOT NULL REFERENCES tenants (id),
	order_id    TEXT NOT NULL REFERENCES orders (id),
	paid        INTEGER NOT NULL,
	consumed    INTEGER NOT NULL,
	fee         INTEGER NOT NULL,
	amount      INTEGER NOT NULL CHECK (amount >= 0),
	currency    TEXT NOT NULL,
	request_id  TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL
);

CREATE INDEX refunds_created_at_idx ON refunds (created_at, instance_id);
CREATE INDEX refunds_tenant_id_idx ON refunds (tenant_id, created_at, instance_id);

-- The outbox: one release job per instance, written in the unsubscribe tx.
CREATE TABLE release_jobs (
	instance_id     TEXT PRIMARY KEY REFERENCES instances (id),
	tenant_id       TEXT NOT NULL REFERENCES tenants (id),
	event_id        TEXT NOT NULL UNIQUE,
	request_id      TEXT NOT NULL DEFAULT '',
	state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	lease_owner     TEXT,
	lease_until     TEXT,
	created_at      TEXT NOT NULL,
	done_at         TEXT
);

CREATE INDEX release_jobs_state_next_attempt_at_idx ON release_jobs (state, next_attempt_at);
CREATE INDEX release_jobs_created_at_idx ON release_jobs (created_at, instance_id);

-- No foreign key on tenant_id: an attempt is audited even when its tenant is
-- unknown or later gone.
CREATE TABLE audit_events (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	at           TEXT NOT NULL,
	tenant_id    TEXT,
	token_id     TEXT,
	action       TEXT NOT NULL,
	request_id   TEXT NOT NULL DEFAULT '',
	instance_ids TEXT NOT NULL DEFAULT '[]', -- JSON array
	error_code   TEXT NOT NULL,
	detail       TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_tenant_id_idx ON audit_events (tenant_id, id);
