-- Graph: searchable user and group columns (kept in step with `doc` by every write),
-- token lifetime policies and their assignments. Portable SQL: partial unique indexes and
-- expression-free columns work the same in PostgreSQL.
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN surname TEXT;
ALTER TABLE users ADD COLUMN mail TEXT;
ALTER TABLE users ADD COLUMN account_enabled INTEGER NOT NULL DEFAULT 1;
-- Backfill rows written before these columns existed (this file is the SQLite twin, so
-- SQLite's JSON functions are fine here).
UPDATE users SET display_name = coalesce(json_extract(doc, '$.display_name'), ''),
                 given_name = json_extract(doc, '$.given_name'),
                 surname = json_extract(doc, '$.surname'),
                 mail = json_extract(doc, '$.mail'),
                 account_enabled = coalesce(json_extract(doc, '$.account_enabled'), 1);
CREATE INDEX users_by_display_name ON users(tenant_id, display_name, id);
ALTER TABLE groups ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
UPDATE groups SET display_name = coalesce(json_extract(doc, '$.display_name'), '');
CREATE INDEX groups_by_display_name ON groups(tenant_id, display_name, id);

CREATE TABLE token_lifetime_policies (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    is_org_default INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Only one organization default per tenant, enforced by the database itself.
CREATE UNIQUE INDEX token_lifetime_policies_one_default ON token_lifetime_policies(tenant_id) WHERE is_org_default = 1;

-- At most one policy per application or service principal: the key is the object.
CREATE TABLE policy_assignments (
    tenant_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, object_id)
);
CREATE INDEX policy_assignments_by_policy ON policy_assignments(tenant_id, policy_id);

-- Revocation by generation: a user's sign-in sessions are revoked by bumping the user's
-- generation; refresh tokens of an older generation stop working. Exact, unlike
-- second-resolution timestamps.
ALTER TABLE refresh_tokens ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
