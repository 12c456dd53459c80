//! The one partial-batch helper for SQS-driven functions: each message is handled on its own
//! (concurrently); the ones that failed are reported by message id so SQS retries only them
//! and, after the queue's maxReceiveCount, moves them to its dead-letter queue.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use shared::error::{Error, Result};

pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> Result<SqsBatchResponse>
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let outcomes = futures::future::join_all(event.records.into_iter().map(|message| {
        let id = message.message_id.clone().filter(|id| !id.is_empty());
        let handled = handle(message);
        async move { (id, handled.await) }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    let mut unidentified = 0;
    for (id, outcome) in outcomes {
        match (outcome, id) {
            (Ok(()), _) => {}
            (Err(error), Some(id)) => {
                tracing::error!(message_id = %id, error_type = error.error_type(), error = %error, "message failed; SQS will deliver it again");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
            (Err(error), None) => {
                tracing::error!(error = %error, "a message without a message id failed");
                unidentified += 1;
            }
        }
    }
    if unidentified > 0 {
        // An empty item identifier would make Lambda treat the whole batch as failed anyway;
        // say so plainly: every message of the batch comes back, nothing is lost.
        return Err(Error::InvalidInput(format!(
            "{unidentified} failed message(s) had no message id: failing the whole batch so SQS delivers all of it again"
        )));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: Option<&str>, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = id.map(String::from);
        message.body = Some(body.to_string());
        message
    }

    fn event(messages: Vec<SqsMessage>) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages;
        event
    }

    async fn handle(message: SqsMessage) -> Result<()> {
        match message.body.as_deref() {
            Some("ok") => Ok(()),
            _ => Err(Error::InvalidInput("bad".into())),
        }
    }

    #[tokio::test]
    async fn only_the_failed_messages_are_reported() {
        let response =
            process(event(vec![message(Some("1"), "ok"), message(Some("2"), "bad"), message(Some("3"), "ok")]), handle)
                .await
                .unwrap();
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["2"]);
    }

    #[tokio::test]
    async fn a_failed_message_without_an_id_fails_the_batch_instead_of_an_empty_id() {
        for id in [None, Some("")] {
            let error = process(event(vec![message(Some("1"), "ok"), message(id, "bad")]), handle).await.unwrap_err();
            assert!(error.to_string().contains("had no message id"), "{error}");
        }
        // Without failures, a missing id does not matter.
        let response = process(event(vec![message(None, "ok")]), handle).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
}
