-- Two seams with TCS (issue 27).
--
-- 1. TCS learns that a placement was exported the way the real exporter told it: one
-- tcs.placement_esr_event row per exported record (TCS's POST /placements/{id}/esr-exported,
-- status EXPORTED), written in the file's own transaction, so exactly once (docs/esr-export.md
-- "Telling TCS"). TCS's table holds ESR's numeric position number and id, NOT NULL, and a key to
-- the placement: a record without them, or whose placement TCS no longer has (TCS answers 404
-- and saves nothing), is exported all the same and named here.
ALTER TABLE esr.export_file ADD COLUMN tcs_unrecorded_placement_ids bigint[] NOT NULL DEFAULT '{}';

GRANT USAGE ON SCHEMA tcs TO tis_sync_esr_export;
GRANT SELECT (id) ON tcs.placement TO tis_sync_esr_export;
GRANT INSERT (placement_id, event_date_time, filename, position_number, position_id, status)
    ON tcs.placement_esr_event TO tis_sync_esr_export;

-- 2. person-elasticsearch-sync reads curriculum memberships: TCS's programmeMembership.sql gives a
-- person's memberships one entry per curriculum membership (docs/search-index.md).
GRANT SELECT ON tcs.curriculum_membership TO tis_sync_person_elasticsearch_sync;
