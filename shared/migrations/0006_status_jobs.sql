-- person-record-status and post-funding-status (docs/jobs.md): the posts' fundings, and the
-- two jobs' roles with their grants (see 0005_function_roles.sql for the pattern).

CREATE TABLE tcs.post_funding (
    id            bigint PRIMARY KEY,
    post_id       bigint NOT NULL,
    start_date    date,
    end_date      date,
    funding_type  text
);
CREATE INDEX post_funding_post_id ON tcs.post_funding (post_id);

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['tis_sync_person_record_status', 'tis_sync_post_funding_status'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created by a concurrent migration of another database
            END;
        END IF;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA sync, tcs TO tis_sync_person_record_status, tis_sync_post_funding_status;
GRANT SELECT, INSERT, UPDATE ON sync.job_run TO tis_sync_person_record_status, tis_sync_post_funding_status;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync.job_pause TO tis_sync_person_record_status, tis_sync_post_funding_status;

-- person-record-status: memberships in, a person's status (and its version) out.
GRANT SELECT ON tcs.programme_membership TO tis_sync_person_record_status;
GRANT SELECT (id, status) ON tcs.person TO tis_sync_person_record_status;
GRANT UPDATE (status, amended_date) ON tcs.person TO tis_sync_person_record_status;

-- post-funding-status: fundings in, a post's funding status out.
GRANT SELECT ON tcs.post_funding TO tis_sync_post_funding_status;
GRANT SELECT (id, funding_status) ON tcs.post TO tis_sync_post_funding_status;
GRANT UPDATE (funding_status) ON tcs.post TO tis_sync_post_funding_status;
