-- Per-pool lifetimes (an idbroker extension, see docs/behaviour.md): STS DurationSeconds for
-- the pool's credentials, the GetOpenIdToken lifetime, and the cap on a developer token's
-- TokenDuration, in seconds. NULL means the server-wide default, so existing pools keep
-- behaving as before.

ALTER TABLE identity_pools ADD COLUMN credential_duration_seconds BIGINT;
ALTER TABLE identity_pools ADD COLUMN token_lifetime_seconds BIGINT;
ALTER TABLE identity_pools ADD COLUMN max_token_lifetime_seconds BIGINT;
