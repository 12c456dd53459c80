-- post-elasticsearch-sync (docs/jobs.md, docs/search-index.md): the job's role, which reads the
-- TCS tables a post's search document is made of (made as 0005_function_roles.sql makes the
-- others).

SELECT sync.ensure_role('tis_sync_post_elasticsearch_sync');

GRANT USAGE ON SCHEMA sync, tcs TO tis_sync_post_elasticsearch_sync;
GRANT SELECT, INSERT, UPDATE ON sync.job_run TO tis_sync_post_elasticsearch_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync.job_pause TO tis_sync_post_elasticsearch_sync;

-- Reads what the post document is made of; its output is the index.
GRANT SELECT ON tcs.post, tcs.post_grade, tcs.post_specialty, tcs.specialty, tcs.post_site,
    tcs.post_funding, tcs.placement, tcs.contact_details, tcs.programme_post, tcs.programme,
    tcs.post_trust
    TO tis_sync_post_elasticsearch_sync;
