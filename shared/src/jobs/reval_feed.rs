//! The revalidation feeds: the ids of trainees whose current programme or placement changed on
//! each date a run covers, sent to the revalidation queue as JSON arrays of id strings (at most
//! 1,000 per message). A run covers every date since the feed's last success (`sync_core::reval`),
//! so a missed night loses nobody. A send that fails part-way fails the run, and its retry sends
//! everything again: consumers are told messages may repeat (README).

use chrono::NaiveDate;
use serde_json::json;
use tokio_postgres::Client;

use sync_core::reval::{self, MAX_IDS_PER_MESSAGE};
use sync_core::JobName;

use super::JobOutput;
use crate::error::{Error, Result};
use crate::ledger;
use crate::queue::{Queue, MAX_BATCH};

/// Where the feeds send (`REVAL_QUEUE_URL`: the stack's queue or the one the template is given).
#[derive(Clone)]
pub struct RevalQueue(pub Queue);

/// Sends the ids `ids_sql` selects (distinct and ordered, for the dates `$1` and the days before
/// them `$2`) for every date `job` has to cover up to `as_of`.
pub async fn run(
    client: &mut Client,
    job: JobName,
    as_of: NaiveDate,
    ids_sql: &str,
    queue: &RevalQueue,
) -> Result<JobOutput> {
    let context = "reading the ids for the revalidation feed";
    let db = |e| Error::database(context, e);
    let dates = reval::dates_to_cover(ledger::last_succeeded_as_of(client, job).await?, as_of);
    let days_before: Vec<NaiveDate> = dates.iter().filter_map(|d| d.pred_opt()).collect();
    let tx = crate::db::read_only_snapshot(client, context).await?;
    let statement = tx.prepare(ids_sql).await.map_err(db)?;
    let portal = tx.bind(&statement, &[&dates, &days_before]).await.map_err(db)?;
    let (mut ids, mut messages) = (0u64, 0u64);
    loop {
        // One batch of full messages at a time: memory stays bounded whatever the night brings.
        let rows = tx.query_portal(&portal, (MAX_IDS_PER_MESSAGE * MAX_BATCH) as i32).await.map_err(db)?;
        if rows.is_empty() {
            break;
        }
        let batch: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let bodies: Vec<String> = batch.chunks(MAX_IDS_PER_MESSAGE).map(reval::message_body).collect();
        queue.0.send_batch(&bodies).await?;
        ids += batch.len() as u64;
        messages += bodies.len() as u64;
    }
    tx.commit().await.map_err(db)?;
    let covered: Vec<String> = dates.iter().map(NaiveDate::to_string).collect();
    tracing::info!(ids, messages, dates = %covered.join(","), "sent to the revalidation queue");
    Ok(JobOutput { rows: ids, detail: json!({ "dates": covered, "messages": messages }) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQS's limit on a batch's total payload (and on one message): 256 KiB.
    const SQS_MAX_BATCH_BYTES: usize = 262_144;

    #[test]
    fn a_batch_of_full_messages_of_the_longest_ids_fits_one_send_message_batch() {
        let longest = reval::message_body(&[i64::MIN; MAX_IDS_PER_MESSAGE]);
        assert!(longest.len() * MAX_BATCH <= SQS_MAX_BATCH_BYTES, "{} bytes a message", longest.len());
    }
}
