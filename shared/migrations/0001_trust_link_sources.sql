-- The project's one addition to TCS's tables (which the contract allows: a defaulted column).
-- Trainee-to-trust and post-to-trust links: each trust job owns the rows of its own source, so
-- it can replace them atomically without touching the other job's rows; consumers read
-- distinct (person_id, trust_id) pairs. Rows loaded from elsewhere default to the
-- employing-body job, which replaces them on its next run.
--
-- Real PersonTrust and PostTrust data holds the same pair more than once: TIS-SYNC's
-- employing-body and training-body jobs both insert a pair whose two trusts are the same
-- (TIS-SYNC's own test data, posts.sql, has such posts), and TCS's tables have no unique key
-- (V3.75__trust_admin.sql). Those copies all default to one source, so the copies beyond the
-- lowest id are deleted before the unique key is built: readers use set semantics, so they see
-- the same pairs. TCS's tables are live, so a lock they cannot have within 10 s fails the
-- migration (run it again) rather than queue TCS's own reads and writes behind it.

SET LOCAL lock_timeout = '10s';

ALTER TABLE tcs.person_trust ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'employing-body'
    CONSTRAINT person_trust_source_check CHECK (source IN ('employing-body', 'training-body'));
DELETE FROM tcs.person_trust duplicate
 USING tcs.person_trust kept
 WHERE kept.person_id = duplicate.person_id AND kept.trust_id = duplicate.trust_id
   AND kept.source = duplicate.source AND kept.id < duplicate.id;

ALTER TABLE tcs.post_trust ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'employing-body'
    CONSTRAINT post_trust_source_check CHECK (source IN ('employing-body', 'training-body'));
DELETE FROM tcs.post_trust duplicate
 USING tcs.post_trust kept
 WHERE kept.post_id = duplicate.post_id AND kept.trust_id = duplicate.trust_id
   AND kept.source = duplicate.source AND kept.id < duplicate.id;

-- Concurrently:
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS person_trust_link ON tcs.person_trust (person_id, trust_id, source);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS post_trust_link ON tcs.post_trust (post_id, trust_id, source);
