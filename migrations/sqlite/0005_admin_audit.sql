-- Append-only record of admin changes: who (actor), what (action on a resource), and the
-- resource before and after, as JSON. Kept for the ledger retention period.
-- `at` is in microseconds (not milliseconds as elsewhere) so that changes made one after the
-- other keep their order.

CREATE TABLE admin_audit (
    id          TEXT PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    resource    TEXT   NOT NULL,
    before_json TEXT,
    after_json  TEXT
);

CREATE INDEX admin_audit_by_resource ON admin_audit (resource, at);
CREATE INDEX admin_audit_by_time ON admin_audit (at);
