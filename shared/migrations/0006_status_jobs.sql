-- person-record-status and post-funding-status (docs/jobs.md): the two jobs' roles with their
-- grants (made as 0005_function_roles.sql makes the others).

SELECT sync.ensure_role('tis_sync_person_record_status'), sync.ensure_role('tis_sync_post_funding_status');

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
