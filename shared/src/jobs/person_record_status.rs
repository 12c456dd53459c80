//! person-record-status: the `tcs.person.status` as of the date of every person with at least
//! one programme membership: `CURRENT` with one whose start and end are both set and span the
//! date, else `INACTIVE`. Each such person is evaluated every run, so a current membership
//! deleted since (TIS21-3311) or a missed night is put right by the next run; when a person's
//! last membership is deleted, TCS recomputes the status itself. Persons with no membership at
//! all (trainers, supervisors, admins) are left alone: TCS derives no status for them (it
//! recomputes only when a membership is saved or deleted) and users set theirs by hand; a
//! soft-deleted person (`DELETE`) is left alone too. Only rows whose status changes are written, in one transaction,
//! with `amended_date` bumped: TCS uses it as the record's version, so a concurrent edit in TCS
//! notices.

use chrono::NaiveDate;
use serde_json::json;
use tokio_postgres::Client;

use super::JobOutput;
use crate::error::{Error, Result};

/// The (id, status) for the as-of date `$1` of every person the job evaluates: the
/// computation alone.
pub const FRESH: &str = "
    SELECT p.id, CASE WHEN c.person_id IS NULL THEN 'INACTIVE' ELSE 'CURRENT' END AS status
    FROM tcs.person p
    LEFT JOIN (
        SELECT DISTINCT person_id FROM tcs.programme_membership
        WHERE programme_start_date <= $1 AND programme_end_date >= $1
    ) c ON c.person_id = p.id
    WHERE p.status IS DISTINCT FROM 'DELETE'
      AND EXISTS (SELECT 1 FROM tcs.programme_membership m WHERE m.person_id = p.id)";

pub async fn run(client: &mut Client, as_of: NaiveDate) -> Result<JobOutput> {
    let context = "setting tcs.person.status";
    let statement = format!(
        "WITH fresh AS MATERIALIZED ({FRESH}),
         changed AS (
             UPDATE tcs.person p SET status = f.status, amended_date = now()
             FROM fresh f
             WHERE p.id = f.id AND p.status IS DISTINCT FROM f.status
             RETURNING f.status
         )
         SELECT (SELECT count(*) FROM fresh) AS rows,
                (SELECT count(*) FROM changed WHERE status = 'CURRENT') AS now_current,
                (SELECT count(*) FROM changed WHERE status = 'INACTIVE') AS now_inactive"
    );
    let tx = client.transaction().await.map_err(|e| Error::database(context, e))?;
    tx.batch_execute(super::WORK_MEM).await.map_err(|e| Error::database(context, e))?;
    tx.batch_execute(super::TCS_LOCK_TIMEOUT).await.map_err(|e| Error::database(context, e))?;
    let row = tx.query_one(&statement, &[&as_of]).await.map_err(|e| Error::database(context, e))?;
    tx.commit().await.map_err(|e| Error::database(context, e))?;
    let (rows, current, inactive): (i64, i64, i64) = (row.get("rows"), row.get("now_current"), row.get("now_inactive"));
    Ok(JobOutput { rows: rows as u64, detail: json!({ "nowCurrent": current, "nowInactive": inactive }) })
}
