-- The audit log: what was changed in a workspace, by whom, from where. Append-only: no UPDATE
-- ever, and no DELETE but the one cascading from the workspace's own deletion (the log is kept
-- as long as the workspace). Who acted is kept as text too (the account's email, or the key's
-- name and prefix, as they were), so an event still says who once the key or account is gone;
-- their ids have no foreign key for the same reason.

CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    account_id   uuid,
    key_id       uuid,
    address      text,
    action       text NOT NULL,
    target       text NOT NULL DEFAULT '',
    mock_id      uuid,
    mock_name    text,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, id DESC);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The cascade from deleting the workspace runs after its row is gone.
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM workspaces WHERE id = OLD.workspace_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
