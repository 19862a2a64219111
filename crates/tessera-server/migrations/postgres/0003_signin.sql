-- The PostgreSQL twin of sqlite/0003_signin.sql (flags are BIGINT). Interactive sign-in:
-- device codes, authorization codes, browser sign-in sessions and the consents users grant.
-- Secrets (codes, cookies) are stored as SHA-256 digests only.
CREATE TABLE device_codes (
    hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    claims TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_seconds BIGINT NOT NULL,
    last_poll_at BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT
);
CREATE TABLE auth_codes (
    hash TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE signin_sessions (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    auth_time BIGINT NOT NULL,
    mfa_at BIGINT NOT NULL DEFAULT 0,
    ended BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE user_consents (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    resource_key TEXT NOT NULL,
    scopes TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, client_id, resource_key)
);
