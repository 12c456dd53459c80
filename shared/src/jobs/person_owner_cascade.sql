-- The owner cascade of jobs.md for every person: (id, owner, rule). $1 = the as-of date.
-- Each rule looks at ONE candidate per person, the first by its ordering (ties: lowest uuid /
-- lowest placement id). The first candidate with a non-NULL owner wins; when no candidate has
-- an owner, the last rule that had a candidate is recorded with a NULL owner.
WITH membership AS (
    SELECT pm.person_id, pm.uuid, pm.programme_start_date AS start_date,
           pm.programme_end_date AS end_date, p.owner
    FROM tcs.programme_membership pm
    JOIN tcs.programme p ON p.id = pm.programme_id
), placement AS (
    SELECT pl.trainee_id AS person_id, pl.id, pl.date_from AS start_date,
           pl.date_to AS end_date, po.owner
    FROM tcs.placement pl
    JOIN tcs.post po ON po.id = pl.post_id
    WHERE pl.trainee_id IS NOT NULL
), candidate AS (
    (SELECT DISTINCT ON (person_id) person_id, 1 AS priority, 'P1' AS rule, owner
     FROM membership WHERE start_date <= $1 AND $1 <= end_date
     ORDER BY person_id, start_date, uuid)
    UNION ALL
    (SELECT DISTINCT ON (person_id) person_id, 2, 'P2', owner
     FROM placement WHERE start_date <= $1 AND $1 <= end_date
     ORDER BY person_id, start_date, id)
    UNION ALL
    (SELECT DISTINCT ON (person_id) person_id, 3, 'P5', owner
     FROM membership WHERE $1 < start_date
     ORDER BY person_id, start_date, uuid)
    UNION ALL
    (SELECT DISTINCT ON (person_id) person_id, 4, 'P6', owner
     FROM placement WHERE $1 < start_date
     ORDER BY person_id, start_date, id)
    UNION ALL
    (SELECT DISTINCT ON (person_id) person_id, 5, 'P7', owner
     FROM membership WHERE end_date < $1
     ORDER BY person_id, end_date DESC, uuid)
    UNION ALL
    (SELECT DISTINCT ON (person_id) person_id, 6, 'P8', owner
     FROM placement WHERE end_date < $1
     ORDER BY person_id, end_date DESC, id)
), chosen AS (
    SELECT DISTINCT ON (person_id) person_id, owner, rule
    FROM candidate
    ORDER BY person_id, owner IS NULL,
             CASE WHEN owner IS NULL THEN -priority ELSE priority END
)
SELECT p.id, c.owner, c.rule
    FROM tcs.person p
    LEFT JOIN chosen c ON c.person_id = p.id
