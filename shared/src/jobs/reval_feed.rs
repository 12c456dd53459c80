//! The revalidation feeds: the ids of trainees whose current programme or placement changed on
//! each date a run covers, sent as JSON arrays of id strings (at most 1,000 per message) to
//! TIS's RabbitMQ, where TCS reads them, or to an SQS queue. A run covers every date since the
//! feed's last success (`sync_core::reval`), so a missed night loses nobody. A send that fails
//! part-way fails the run, and its retry sends everything again: consumers are told messages may
//! repeat (RUNBOOK.md, "Run a job out of schedule").

use chrono::NaiveDate;
use serde_json::json;
use tokio_postgres::Client;

use sync_core::reval::{self, MAX_IDS_PER_MESSAGE};
use sync_core::JobName;

use super::JobOutput;
use crate::broker::{Broker, Publisher};
use crate::error::{Error, Result};
use crate::ledger;
use crate::queue::{Queue, MAX_BATCH};

/// Where the feeds send (`config::RevalTarget`).
#[derive(Clone)]
pub enum RevalFeed {
    /// TIS's RabbitMQ: TCS reads the feed from its queue there.
    Broker(Box<Broker>),
    /// An SQS queue: the stack's, or the one the template is given.
    Queue(Queue),
}

impl RevalFeed {
    fn describe(&self) -> String {
        match self {
            RevalFeed::Broker(broker) => format!("the broker at {}", broker.describe()),
            RevalFeed::Queue(queue) => format!("the queue {}", queue.url()),
        }
    }

    async fn open(&self) -> Result<Sender<'_>> {
        Ok(match self {
            RevalFeed::Broker(broker) => Sender::Broker(Box::new(broker.connect().await?)),
            RevalFeed::Queue(queue) => Sender::Queue(queue),
        })
    }
}

/// One run's way to send.
enum Sender<'a> {
    Broker(Box<Publisher<'a>>),
    Queue(&'a Queue),
}

impl Sender<'_> {
    async fn send(&self, bodies: &[String]) -> Result<()> {
        match self {
            Sender::Broker(publisher) => publisher.publish(bodies).await,
            Sender::Queue(queue) => queue.send_batch(bodies).await,
        }
    }

    async fn close(self) {
        if let Sender::Broker(publisher) = self {
            publisher.close().await;
        }
    }
}

/// Sends the ids `ids_sql` selects (distinct and ordered, for the dates `$1` and the days before
/// them `$2`) for every date `job` has to cover up to `as_of`.
pub async fn run(
    client: &mut Client,
    job: JobName,
    as_of: NaiveDate,
    ids_sql: &str,
    feed: &RevalFeed,
) -> Result<JobOutput> {
    let context = "reading the ids for the revalidation feed";
    let db = |e| Error::database(context, e);
    let dates = reval::dates_to_cover(ledger::last_succeeded_as_of(client, job).await?, as_of);
    let days_before: Vec<NaiveDate> = dates.iter().filter_map(|d| d.pred_opt()).collect();
    let tx = crate::db::read_only_snapshot(client, context).await?;
    let statement = tx.prepare(ids_sql).await.map_err(db)?;
    let portal = tx.bind(&statement, &[&dates, &days_before]).await.map_err(db)?;
    let (mut ids, mut messages) = (0u64, 0u64);
    let sender = feed.open().await?;
    loop {
        // One batch of full messages at a time: memory stays bounded whatever the night brings.
        let rows = tx.query_portal(&portal, (MAX_IDS_PER_MESSAGE * MAX_BATCH) as i32).await.map_err(db)?;
        if rows.is_empty() {
            break;
        }
        let batch: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let bodies: Vec<String> = batch.chunks(MAX_IDS_PER_MESSAGE).map(reval::message_body).collect();
        sender.send(&bodies).await?;
        ids += batch.len() as u64;
        messages += bodies.len() as u64;
    }
    sender.close().await;
    tx.commit().await.map_err(db)?;
    let covered: Vec<String> = dates.iter().map(NaiveDate::to_string).collect();
    tracing::info!(ids, messages, dates = %covered.join(","), to = %feed.describe(), "sent the revalidation feed");
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
