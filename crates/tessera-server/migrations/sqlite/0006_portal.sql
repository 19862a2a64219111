-- The admin portal's sessions: the cookie's SHA-256 digest, whose they are, and the portal's
-- own Graph access token (the session ends when it expires, at logout, or when the user's
-- sessions are revoked).
CREATE TABLE portal_sessions (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    access_token TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions(expires_at);
