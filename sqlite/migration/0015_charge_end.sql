-- 0015_charge_end: a pay-per-use instance is charged from its creation to
-- its deletion. charge_ended_at is the business time of the deletion (UTC
-- RFC 3339), NULL while it runs and for yearly/monthly instances, so that
-- settlement charges up to that second.
ALTER TABLE instances ADD COLUMN charge_ended_at TEXT;
