-- Failed log-ins counted for throttling (docs/security.md, "Guessing passwords"), shared by
-- every server on the database so that replicas give one allowance, not one each. A subject is
-- `email:<email> <address>` or `address:<address>`. Rows without a failure for an hour are
-- forgotten; the hourly maintenance deletes them.
CREATE TABLE login_failures (
    subject  text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    last_at  timestamptz NOT NULL DEFAULT now()
);
