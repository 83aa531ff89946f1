-- Append-only ledger of AWS credentials idbroker handed out (never their secret parts), so a
-- platform team can answer "which identity held access key ASIA… and when". No foreign keys:
-- the record outlives the identity and the pool. Pruned after the retention period.

CREATE TABLE credential_issuances (
    id            TEXT PRIMARY KEY,
    issued_at     INTEGER NOT NULL,
    identity_id   TEXT   NOT NULL,
    pool_id       TEXT   NOT NULL,
    role_arn      TEXT   NOT NULL,
    access_key_id TEXT   NOT NULL,
    expires_at    INTEGER NOT NULL
);

CREATE INDEX credential_issuances_by_access_key ON credential_issuances (access_key_id);
CREATE INDEX credential_issuances_by_identity ON credential_issuances (identity_id, issued_at);
CREATE INDEX credential_issuances_by_pool ON credential_issuances (pool_id, issued_at);
CREATE INDEX credential_issuances_by_time ON credential_issuances (issued_at);
