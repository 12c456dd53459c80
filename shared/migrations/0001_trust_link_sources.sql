-- The project's one addition to TCS's tables (which the contract allows: a defaulted column).
-- Trainee-to-trust and post-to-trust links: each trust job owns the rows of its own source, so
-- it can replace them atomically without touching the other job's rows; consumers read
-- distinct (person_id, trust_id) pairs. Rows loaded from elsewhere default to the
-- employing-body job, which replaces them on its next run.

ALTER TABLE tcs.person_trust ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'employing-body'
    CONSTRAINT person_trust_source_check CHECK (source IN ('employing-body', 'training-body'));
CREATE UNIQUE INDEX IF NOT EXISTS person_trust_link ON tcs.person_trust (person_id, trust_id, source);

ALTER TABLE tcs.post_trust ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'employing-body'
    CONSTRAINT post_trust_source_check CHECK (source IN ('employing-body', 'training-body'));
CREATE UNIQUE INDEX IF NOT EXISTS post_trust_link ON tcs.post_trust (post_id, trust_id, source);
