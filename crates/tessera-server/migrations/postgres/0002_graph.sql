-- The PostgreSQL twin of sqlite/0002_graph.sql: searchable user and group columns, token
-- lifetime policies and their assignments. No backfill: PostgreSQL stores start at this
-- schema's first version, so no row predates these columns.
ALTER TABLE users ADD COLUMN display_name TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN surname TEXT;
ALTER TABLE users ADD COLUMN mail TEXT;
ALTER TABLE users ADD COLUMN account_enabled BIGINT NOT NULL DEFAULT 1;
CREATE INDEX users_by_display_name ON users(tenant_id, display_name, id);
ALTER TABLE groups ADD COLUMN display_name TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX groups_by_display_name ON groups(tenant_id, display_name, id);

CREATE TABLE token_lifetime_policies (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    is_org_default BIGINT NOT NULL DEFAULT 0,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Only one organization default per tenant, enforced by the database itself.
CREATE UNIQUE INDEX token_lifetime_policies_one_default ON token_lifetime_policies(tenant_id) WHERE is_org_default = 1;

-- At most one policy per application or service principal: the key is the object.
CREATE TABLE policy_assignments (
    tenant_id TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    object_kind TEXT NOT NULL,
    policy_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, object_id)
);
CREATE INDEX policy_assignments_by_policy ON policy_assignments(tenant_id, policy_id);

-- Servers cache each tenant's policies and assignments too.
CREATE TRIGGER token_lifetime_policies_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON token_lifetime_policies
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_directory_changed();
CREATE TRIGGER policy_assignments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON policy_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_directory_changed();

-- Revocation by generation (see the SQLite twin).
ALTER TABLE refresh_tokens ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
