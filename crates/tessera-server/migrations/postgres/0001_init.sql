-- The PostgreSQL twin of sqlite/0001_init.sql, differing only where the dialects must:
-- flags are BIGINT (the shared code reads them as i64), keys and names sort bytewise
-- (COLLATE "C", as SQLite's BINARY does) so paging orders agree, and writes to the tables
-- servers cache announce themselves on the `tessera_directory` channel.
CREATE TABLE tenants (
    id TEXT COLLATE "C" PRIMARY KEY,
    domain TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE applications (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    client_id TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);
CREATE TABLE app_identifiers (
    tenant_id TEXT COLLATE "C" NOT NULL,
    identifier TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, identifier)
);
CREATE TABLE users (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    id TEXT COLLATE "C" NOT NULL,
    upn TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_upn ON users(tenant_id, upn);
CREATE TABLE groups (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    id TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE refresh_tokens (
    hash TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    scope TEXT NOT NULL,
    session_id TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(tenant_id, user_id);
CREATE TABLE signing_keys (
    kid TEXT COLLATE "C" PRIMARY KEY,
    pkcs8_der TEXT NOT NULL,
    cert_der TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE assertion_jtis (
    client_id TEXT COLLATE "C" NOT NULL,
    jti TEXT COLLATE "C" NOT NULL,
    assertion_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_jtis_expiry ON assertion_jtis(expires_at);
CREATE TABLE meta (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every server keeps tenants and applications in memory; a change made through any server
-- (or by hand) tells the others to drop their copies, in the same transaction as the change.
CREATE FUNCTION tessera_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_directory', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_directory_changed();
CREATE TRIGGER applications_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_directory_changed();
CREATE TRIGGER app_identifiers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON app_identifiers
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_directory_changed();
