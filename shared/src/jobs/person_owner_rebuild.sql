-- person-owner-rebuild applies the cascade (person_owner_cascade.sql, spliced in as `fresh`) as
-- a difference (insert new, update changed, delete persons gone) in the caller's transaction, so
-- readers see the old rows until commit and unchanged rows are not rewritten.
WITH fresh AS MATERIALIZED (
{cascade}
), diff AS MATERIALIZED (
    -- One hash full join: new persons, changed owners, and persons gone.
    SELECT f.id AS fresh_id, f.owner, f.rule, o.id AS old_id
    FROM fresh f
    FULL JOIN tcs.person_owner o ON o.id = f.id
    WHERE f.id IS NULL OR o.id IS NULL OR (o.owner, o.rule) IS DISTINCT FROM (f.owner, f.rule)
), upserted AS (
    INSERT INTO tcs.person_owner AS o (id, owner, rule)
    SELECT fresh_id, owner, rule FROM diff WHERE fresh_id IS NOT NULL
    ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, rule = EXCLUDED.rule
    RETURNING 1
), removed AS (
    DELETE FROM tcs.person_owner o USING diff d
    WHERE d.fresh_id IS NULL AND o.id = d.old_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM fresh)    AS rows,
       (SELECT count(*) FROM upserted) AS changed,
       (SELECT count(*) FROM removed)  AS removed
