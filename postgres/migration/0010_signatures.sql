-- 0010_signatures: signatures already accepted (signed AK/SK requests,
-- data-plane reports) are remembered until their time window has passed,
-- so a captured request cannot be sent again, on any node. The key is a
-- digest of the signature; expired rows are deleted from time to time.
CREATE TABLE signatures (
	key        text PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX signatures_expires_at_idx ON signatures (expires_at);

-- A command's deliveries: 1, plus one per manual retry (jobs retry); its
-- X-Phonefleet-Delivery-Id is made from the event ID and this number.
ALTER TABLE commands ADD COLUMN deliveries integer NOT NULL DEFAULT 1;
-- Whether the command ended by the data plane's report: only then is a
-- repeated report of the same outcome a no-op.
ALTER TABLE commands ADD COLUMN reported boolean NOT NULL DEFAULT false;
