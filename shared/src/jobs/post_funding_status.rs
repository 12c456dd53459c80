//! post-funding-status: a post whose fundings have all ended before the date (each with an end
//! date) becomes `funding_status = 'INACTIVE'`. It never sets `CURRENT`: TCS does that when a
//! post is saved. Every post is evaluated, so a missed night is put right by the next run; only
//! rows that change are written, in one transaction.

use chrono::NaiveDate;
use serde_json::json;
use tokio_postgres::Client;

use super::JobOutput;
use crate::error::{Error, Result};

/// The posts whose every funding ended before the as-of date `$1`: the computation alone.
pub const FRESH: &str = "
    SELECT post_id AS id FROM tcs.post_funding
    GROUP BY post_id
    HAVING bool_and(end_date IS NOT NULL AND end_date < $1)";

pub async fn run(client: &mut Client, as_of: NaiveDate) -> Result<JobOutput> {
    let context = "setting tcs.post.funding_status";
    let statement = format!(
        "UPDATE tcs.post p SET funding_status = 'INACTIVE'
         FROM ({FRESH}) e
         WHERE p.id = e.id AND p.funding_status IS DISTINCT FROM 'INACTIVE'"
    );
    let tx = client.transaction().await.map_err(|e| Error::database(context, e))?;
    tx.batch_execute(super::WORK_MEM).await.map_err(|e| Error::database(context, e))?;
    tx.batch_execute(super::TCS_LOCK_TIMEOUT).await.map_err(|e| Error::database(context, e))?;
    let changed = tx.execute(&statement, &[&as_of]).await.map_err(|e| Error::database(context, e))?;
    // The output: every post inactive now (those TCS made inactive included).
    let inactive: i64 = tx
        .query_one("SELECT count(*) FROM tcs.post WHERE funding_status = 'INACTIVE'", &[])
        .await
        .map_err(|e| Error::database(context, e))?
        .get(0);
    tx.commit().await.map_err(|e| Error::database(context, e))?;
    Ok(JobOutput { rows: inactive as u64, detail: json!({ "nowInactive": changed }) })
}
