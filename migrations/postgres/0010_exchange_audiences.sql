-- Extra token-exchange audiences (an idbroker extension, see docs/behaviour.md): besides its
-- own id, the `audience` values POST /oauth2/token accepts for a pool. Written in the pool's
-- transaction; the index finds the pools that accept an audience.

CREATE TABLE pool_exchange_audiences (
    pool_id  TEXT NOT NULL REFERENCES identity_pools (id) ON DELETE CASCADE,
    audience TEXT NOT NULL,
    PRIMARY KEY (pool_id, audience)
);

CREATE INDEX pool_exchange_audiences_by_audience ON pool_exchange_audiences (audience);
