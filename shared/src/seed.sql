-- Reproducible synthetic TCS data. $1 = number of persons, $2 = seed. Every "random" choice is
-- a hash of (row id, a per-column salt, seed), so the same (persons, seed) gives the same rows
-- on any Postgres. Dates are relative to the current date, so a seeded database always has
-- past, current and future placements and memberships. Statements are separated by blank
-- lines followed by "-- step".

-- step: clear the tables (derived ones too: they describe the old data)
TRUNCATE tcs.person, tcs.contact_details, tcs.gmc_details, tcs.gdc_details, tcs.programme,
         tcs.programme_membership, tcs.curriculum_membership, tcs.post, tcs.placement,
         tcs.specialty, tcs.placement_specialty, tcs.person_owner, tcs.person_trust,
         tcs.post_trust, esr.generated_app_record, esr.notification_record, esr.export_file

-- step: local offices, trusts and specialties as lookup data
CREATE TEMP TABLE seed_local_office ON COMMIT DROP AS
SELECT ordinality - 1 AS n, name FROM unnest(ARRAY[
    'Health Education England East Midlands', 'Health Education England Kent, Surrey and Sussex',
    'Health Education England North East', 'Health Education England West Midlands',
    'Health Education England South West', 'Health Education England North West',
    'Health Education England Yorkshire and the Humber', 'Health Education England East of England',
    'Health Education England Thames Valley', 'Health Education England Wessex',
    'London LETBs', 'Health Education England Mersey', 'Health Education England Severn'
]) WITH ORDINALITY AS t(name, ordinality)

-- step: specialties
INSERT INTO tcs.specialty (id, name)
SELECT g, 'Specialty ' || g FROM generate_series(1, 60) g

-- step: persons
INSERT INTO tcs.person (id, intrepid_id, role, status, public_health_number, added_date, amended_date)
SELECT g,
       'INT' || g,
       CASE WHEN abs(hashint8extended(g * 32 + 1, $2)) % 20 = 0 THEN 'DR in Training,Placeholder' ELSE 'DR in Training' END,
       CASE abs(hashint8extended(g * 32 + 2, $2)) % 20 WHEN 0 THEN 'INACTIVE' ELSE 'CURRENT' END,
       CASE WHEN abs(hashint8extended(g * 32 + 3, $2)) % 10 = 0 THEN 'PH' || g END,
       timestamptz '2015-01-01' + (abs(hashint8extended(g * 32 + 4, $2)) % 3000) * interval '1 day',
       timestamptz '2023-01-01' + (abs(hashint8extended(g * 32 + 5, $2)) % 600) * interval '1 day'
FROM generate_series(1, $1) g

-- step: contact details for ~98%, some without forenames
INSERT INTO tcs.contact_details (id, surname, forenames)
SELECT id,
       (ARRAY['Smith','Jones','Taylor','Brown','Williams','Wilson','Johnson','Davies','Patel','Khan',
              'Robinson','Wright','Thompson','Evans','Walker','White','Roberts','Green','Hall','Wood'])
           [1 + abs(hashint8extended(id * 32 + 6, $2)) % 20] || '-' || (id % 997),
       CASE WHEN abs(hashint8extended(id * 32 + 7, $2)) % 50 = 0 THEN NULL ELSE
       (ARRAY['Amelia','Oliver','Isla','George','Ava','Harry','Mia','Noah','Priya','Mohammed',
              'Sophie','Jack','Grace','Leo','Chloe','Arthur','Zara','Oscar','Ruby','Ethan'])
           [1 + abs(hashint8extended(id * 32 + 8, $2)) % 20] END
FROM tcs.person
WHERE abs(hashint8extended(id * 32 + 9, $2)) % 50 <> 0

-- step: GMC numbers for ~80%, GDC for ~3%
INSERT INTO tcs.gmc_details (id, gmc_number)
SELECT id, lpad((1000000 + id)::text, 7, '0') FROM tcs.person
WHERE abs(hashint8extended(id * 32 + 10, $2)) % 5 <> 0

