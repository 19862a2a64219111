-- The PostgreSQL twin of sqlite/0006_portal.sql: the admin portal's sessions, shared by
-- every server on the database (the cookie digest, the user, the portal's Graph token).
CREATE TABLE portal_sessions (
    hash TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    access_token TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions(expires_at);
