-- Linked logins (one login, one identity), registered OpenID Connect providers, and which
-- pools use which provider (so a provider in use cannot be deleted).

CREATE TABLE identity_logins (
    pool_id      TEXT   NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    provider_key TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    identity_id  TEXT   NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    -- The only race guard needed: two first logins of one user cannot both insert.
    PRIMARY KEY (pool_id, provider_key, subject)
);

CREATE INDEX identity_logins_by_identity ON identity_logins (identity_id);

CREATE TABLE oidc_providers (
    key         TEXT PRIMARY KEY,
    issuer      TEXT   NOT NULL UNIQUE,
    client_ids  TEXT   NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE pool_oidc_providers (
    pool_id      TEXT NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    provider_key TEXT NOT NULL REFERENCES oidc_providers (key),
    PRIMARY KEY (pool_id, provider_key)
);

CREATE INDEX pool_oidc_providers_by_provider ON pool_oidc_providers (provider_key);
