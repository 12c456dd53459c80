-- post-elasticsearch-sync (docs/jobs.md, docs/search-index.md): the TCS tables a post's search
-- document is made of (named by the contract's rule: TCS's PostGrade, PostSpecialty, PostSite,
-- ProgrammePost in snake_case), the columns it reads that earlier migrations left out, and the
-- job's role (made as 0005_function_roles.sql makes the others).

ALTER TABLE tcs.post ADD COLUMN IF NOT EXISTS intrepid_id text;
ALTER TABLE tcs.specialty ADD COLUMN IF NOT EXISTS specialty_code text;

CREATE TABLE tcs.post_grade (
    id               bigint PRIMARY KEY,
    post_id          bigint NOT NULL,
    grade_id         bigint,
    post_grade_type  text
);
CREATE INDEX post_grade_post_id ON tcs.post_grade (post_id);

CREATE TABLE tcs.post_specialty (
    id                   bigint PRIMARY KEY,
    post_id              bigint NOT NULL,
    specialty_id         bigint,
    post_specialty_type  text
);
CREATE INDEX post_specialty_post_id ON tcs.post_specialty (post_id);

CREATE TABLE tcs.post_site (
    id              bigint PRIMARY KEY,
    post_id         bigint NOT NULL,
    site_id         bigint,
    post_site_type  text
);
CREATE INDEX post_site_post_id ON tcs.post_site (post_id);

CREATE TABLE tcs.programme_post (
    id            bigint PRIMARY KEY,
    post_id       bigint NOT NULL,
    programme_id  bigint
);
CREATE INDEX programme_post_post_id ON tcs.programme_post (post_id);

SELECT sync.ensure_role('tis_sync_post_elasticsearch_sync');

GRANT USAGE ON SCHEMA sync, tcs TO tis_sync_post_elasticsearch_sync;
GRANT SELECT, INSERT, UPDATE ON sync.job_run TO tis_sync_post_elasticsearch_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync.job_pause TO tis_sync_post_elasticsearch_sync;

-- Reads what the post document is made of; its output is the index.
GRANT SELECT ON tcs.post, tcs.post_grade, tcs.post_specialty, tcs.specialty, tcs.post_site,
    tcs.post_funding, tcs.placement, tcs.contact_details, tcs.programme_post, tcs.programme,
    tcs.post_trust
    TO tis_sync_post_elasticsearch_sync;
