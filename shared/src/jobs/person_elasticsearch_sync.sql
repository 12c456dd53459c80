-- One search document per person (docs/search-index.md), built as JSON text by
-- Postgres. $1 = the run's as-of date. Read through a cursor in batches, never OFFSET paging.
WITH current_placement AS (
    SELECT pl.trainee_id AS person_id,
           array_agg(DISTINCT pl.grade_id ORDER BY pl.grade_id) FILTER (WHERE pl.grade_id IS NOT NULL) AS grade_ids,
           array_agg(DISTINCT pl.site_id ORDER BY pl.site_id) FILTER (WHERE pl.site_id IS NOT NULL) AS site_ids,
           array_agg(DISTINCT pl.grade_abbreviation ORDER BY pl.grade_abbreviation)
               FILTER (WHERE pl.grade_abbreviation IS NOT NULL) AS grade_abbreviations,
           array_agg(DISTINCT pl.site_code ORDER BY pl.site_code) FILTER (WHERE pl.site_code IS NOT NULL) AS site_codes,
           array_agg(DISTINCT pl.placement_type ORDER BY pl.placement_type)
               FILTER (WHERE pl.placement_type IS NOT NULL) AS placement_types,
           array_agg(DISTINCT s.name ORDER BY s.name) FILTER (WHERE s.name IS NOT NULL) AS specialties
    FROM tcs.placement pl
    LEFT JOIN tcs.placement_specialty ps
           ON ps.placement_id = pl.id AND ps.placement_specialty_type = 'PRIMARY'
    LEFT JOIN tcs.specialty s ON s.id = ps.specialty_id
    WHERE pl.date_from <= $1 AND $1 <= pl.date_to AND pl.trainee_id IS NOT NULL
    GROUP BY pl.trainee_id
), trusts AS (
    SELECT person_id, json_agg(json_build_object('trustId', trust_id) ORDER BY trust_id) AS trusts
    FROM (SELECT DISTINCT person_id, trust_id FROM tcs.person_trust) t
    GROUP BY person_id
), memberships AS (
    SELECT pm.person_id,
           json_agg(json_build_object(
               'uuid', pm.uuid,
               'programmeId', pm.programme_id,
               'programmeName', p.programme_name,
               'programmeNumber', p.programme_number,
               'programmeMembershipStatus', CASE
                   WHEN pm.programme_start_date IS NULL OR pm.programme_end_date IS NULL THEN 'PAST'
                   WHEN pm.programme_start_date > $1 THEN 'FUTURE'
                   WHEN pm.programme_end_date < $1 THEN 'PAST'
                   ELSE 'CURRENT' END,
               'programmeStartDate', pm.programme_start_date,
               'programmeEndDate', pm.programme_end_date
           ) ORDER BY pm.programme_start_date, pm.uuid) AS memberships
    FROM tcs.programme_membership pm
    LEFT JOIN tcs.programme p ON p.id = pm.programme_id
    GROUP BY pm.person_id
)
SELECT p.id,
       json_build_object(
           'personId', p.id,
           'intrepidId', p.intrepid_id,
           'surname', cd.surname,
           'forenames', cd.forenames,
           'fullName', NULLIF(concat_ws(' ', cd.forenames, cd.surname), ''),
           'gmcNumber', gmc.gmc_number,
           'gdcNumber', gdc.gdc_number,
           'publicHealthNumber', p.public_health_number,
           'role', p.role,
           'status', p.status,
           'currentOwner', po.owner,
           'currentOwnerRule', po.rule,
           'gradeId', coalesce(cp.grade_ids, '{}'),
           'siteId', coalesce(cp.site_ids, '{}'),
           'gradeAbbreviation', coalesce(cp.grade_abbreviations, '{}'),
           'siteCode', coalesce(cp.site_codes, '{}'),
           'placementType', coalesce(cp.placement_types, '{}'),
           'specialty', coalesce(cp.specialties, '{}'),
           'trusts', coalesce(t.trusts, '[]'::json),
           'programmeMemberships', coalesce(m.memberships, '[]'::json)
       )::text AS document
FROM tcs.person p
LEFT JOIN tcs.contact_details cd ON cd.id = p.id
LEFT JOIN tcs.gmc_details gmc ON gmc.id = p.id
LEFT JOIN tcs.gdc_details gdc ON gdc.id = p.id
LEFT JOIN tcs.person_owner po ON po.id = p.id
LEFT JOIN current_placement cp ON cp.person_id = p.id
LEFT JOIN trusts t ON t.person_id = p.id
LEFT JOIN memberships m ON m.person_id = p.id
