-- The client address of each audited call: the peer, or behind a trusted
-- proxy the forwarded address. Empty for events written before it was kept.

ALTER TABLE audit_events ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';
