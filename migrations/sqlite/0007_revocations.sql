-- Revocations: an admin denied an identity, or every identity of a pool, from now on
-- (GetOpenIdToken, GetCredentialsForIdentity and the developer token refuse it until the row
-- is deleted). `scope` is 'identity' or 'pool', `target` the identity or pool id. Read on every
-- token and credentials call, by primary key, so a revocation holds on every replica at once.
-- No foreign key: the record outlives a deleted identity or pool (as the ledger does), so an
-- import of the same ids later is still refused until an admin re-enables it.
-- `revoked_before` (epoch milliseconds) is the instant of the IAM deny statement: sessions
-- issued before it are denied.

CREATE TABLE revocations (
    scope          TEXT   NOT NULL,
    target         TEXT   NOT NULL,
    revoked_before INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    actor          TEXT   NOT NULL,
    PRIMARY KEY (scope, target)
);