-- step: gdc
INSERT INTO tcs.gdc_details (id, gdc_number)
SELECT id, 'GDC' || id FROM tcs.person
WHERE abs(hashint8extended(id * 32 + 11, $2)) % 33 = 0

-- step: programmes (1 per 100 persons, at least 20), owners among the 13 local offices, ~1% NULL
INSERT INTO tcs.programme (id, owner, programme_name, programme_number, status)
SELECT g,
       CASE WHEN abs(hashint8extended(g * 32 + 12, $2)) % 100 = 0 THEN NULL
            ELSE (SELECT name FROM seed_local_office WHERE n = abs(hashint8extended(g * 32 + 13, $2)) % 13) END,
       'Programme ' || g,
       'PRG' || g,
       CASE WHEN g % 10 = 0 THEN 'INACTIVE' ELSE 'CURRENT' END
FROM generate_series(1, greatest(20, $1 / 100)) g

-- step: programme memberships (~1.4 per person), dates spread around today
INSERT INTO tcs.programme_membership
    (uuid, person_id, programme_id, programme_start_date, programme_end_date, programme_membership_type)
SELECT md5($2 || ':pm:' || g)::uuid,
       1 + abs(hashint8extended(g * 32 + 14, $2)) % $1,
       1 + abs(hashint8extended(g * 32 + 15, $2)) % greatest(20, $1 / 100),
       CASE WHEN abs(hashint8extended(g * 32 + 16, $2)) % 200 = 0 THEN NULL ELSE s END,
       CASE WHEN abs(hashint8extended(g * 32 + 17, $2)) % 200 = 0 THEN NULL
            ELSE s + (365 + abs(hashint8extended(g * 32 + 18, $2)) % 1500)::int END,
       CASE WHEN g % 7 = 0 THEN 'LAT' ELSE 'SUBSTANTIVE' END
FROM generate_series(1, $1 * 14 / 10) g,
     LATERAL (SELECT current_date - 2500 + (abs(hashint8extended(g * 32 + 19, $2)) % 3300)::int AS s) d

-- step: curriculum memberships (~1.14 per programme membership)
INSERT INTO tcs.curriculum_membership (id, programme_membership_uuid, curriculum_id)
SELECT row_number() OVER (ORDER BY pm.uuid, c), pm.uuid, 1 + abs(hashint8extended(c, $2)) % 300
FROM tcs.programme_membership pm,
     LATERAL generate_series(1, CASE WHEN abs(hashint8extended(hashtext(pm.uuid::text)::bigint * 32 + 20, $2)) % 7 = 0 THEN 2 ELSE 1 END) c

-- step: posts (~0.23 per person): employing/training bodies among the trusts, ~5% NULL, ~60% the same
INSERT INTO tcs.post (id, employing_body_id, training_body_id, owner, national_post_number, status, funding_status)
SELECT g,
       CASE WHEN abs(hashint8extended(g * 32 + 21, $2)) % 20 = 0 THEN NULL ELSE e END,
       CASE WHEN abs(hashint8extended(g * 32 + 22, $2)) % 20 = 0 THEN NULL
            WHEN abs(hashint8extended(g * 32 + 23, $2)) % 10 < 6 THEN e
            ELSE 1 + abs(hashint8extended(g * 32 + 24, $2)) % t END,
       (SELECT name FROM seed_local_office WHERE n = abs(hashint8extended(g * 32 + 25, $2)) % 13),
       'NPN/' || g,
       CASE WHEN g % 25 = 0 THEN 'INACTIVE' ELSE 'CURRENT' END,
       'FUNDED'
FROM generate_series(1, greatest(10, $1 * 23 / 100)) g,
     LATERAL (SELECT greatest(20, $1 / 750) AS t) trusts,
     LATERAL (SELECT 1 + abs(hashint8extended(g * 32 + 26, $2)) % t AS e) body

