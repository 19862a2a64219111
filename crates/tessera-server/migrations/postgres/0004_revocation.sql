-- The PostgreSQL twin of sqlite/0004_revocation.sql: a user's revocation state in columns
-- every write keeps the larger value of, so an older copy of the user never undoes it.
ALTER TABLE users ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN revoked_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0;
UPDATE users SET session_generation = coalesce((doc::jsonb ->> 'session_generation')::bigint, 0),
                 revoked_at_ms = coalesce((doc::jsonb ->> 'revoked_at_ms')::bigint, 0),
                 tokens_valid_after = coalesce((doc::jsonb ->> 'tokens_valid_after')::bigint, 0);
