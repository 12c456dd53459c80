-- One search document per person (docs/search-index.md), built as JSON text by
-- Postgres. $1 = the run's as-of date. Read through a cursor in batches, never OFFSET paging.
--
-- Who is indexed is TCS's selection (personView.sql): persons with contact details (an inner
-- join); memberships as programmeMembership.sql gives them, one entry per curriculum membership
-- (an inner join), its `id` the curriculum membership's.
--
-- TCS reads the first element of each current-placement field as one value (PersonView holds
-- one grade, one site, ...), so the arrays are not sorted each on its own: element i of every
-- one comes from the same placement, the placements in the order TCS's and TIS-SYNC's queries
-- meet them (by placement id, then primary specialty), so the first elements are one
-- placement's. A missing value is a JSON null in its place.
WITH current_placement AS (
    SELECT pl.trainee_id AS person_id,
           array_agg(pl.grade_id ORDER BY pl.id, s.id) AS grade_ids,
           array_agg(pl.site_id ORDER BY pl.id, s.id) AS site_ids,
           array_agg(pl.grade_abbreviation ORDER BY pl.id, s.id) AS grade_abbreviations,
           array_agg(pl.site_code ORDER BY pl.id, s.id) AS site_codes,
           array_agg(pl.placement_type ORDER BY pl.id, s.id) AS placement_types,
           array_agg(s.name ORDER BY pl.id, s.id) AS specialties
    FROM tcs.placement pl
    LEFT JOIN tcs.placement_specialty ps
           ON ps.placement_id = pl.id AND ps.placement_specialty_type = 'PRIMARY'
    LEFT JOIN tcs.specialty s ON s.id = ps.specialty_id
    WHERE pl.date_from <= $1 AND $1 <= pl.date_to AND pl.trainee_id IS NOT NULL
    GROUP BY pl.trainee_id
), trusts AS (
    SELECT person_id, json_agg(json_build_object('personId', person_id, 'trustId', trust_id) ORDER BY trust_id) AS trusts
    FROM (SELECT DISTINCT person_id, trust_id FROM tcs.person_trust) t
    GROUP BY person_id
), memberships AS (
    SELECT pm.person_id,
           json_agg(json_build_object(
               'id', cm.id,
               'personId', pm.person_id,
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
           ) ORDER BY pm.programme_start_date, pm.uuid, cm.id) AS memberships
    FROM tcs.programme_membership pm
    JOIN tcs.curriculum_membership cm ON cm.programme_membership_uuid = pm.uuid
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
JOIN tcs.contact_details cd ON cd.id = p.id
LEFT JOIN tcs.gmc_details gmc ON gmc.id = p.id
LEFT JOIN tcs.gdc_details gdc ON gdc.id = p.id
LEFT JOIN tcs.person_owner po ON po.id = p.id
LEFT JOIN current_placement cp ON cp.person_id = p.id
LEFT JOIN trusts t ON t.person_id = p.id
LEFT JOIN memberships m ON m.person_id = p.id
