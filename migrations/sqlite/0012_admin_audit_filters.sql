-- The audit's filters by actor and by action (the console's and GET /v1/audit's), each with
-- the time so a page newest first is read from the index in order, as by resource.

CREATE INDEX admin_audit_by_actor ON admin_audit (actor, at);
CREATE INDEX admin_audit_by_action ON admin_audit (action, at);
