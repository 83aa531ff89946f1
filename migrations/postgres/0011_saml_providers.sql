-- Registered SAML providers (the equivalent of IAM SAML providers), which pools use which
-- (so a provider in use cannot be deleted), and the replay cache of SAML assertion ids.

CREATE TABLE saml_providers (
    name        TEXT PRIMARY KEY,
    entity_id   TEXT   NOT NULL,
    -- The metadata document as the admin sent it; parsed again when used.
    metadata    TEXT   NOT NULL,
    -- 1: RSA-SHA1 and SHA-1 digests are accepted from this provider.
    legacy_sha1 BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE pool_saml_providers (
    pool_id       TEXT NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    provider_name TEXT NOT NULL REFERENCES saml_providers (name),
    PRIMARY KEY (pool_id, provider_name)
);

CREATE INDEX pool_saml_providers_by_provider ON pool_saml_providers (provider_name);

-- One row per assertion accepted, until it expires: the primary key makes a first use
-- insert-or-fail on every replica; later uses are counted against a bound, for one pool only.
CREATE TABLE saml_assertions (
    provider_name TEXT   NOT NULL,
    assertion_id  TEXT   NOT NULL,
    pool_id       TEXT   NOT NULL,
    uses          BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (provider_name, assertion_id)
);

CREATE INDEX saml_assertions_by_expiry ON saml_assertions (expires_at);
