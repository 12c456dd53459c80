//! Sending messages to an SQS queue, one way for every sender (the ESR dispatcher, the
//! revalidation feeds): batches of at most ten, and entries the queue rejected sent again, a few
//! times, backing off. What still fails is an error naming the queue and SQS's reasons, never
//! the bodies (they may carry ids of people).

use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::{Cause, Error, Result};
use crate::retry::RetryPolicy;

/// Attempts of a batch whose entries the queue rejected, the first included.
const SEND_ATTEMPTS: u32 = 3;
const SEND_BACKOFF: RetryPolicy = RetryPolicy {
    max_attempts: SEND_ATTEMPTS,
    first_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(1),
};

/// SQS's limit on the entries of one SendMessageBatch.
pub const MAX_BATCH: usize = 10;

#[derive(Clone)]
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: String) -> Self {
        Queue { sqs, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `bodies` (at most `MAX_BATCH`) in one SendMessageBatch, again for the entries the
    /// queue rejected; `Ok` once every one was accepted.
    pub async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        if bodies.len() > MAX_BATCH {
            return Err(Error::Invariant(format!("a batch of {} messages (SQS takes {MAX_BATCH})", bodies.len())));
        }
        let mut pending: Vec<(String, &str)> =
            bodies.iter().enumerate().map(|(i, body)| (format!("m{i}"), body.as_str())).collect();
        let mut reasons = Vec::new();
        for attempt in 1..=SEND_ATTEMPTS {
            let entries = pending
                .iter()
                .map(|(id, body)| SendMessageBatchRequestEntry::builder().id(id).message_body(*body).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| self.error(Cause::of(e)))?;
            let answer = self
                .sqs
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.error(Cause::aws(e)))?;
            let failed: Vec<String> = answer.failed().iter().map(|f| f.id().to_string()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            reasons = answer.failed().iter().map(|f| f.message().unwrap_or(f.code()).to_string()).collect();
            reasons.dedup();
            tracing::warn!(attempt, failed = failed.len(), reasons = ?reasons, "the queue rejected some messages; sending them again");
            pending.retain(|(id, _)| failed.contains(id));
            if attempt < SEND_ATTEMPTS {
                SEND_BACKOFF.pause_before(attempt + 1).await;
            }
        }
        Err(self.error(
            format!("{} message(s) not accepted after {SEND_ATTEMPTS} attempts: {}", pending.len(), reasons.join("; "))
                .into(),
        ))
    }

    fn error(&self, reason: Cause) -> Error {
        Error::Queue { queue: self.url.clone(), reason }
    }
}
