-- One search document per post (docs/search-index.md), built as JSON text by Postgres, with the
-- fields of TCS's PostView (postView.sql). $1 = the run's as-of date. Read through a cursor in
-- batches, never OFFSET paging. Where TCS's query would give a post several rows (two APPROVED
-- grades, two PRIMARY specialties or sites) and keep whichever it saved last, this keeps the
-- row with the lowest id, so a post is always one document and the same one every run.
WITH approved_grade AS (
    SELECT DISTINCT ON (post_id) post_id, grade_id
    FROM tcs.post_grade
    WHERE post_grade_type = 'APPROVED'
    ORDER BY post_id, id
), primary_specialty AS (
    SELECT DISTINCT ON (ps.post_id) ps.post_id, ps.specialty_id, s.specialty_code, s.name
    FROM tcs.post_specialty ps
    LEFT JOIN tcs.specialty s ON s.id = ps.specialty_id
    WHERE ps.post_specialty_type = 'PRIMARY'
    ORDER BY ps.post_id, ps.id
), primary_site AS (
    SELECT DISTINCT ON (post_id) post_id, site_id
    FROM tcs.post_site
    WHERE post_site_type = 'PRIMARY'
    ORDER BY post_id, id
), current_funding AS (
    SELECT post_id, array_agg(DISTINCT funding_type ORDER BY funding_type) AS funding_types
    FROM tcs.post_funding
    WHERE ($1 BETWEEN start_date AND end_date OR end_date IS NULL) AND funding_type IS NOT NULL
    GROUP BY post_id
), current_trainee AS (
    -- Each trainee once per post however many current placements they hold on it.
    SELECT t.post_id,
           string_agg(t.surname, ', ' ORDER BY t.trainee_id) AS surnames,
           string_agg(t.forenames, ', ' ORDER BY t.trainee_id) AS forenames
    FROM (
        SELECT DISTINCT pl.post_id, pl.trainee_id, cd.surname, cd.forenames
        FROM tcs.placement pl
        LEFT JOIN tcs.contact_details cd ON cd.id = pl.trainee_id
        WHERE $1 BETWEEN pl.date_from AND pl.date_to AND pl.post_id IS NOT NULL
    ) t
    GROUP BY t.post_id
), programmes AS (
    SELECT pp.post_id,
           array_agg(DISTINCT prg.programme_name ORDER BY prg.programme_name)
               FILTER (WHERE prg.programme_name IS NOT NULL) AS programme_names,
           array_agg(DISTINCT pp.programme_id ORDER BY pp.programme_id)
               FILTER (WHERE pp.programme_id IS NOT NULL) AS programme_ids
    FROM tcs.programme_post pp
    LEFT JOIN tcs.programme prg ON prg.id = pp.programme_id
    GROUP BY pp.post_id
), trusts AS (
    SELECT post_id, array_agg(DISTINCT trust_id ORDER BY trust_id) AS trust_ids
    FROM tcs.post_trust
    GROUP BY post_id
)
SELECT p.id,
       json_build_object(
           'id', p.id,
           'intrepidId', p.intrepid_id,
           'nationalPostNumber', p.national_post_number,
           'status', p.funding_status,
           'owner', p.owner,
           'approvedGradeId', ag.grade_id,
           'primarySpecialtyId', ps.specialty_id,
           'primarySpecialtyCode', ps.specialty_code,
           'primarySpecialtyName', ps.name,
           'primarySiteId', site.site_id,
           'currentTraineeSurnames', ct.surnames,
           'currentTraineeForenames', ct.forenames,
           'programmeNames', coalesce(prg.programme_names, '{}'),
           'programmeIds', coalesce(prg.programme_ids, '{}'),
           'fundingTypes', coalesce(cf.funding_types, '{}'),
           'trustIds', coalesce(t.trust_ids, '{}')
       )::text AS document
FROM tcs.post p
LEFT JOIN approved_grade ag ON ag.post_id = p.id
LEFT JOIN primary_specialty ps ON ps.post_id = p.id
LEFT JOIN primary_site site ON site.post_id = p.id
LEFT JOIN current_funding cf ON cf.post_id = p.id
LEFT JOIN current_trainee ct ON ct.post_id = p.id
LEFT JOIN programmes prg ON prg.post_id = p.id
LEFT JOIN trusts t ON t.post_id = p.id
