-- One database role per function, holding only what that function does (README, "Security").
-- The roles cannot log in: `tis-sync logins` gives each function a login of its own that is a
-- member of its role, and writes the login's credentials to the function's secret.
--
-- Roles belong to the Postgres cluster, not to one database, so they are created only when
-- missing (another database of the cluster may have created them first, or be doing so now);
-- the grants below belong to this database.

-- Creates a function role unless it exists. Later migrations add their functions' roles
-- with it. It runs with the caller's rights: only a role that may create roles can use it.
CREATE FUNCTION sync.ensure_role(role_name text) RETURNS void
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- created by a concurrent migration of another database
    END
    $$;

SELECT sync.ensure_role(role_name) FROM unnest(ARRAY[
    'tis_sync_person_owner_rebuild',
    'tis_sync_person_placement_employing_body_trust',
    'tis_sync_person_placement_training_body_trust',
    'tis_sync_post_employing_body_trust',
    'tis_sync_post_training_body_trust',
    'tis_sync_person_elasticsearch_sync',
    'tis_sync_esr_export_dispatch',
    'tis_sync_esr_export',
    'tis_sync_esr_intake',
    'tis_sync_sync_watchdog',
    'tis_sync_sync_status'
]) AS role_name;

-- The run ledger: every job reads all of it (fan-in, follow-up verification, catch-up) and
-- writes only its own job's rows. Row security enforces the second for the job roles; the
-- ledger's owner (the role that migrates) is not subject to it.
CREATE FUNCTION sync.may_write_job(job text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
        SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tis_sync_' || replace(job, '-', '_'))
                    THEN pg_has_role('tis_sync_' || replace(job, '-', '_'), 'USAGE')
                    ELSE false END
    $$;

ALTER TABLE sync.job_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_run_read ON sync.job_run FOR SELECT USING (true);
CREATE POLICY job_run_insert_own ON sync.job_run FOR INSERT WITH CHECK (sync.may_write_job(job));
CREATE POLICY job_run_update_own ON sync.job_run FOR UPDATE
    USING (sync.may_write_job(job)) WITH CHECK (sync.may_write_job(job));

ALTER TABLE sync.job_pause ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_pause_read ON sync.job_pause FOR SELECT USING (true);
CREATE POLICY job_pause_insert_own ON sync.job_pause FOR INSERT WITH CHECK (sync.may_write_job(job));
CREATE POLICY job_pause_update_own ON sync.job_pause FOR UPDATE
    USING (sync.may_write_job(job)) WITH CHECK (sync.may_write_job(job));
CREATE POLICY job_pause_delete_own ON sync.job_pause FOR DELETE USING (sync.may_write_job(job));

-- The six jobs: the ledger, and what each reads and writes.
GRANT USAGE ON SCHEMA sync, tcs TO
    tis_sync_person_owner_rebuild, tis_sync_person_placement_employing_body_trust,
    tis_sync_person_placement_training_body_trust, tis_sync_post_employing_body_trust,
    tis_sync_post_training_body_trust, tis_sync_person_elasticsearch_sync;
GRANT SELECT, INSERT, UPDATE ON sync.job_run TO
    tis_sync_person_owner_rebuild, tis_sync_person_placement_employing_body_trust,
    tis_sync_person_placement_training_body_trust, tis_sync_post_employing_body_trust,
    tis_sync_post_training_body_trust, tis_sync_person_elasticsearch_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync.job_pause TO
    tis_sync_person_owner_rebuild, tis_sync_person_placement_employing_body_trust,
    tis_sync_person_placement_training_body_trust, tis_sync_post_employing_body_trust,
    tis_sync_post_training_body_trust, tis_sync_person_elasticsearch_sync;

-- person-owner-rebuild: the ownership cascade in, tcs.person_owner out.
GRANT SELECT ON tcs.person, tcs.placement, tcs.post, tcs.programme, tcs.programme_membership
    TO tis_sync_person_owner_rebuild;
GRANT SELECT, INSERT, UPDATE, DELETE ON tcs.person_owner TO tis_sync_person_owner_rebuild;

-- The person trust jobs: placements' posts in, tcs.person_trust out. The pair shares the table;
-- each touches only the rows of its own `source` (shared/src/jobs/trust_links.rs).
GRANT SELECT ON tcs.person, tcs.placement, tcs.post TO
    tis_sync_person_placement_employing_body_trust, tis_sync_person_placement_training_body_trust;
GRANT SELECT, INSERT, DELETE ON tcs.person_trust TO
    tis_sync_person_placement_employing_body_trust, tis_sync_person_placement_training_body_trust;

-- The post trust jobs: posts in, tcs.post_trust out.
GRANT SELECT ON tcs.post TO tis_sync_post_employing_body_trust, tis_sync_post_training_body_trust;
GRANT SELECT, INSERT, DELETE ON tcs.post_trust TO
    tis_sync_post_employing_body_trust, tis_sync_post_training_body_trust;

-- person-elasticsearch-sync: reads what the person document is made of; its output is the index.
GRANT SELECT ON tcs.person, tcs.contact_details, tcs.gmc_details, tcs.gdc_details, tcs.person_owner,
    tcs.person_trust, tcs.programme, tcs.programme_membership, tcs.placement, tcs.placement_specialty,
    tcs.specialty
    TO tis_sync_person_elasticsearch_sync;

-- esr-export-dispatch: which deaneries are active.
GRANT USAGE ON SCHEMA esr TO tis_sync_esr_export_dispatch;
GRANT SELECT ON esr.deanery TO tis_sync_esr_export_dispatch;

-- esr-export: waiting records in, files out; of the records it sets only what exporting sets.
GRANT USAGE ON SCHEMA esr TO tis_sync_esr_export;
GRANT SELECT ON esr.deanery, esr.generated_app_record, esr.notification_record, esr.export_file
    TO tis_sync_esr_export;
GRANT UPDATE (status, exported_at, export_file) ON esr.generated_app_record, esr.notification_record
    TO tis_sync_esr_export;
GRANT INSERT ON esr.export_file TO tis_sync_esr_export;
GRANT UPDATE (uploaded_at, event_published_at) ON esr.export_file TO tis_sync_esr_export;
GRANT USAGE ON SEQUENCE esr.app_file_sequence, esr.notification_file_sequence, esr.export_file_id_seq
    TO tis_sync_esr_export;

-- esr-intake: the two record tables only (and which deaneries exist, to refuse unknown ones).
GRANT USAGE ON SCHEMA esr TO tis_sync_esr_intake;
GRANT SELECT ON esr.deanery TO tis_sync_esr_intake;
GRANT SELECT, INSERT, UPDATE ON esr.generated_app_record, esr.notification_record TO tis_sync_esr_intake;

-- sync-watchdog and sync-status read the ledger and the exporter's state; they write nothing.
GRANT USAGE ON SCHEMA sync, esr TO tis_sync_sync_watchdog, tis_sync_sync_status;
GRANT SELECT ON sync.job_run, sync.job_pause TO tis_sync_sync_watchdog, tis_sync_sync_status;
GRANT SELECT ON esr.deanery, esr.generated_app_record, esr.notification_record, esr.export_file
    TO tis_sync_sync_watchdog, tis_sync_sync_status;
