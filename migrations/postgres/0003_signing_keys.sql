-- idbroker's own signing keys. The private key is sealed (AES-256-GCM) under the master key
-- named by kek_id; nothing here is usable without IDBROKER_MASTER_KEY.

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT   NOT NULL,
    public_jwk      TEXT   NOT NULL,
    sealed_private  TEXT   NOT NULL,
    kek_id          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    signs_from      BIGINT NOT NULL,
    signs_until     BIGINT,
    published_until BIGINT
);

-- One row, locked by whoever rotates keys, so replicas never rotate twice at once.
CREATE TABLE signing_key_lock (
    id INTEGER PRIMARY KEY
);
INSERT INTO signing_key_lock (id) VALUES (1);
