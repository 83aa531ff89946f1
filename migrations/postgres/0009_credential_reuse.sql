-- Per-pool credential reuse window (an idbroker extension, see docs/behaviour.md): for how
-- many seconds the same identity and role get the same credentials back from a replica's
-- memory instead of a new STS call. NULL or 0 means off, so existing pools keep behaving as
-- before. The credentials themselves are never stored.

ALTER TABLE identity_pools ADD COLUMN credential_reuse_seconds BIGINT;
