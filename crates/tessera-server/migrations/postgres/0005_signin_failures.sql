-- The PostgreSQL twin of sqlite/0005_signin_failures.sql: failed sign-in attempts by key,
-- shared by every server on the database.
CREATE TABLE signin_failures (
    key TEXT COLLATE "C" PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
CREATE INDEX signin_failures_by_window ON signin_failures(window_start);
