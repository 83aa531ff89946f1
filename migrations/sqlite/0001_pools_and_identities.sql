-- Identity pools, their tags, principal-tag maps, and identities.
-- JSON documents are kept in TEXT (not JSONB): the store talks to PostgreSQL and SQLite through
-- one set of queries (sqlx's Any driver), and nothing queries inside the documents.
-- Timestamps are epoch milliseconds, for the same reason.

CREATE TABLE identity_pools (
    id          TEXT PRIMARY KEY,
    name        TEXT   NOT NULL,
    config      TEXT   NOT NULL,
    roles       TEXT   NOT NULL DEFAULT '{}',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE pool_tags (
    pool_id TEXT NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (pool_id, key)
);

CREATE TABLE principal_tag_maps (
    pool_id       TEXT NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    provider_name TEXT NOT NULL,
    config        TEXT NOT NULL,
    PRIMARY KEY (pool_id, provider_name)
);

CREATE TABLE identities (
    id          TEXT PRIMARY KEY,
    pool_id     TEXT    NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    -- Set when the identity was merged away (reference §6.4); NULL while it is usable.
    disabled_at INTEGER,
    created_at  INTEGER  NOT NULL,
    updated_at  INTEGER  NOT NULL
);

CREATE INDEX identities_by_pool ON identities (pool_id, id);
