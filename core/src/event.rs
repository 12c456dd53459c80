//! The events on the job bus (`source: tis.sync`). Follow-up rules in template.yaml match
//! `Job Succeeded` events by `detail.job` and `detail.followUps`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::job::JobName;
use crate::run::Trigger;

pub const SOURCE: &str = "tis.sync";

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
