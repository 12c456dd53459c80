-- The revalidation feeds (docs/jobs.md): their roles, which read the dates of memberships and
-- placements and the ledger, and write nothing of TCS's (made as 0005_function_roles.sql makes
-- the others).

SELECT sync.ensure_role('tis_sync_reval_current_pm_sync'), sync.ensure_role('tis_sync_reval_current_placement_sync');

GRANT USAGE ON SCHEMA sync, tcs TO tis_sync_reval_current_pm_sync, tis_sync_reval_current_placement_sync;
GRANT SELECT, INSERT, UPDATE ON sync.job_run TO tis_sync_reval_current_pm_sync, tis_sync_reval_current_placement_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync.job_pause TO tis_sync_reval_current_pm_sync, tis_sync_reval_current_placement_sync;

GRANT SELECT (person_id, programme_start_date, programme_end_date) ON tcs.programme_membership
    TO tis_sync_reval_current_pm_sync;
GRANT SELECT (trainee_id, date_from, date_to) ON tcs.placement TO tis_sync_reval_current_placement_sync;
