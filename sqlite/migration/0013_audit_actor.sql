-- Who acted in each audited call (the user, else the token's name, else
-- the access key, or "system" for background work) and whether it only
-- previewed its effect (an unsubscribe with ?dry_run=true). Events written
-- before they were kept have an empty actor and are not dry runs.

ALTER TABLE audit_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;
