-- A success whose Job Succeeded event was never accepted (publishing kept failing through
-- Lambda's retries) is published again by the next run of any job and by the watchdog, so its
-- follow-ups start (docs/jobs.md "Every run"). Recording that is the one write a role may make
-- on another job's ledger row: this function sets published_at and nothing else, on a success
-- only, with its owner's rights.
CREATE FUNCTION sync.mark_published(run uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        UPDATE sync.job_run SET published_at = now()
        WHERE run_id = run AND published_at IS NULL AND status IN ('succeeded', 'failed', 'deferred')
    $$;
REVOKE EXECUTE ON FUNCTION sync.mark_published(uuid) FROM PUBLIC;

-- Every job's role and the watchdog's.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY[
        'tis_sync_person_owner_rebuild', 'tis_sync_person_placement_employing_body_trust',
        'tis_sync_person_placement_training_body_trust', 'tis_sync_post_employing_body_trust',
        'tis_sync_post_training_body_trust', 'tis_sync_person_record_status', 'tis_sync_post_funding_status',
        'tis_sync_reval_current_pm_sync', 'tis_sync_reval_current_placement_sync',
        'tis_sync_person_elasticsearch_sync', 'tis_sync_post_elasticsearch_sync', 'tis_sync_sync_watchdog'
    ] LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION sync.mark_published(uuid) TO %I', role_name);
    END LOOP;
END
$$;
