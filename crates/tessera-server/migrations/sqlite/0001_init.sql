-- Portable SQL: this file's twin for PostgreSQL differs only where the dialects must.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE applications (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);
CREATE TABLE app_identifiers (
    tenant_id TEXT NOT NULL,
    identifier TEXT NOT NULL,
    client_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, identifier)
);
CREATE TABLE users (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    upn TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_upn ON users(tenant_id, upn);
CREATE TABLE groups (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    session_id TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(tenant_id, user_id);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    pkcs8_der TEXT NOT NULL,
    cert_der TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE assertion_jtis (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    assertion_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
