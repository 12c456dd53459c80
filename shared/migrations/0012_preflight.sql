-- The preflight (issue 29; RUNBOOK, "Preflight") checks each function's database role from inside
-- the function: that its login is a member of its role, and that the role still holds what the
-- migrations granted it. What they granted is recorded in sync.role_grant each time migrations
-- are applied (shared::migrate calls sync.record_grants() after them), so that a grant revoked by
-- hand since, or lost in a restore, is named with the statement that gives it back.

SELECT sync.ensure_role('tis_sync_sync_preflight');

-- Each function role's privileges on the project's and TCS's tables and columns, as the catalog
-- holds them now (pg_class and pg_attribute, with their ACLs, are readable by every role).
CREATE VIEW sync.role_grant_now AS
    SELECT r.rolname::text AS role, format('%s.%s', n.nspname, c.relname) AS object,
           a.privilege_type AS privilege
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL aclexplode(c.relacl) a
      JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
     WHERE n.nspname IN ('sync', 'tcs', 'esr') AND r.rolname LIKE 'tis\_sync\_%'
    UNION
    SELECT r.rolname::text, format('%s.%s(%s)', n.nspname, c.relname, att.attname), a.privilege_type
      FROM pg_catalog.pg_attribute att
      JOIN pg_catalog.pg_class c ON c.oid = att.attrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL aclexplode(att.attacl) a
      JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
     WHERE n.nspname IN ('sync', 'tcs', 'esr') AND r.rolname LIKE 'tis\_sync\_%' AND NOT att.attisdropped;

-- What the migrations granted, as of the last time they were applied.
CREATE TABLE sync.role_grant (
    role      text NOT NULL,
    object    text NOT NULL,
    privilege text NOT NULL,
    PRIMARY KEY (role, object, privilege)
);

CREATE FUNCTION sync.record_grants() RETURNS void
    LANGUAGE sql
    AS $$
        DELETE FROM sync.role_grant;
        INSERT INTO sync.role_grant (role, object, privilege) SELECT role, object, privilege FROM sync.role_grant_now;
    $$;

-- Every function role compares its own grants; the rows hold no data, only what pg_class's
-- ACLs already show every role.
DO $$
DECLARE
    function_role text;
BEGIN
    FOREACH function_role IN ARRAY ARRAY[
        'tis_sync_person_owner_rebuild', 'tis_sync_person_placement_employing_body_trust',
        'tis_sync_person_placement_training_body_trust', 'tis_sync_post_employing_body_trust',
        'tis_sync_post_training_body_trust', 'tis_sync_person_record_status', 'tis_sync_post_funding_status',
        'tis_sync_reval_current_pm_sync', 'tis_sync_reval_current_placement_sync',
        'tis_sync_person_elasticsearch_sync', 'tis_sync_post_elasticsearch_sync',
        'tis_sync_esr_export_dispatch', 'tis_sync_esr_export', 'tis_sync_esr_intake',
        'tis_sync_sync_watchdog', 'tis_sync_sync_status', 'tis_sync_sync_preflight']
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA sync TO %I', function_role);
        EXECUTE format('GRANT SELECT ON sync.role_grant, sync.role_grant_now TO %I', function_role);
    END LOOP;
END
$$;
