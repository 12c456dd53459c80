//! The events on the job bus (`source: tis.sync`). Follow-up rules in template.yaml match
//! `Job Succeeded` events by `detail.job` and `detail.followUps`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::job::JobName;
use crate::run::Trigger;

pub const SOURCE: &str = "tis.sync";

/// EventBridge refuses a PutEvents entry of this size or more ("The total entry size must be
/// less than 256KB": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// An entry's size as EventBridge counts it (the page above): the UTF-8 bytes of its source,
/// detail type and detail (no time or resources are sent).
pub fn entry_bytes(detail_type: DetailType, detail: &str) -> usize {
    SOURCE.len() + detail_type.as_str().len() + detail.len()
}

/// At most this many placement ids in one `ESR File Exported` event: 20 bytes each at most
/// (`-9223372036854775808,`), about 105 KB, so the entry stays far under
/// `MAX_ENTRY_BYTES` and the event, wrapped in its envelope, under an SQS target's 256 KB.
pub const PLACEMENT_IDS_PER_EVENT: usize = 5_000;

vocabulary! {
    /// An event's `detail-type`.
    pub enum DetailType ("detail type") {
        JobSucceeded = "Job Succeeded",
        JobFailed = "Job Failed",
        JobDeferred = "Job Deferred",
        JobMissed = "Job Missed",
        EsrFileExported = "ESR File Exported",
    }
}

/// The `detail` of a job event (docs/contract.md "Events").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEventDetail {
    pub job: JobName,
    pub run_id: Uuid,
    pub trigger: Trigger,
    pub as_of: NaiveDate,
    pub follow_ups: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub rows: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Shared by every run a night's chain starts, so one search finds the whole chain's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_source_detail_type_and_detail_bytes() {
        assert_eq!(entry_bytes(DetailType::JobMissed, "{\"é\":1}"), "tis.sync".len() + "Job Missed".len() + 8);
    }

    #[test]
    fn the_fullest_file_event_part_is_far_under_the_entry_limit() {
        let ids = vec![i64::MIN; PLACEMENT_IDS_PER_EVENT];
        let detail = serde_json::json!({"placementIds": ids}).to_string();
        let size = entry_bytes(DetailType::EsrFileExported, &detail);
        assert!(size <= 106 * 1024, "{size} bytes of ids alone");
        assert!(size + 4096 < MAX_ENTRY_BYTES);
    }
}
