//! Job events on EventBridge (`source: tis.sync`). Follow-up rules in template.yaml match
//! `Job Succeeded` events by `detail.job` and `detail.followUps`.

use serde::Serialize;
use sync_core::event::{DetailType, SOURCE};

use crate::error::{Cause, Error, Result};

/// Publishes events to the bus, or, without a bus, says so once and does nothing.
#[derive(Clone)]
pub struct EventPublisher {
    target: Option<(aws_sdk_eventbridge::Client, String)>,
}

impl EventPublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        EventPublisher { target: Some((client, bus)) }
    }

    /// No bus configured (`EVENT_BUS_NAME` unset): each event is logged as not published.
    pub fn disabled() -> Self {
        EventPublisher { target: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    pub async fn publish(&self, detail_type: DetailType, detail: &impl Serialize) -> Result<()> {
        let body = serde_json::to_string(detail).expect("event details serialize to JSON");
        let Some((client, bus)) = &self.target else {
            tracing::info!(detail_type = detail_type.as_str(), "EVENT_BUS_NAME is not set: event not published");
            tracing::debug!(detail = %body, "unpublished event");
            return Ok(());
        };
        let failure =
            |reason: Cause| Error::EventPublish { detail_type: detail_type.as_str().into(), bus: bus.clone(), reason };
        // EventBridge would refuse it after the caller's work is done: say so, naming the size.
        let size = sync_core::event::entry_bytes(detail_type, &body);
        if size >= sync_core::event::MAX_ENTRY_BYTES {
            return Err(failure(
                format!("the entry is {size} bytes; EventBridge takes less than {}", sync_core::event::MAX_ENTRY_BYTES)
                    .into(),
            ));
        }
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(SOURCE)
            .detail_type(detail_type.as_str())
            .detail(body)
            .build();
        let output = client.put_events().entries(entry).send().await.map_err(|e| failure(Cause::aws(e)))?;
        // PutEvents answers 200 even when an entry was rejected: check the entry itself.
        if output.failed_entry_count() > 0 {
            let reason = output
                .entries()
                .iter()
                .filter_map(|e| e.error_message().or(e.error_code()))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(failure(reason.into()));
        }
        tracing::info!(detail_type = detail_type.as_str(), bus = %bus, "event published");
        Ok(())
    }
}
