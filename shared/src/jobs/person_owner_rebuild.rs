//! person-owner-rebuild: who owns each trainee. One set-based statement computes the rule
//! cascade of jobs.md for every person and applies the difference to `tcs.person_owner` in one
//! transaction.

use chrono::NaiveDate;
use serde_json::json;
use tokio_postgres::Client;

use super::JobOutput;
use crate::error::{Error, Result};

/// Every person's (id, owner, rule) for the as-of date `$1`: the computation alone.
pub const CASCADE: &str = include_str!("person_owner_cascade.sql");
const APPLY: &str = include_str!("person_owner_rebuild.sql");

pub async fn run(client: &mut Client, as_of: NaiveDate) -> Result<JobOutput> {
    let context = "rebuilding tcs.person_owner";
    let rebuild = APPLY.replace("{cascade}", CASCADE);
    let tx = client.transaction().await.map_err(|e| Error::database(context, e))?;
    tx.batch_execute(super::WORK_MEM).await.map_err(|e| Error::database(context, e))?;
    let row = tx.query_one(&rebuild, &[&as_of]).await.map_err(|e| Error::database(context, e))?;
    tx.commit().await.map_err(|e| Error::database(context, e))?;
    let (rows, changed, removed): (i64, i64, i64) = (row.get("rows"), row.get("changed"), row.get("removed"));
    Ok(JobOutput { rows: rows as u64, detail: json!({ "changed": changed, "removed": removed }) })
}
