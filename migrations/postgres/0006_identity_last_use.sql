-- When a guest identity was last used (GetOpenIdToken, GetCredentialsForIdentity), in epoch
-- milliseconds and at hour precision, so the optional clean-up of idle guests knows whom to
-- delete. NULL means "not since it was created": the clean-up reads created_at then.
ALTER TABLE identities ADD COLUMN last_used_at BIGINT;
