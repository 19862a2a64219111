-- A user's revocation state in columns of its own: every write keeps the larger of the
-- stored and the written value, so a write carrying an older copy of the user (a PATCH that
-- raced a revocation, on this server or another) can never undo the revocation.
ALTER TABLE users ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN revoked_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0;
UPDATE users SET session_generation = coalesce(json_extract(doc, '$.session_generation'), 0),
                 revoked_at_ms = coalesce(json_extract(doc, '$.revoked_at_ms'), 0),
                 tokens_valid_after = coalesce(json_extract(doc, '$.tokens_valid_after'), 0);