-- step: placements (~6.7 per person): ~8% current, ~7% future, the rest past, a few NULL dates, ~3% DRAFT
INSERT INTO tcs.placement (id, trainee_id, post_id, date_from, date_to, grade_id, grade_abbreviation,
                           site_id, site_code, placement_type, status, lifecycle_state)
SELECT g,
       1 + abs(hashint8extended(g * 32 + 27, $2)) % $1,
       1 + abs(hashint8extended(g * 32 + 28, $2)) % greatest(10, $1 * 23 / 100),
       CASE WHEN abs(hashint8extended(g * 32 + 29, $2)) % 300 = 0 THEN NULL ELSE f END,
       CASE WHEN abs(hashint8extended(g * 32 + 30, $2)) % 300 = 0 THEN NULL ELSE f + len END,
       1 + grade, 'G' || (1 + grade),
       1 + abs(hashint8extended(g * 32 + 31, $2)) % 500, 'S' || (1 + abs(hashint8extended(g * 32 + 31, $2)) % 500),
       CASE WHEN g % 9 = 0 THEN 'Parental Leave' ELSE 'In Post' END,
       CASE WHEN kind < 8 THEN 'CURRENT' WHEN kind < 15 THEN 'FUTURE' ELSE 'PAST' END,
       CASE WHEN abs(hashint8extended(g * 32 + 5, $2 + 1)) % 100 < 3 THEN 'DRAFT' ELSE 'APPROVED' END
FROM generate_series(1, $1 * 67 / 10) g,
     LATERAL (SELECT abs(hashint8extended(g * 32 + 1, $2 + 1)) % 100 AS kind,
                     (90 + abs(hashint8extended(g * 32 + 2, $2 + 1)) % 300)::int AS len,
                     (abs(hashint8extended(g * 32 + 3, $2 + 1)) % 12)::int AS grade) k,
     LATERAL (SELECT CASE
         WHEN kind < 8  THEN current_date - (abs(hashint8extended(g * 32 + 4, $2 + 1)) % len)::int
         WHEN kind < 15 THEN current_date + 1 + (abs(hashint8extended(g * 32 + 4, $2 + 1)) % 1500)::int
         ELSE current_date - len - 1 - (abs(hashint8extended(g * 32 + 4, $2 + 1)) % 5000)::int
       END AS f) d

-- step: one PRIMARY specialty per placement, ~20% also an OTHER one
INSERT INTO tcs.placement_specialty (placement_id, specialty_id, placement_specialty_type)
SELECT id, 1 + abs(hashint8extended(id * 32 + 6, $2 + 1)) % 60, 'PRIMARY' FROM tcs.placement
UNION ALL
SELECT id, 1 + abs(hashint8extended(id * 32 + 7, $2 + 1)) % 60, 'OTHER' FROM tcs.placement
WHERE abs(hashint8extended(id * 32 + 8, $2 + 1)) % 5 = 0

-- step: ESR applicant records waiting to be exported (40,000 at TIS scale), over the 13
-- deaneries and the next 20 weeks, on the seeded posts
INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_id, position_number, start_date, applicant)
SELECT g,
       1 + abs(hashint8extended(g * 32 + 9, $2 + 2)) % ($1 * 67 / 10),
       (SELECT code FROM esr.deanery WHERE dispatch_order = 1 + abs(hashint8extended(g * 32 + 10, $2 + 2)) % 13),
       po.id,
       po.national_post_number,
       current_date + 2 + (abs(hashint8extended(g * 32 + 11, $2 + 2)) % 140)::int,
       json_build_object('lastName', 'Applicant' || g, 'firstName', 'Seeded', 'gmcNumber', lpad((2000000 + g)::text, 7, '0'),
                         'positionId', po.id, 'positionNumber', po.national_post_number)
FROM generate_series(1, $1 * 2 / 15) g
JOIN tcs.post po ON po.id = 1 + abs(hashint8extended(g * 32 + 12, $2 + 2)) % greatest(10, $1 * 23 / 100)
