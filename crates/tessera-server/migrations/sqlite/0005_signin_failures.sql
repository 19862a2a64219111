-- Failed sign-in attempts by key (user and address, user, address), in the database so that
-- the limits hold whichever server of several the attempts reach.
CREATE TABLE signin_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
CREATE INDEX signin_failures_by_window ON signin_failures(window_start);
