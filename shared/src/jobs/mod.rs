//! The nightly jobs. Each job's logic is in the file named after it; this module names them and
//! dispatches a run to the right one.

use chrono::NaiveDate;
use tokio_postgres::Client;

use sync_core::JobName;

use crate::error::{Error, Result};
use crate::search::rebuild::{self, Rebuilt};
use crate::search::Search;
use reval_feed::RevalFeed;

pub mod person_elasticsearch_sync;
pub mod person_owner_rebuild;
pub mod person_placement_employing_body_trust;
pub mod person_placement_training_body_trust;
pub mod person_record_status;
pub mod post_elasticsearch_sync;
pub mod post_employing_body_trust;
pub mod post_funding_status;
pub mod post_training_body_trust;
pub mod reval_current_placement_sync;
pub mod reval_current_pm_sync;
pub mod reval_feed;
mod trust_links;

/// Set at the start of each job transaction: enough memory for the hashes and sorts of a
/// TIS-scale job to stay in memory (one run of a job at a time, so the total stays bounded).
pub(crate) const WORK_MEM: &str = "SET LOCAL work_mem = '128MB'";

/// Set in the transaction of a job that updates TCS's own rows (person-record-status,
/// post-funding-status): a row a TCS user is editing makes it wait at most this long and then
/// give up (a transient error: the run retries after a pause), rather than keep the rows it has
/// already updated, and TCS's edits of them, locked behind its wait.
pub(crate) const TCS_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// What a job reports when its output has committed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobOutput {
    /// Rows in the job's output after the run.
    pub rows: u64,
    /// Job-specific counts for the ledger and logs (changed rows, removed rows, ...).
    pub detail: serde_json::Value,
}

impl From<Rebuilt> for JobOutput {
    fn from(rebuilt: Rebuilt) -> Self {
        JobOutput {
            rows: rebuilt.documents,
            detail: serde_json::to_value(&rebuilt).expect("a rebuild's report serializes"),
        }
    }
}

/// What a run of a job gets besides its work connection.
pub struct JobContext<'a> {
    pub as_of: NaiveDate,
    pub run_id: uuid::Uuid,
    /// The search server, when configured (`OPENSEARCH_DOMAIN_NAME` or `OPENSEARCH_URL`); only the
    /// index jobs need it.
    pub search: Option<&'a Search>,
    /// Where the revalidation feeds send, when configured (`REVAL_BROKER_URL` or
    /// `REVAL_QUEUE_URL`); only the feeds need it.
    pub reval: Option<&'a RevalFeed>,
    /// When the job's work must end (the index job stops and deletes its new index by then).
    pub deadline: Option<crate::deadline::Deadline>,
}

/// Whether `job` rebuilds a search index (and so waits for a busy domain before it starts).
pub fn rebuilds_an_index(job: JobName) -> bool {
    matches!(job, JobName::PersonElasticsearchSync | JobName::PostElasticsearchSync)
}

/// Runs one attempt of `job` on the work connection. Each job replaces its output atomically
/// (one transaction, or build-then-swap for the index) or not at all.
pub async fn execute(job: JobName, client: &mut Client, context: &JobContext<'_>) -> Result<JobOutput> {
    let as_of = context.as_of;
    match job {
        JobName::PersonOwnerRebuild => person_owner_rebuild::run(client, as_of).await,
        // The trust jobs link by every placement, past to future: the as-of date does not matter.
        JobName::PersonPlacementEmployingBodyTrust => person_placement_employing_body_trust::run(client).await,
        JobName::PersonPlacementTrainingBodyTrust => person_placement_training_body_trust::run(client).await,
        JobName::PostEmployingBodyTrust => post_employing_body_trust::run(client).await,
        JobName::PostTrainingBodyTrust => post_training_body_trust::run(client).await,
        JobName::PersonRecordStatus => person_record_status::run(client, as_of).await,
        JobName::PostFundingStatus => post_funding_status::run(client, as_of).await,
        JobName::RevalCurrentPmSync | JobName::RevalCurrentPlacementSync => {
            let feed = context.reval.ok_or_else(|| {
                Error::Config(format!(
                    "{job} needs REVAL_BROKER_URL or REVAL_QUEUE_URL (where the revalidation feed goes)"
                ))
            })?;
            let ids = match job {
                JobName::RevalCurrentPmSync => reval_current_pm_sync::IDS,
                _ => reval_current_placement_sync::IDS,
            };
            reval_feed::run(client, job, as_of, ids, feed).await
        }
        JobName::PersonElasticsearchSync | JobName::PostElasticsearchSync => {
            let search = context.search.ok_or_else(|| {
                Error::Config(format!(
                    "{job} needs OPENSEARCH_DOMAIN_NAME (the managed domain) or OPENSEARCH_URL (a self-managed server)"
                ))
            })?;
            let (kind, target) = match job {
                JobName::PersonElasticsearchSync => (&person_elasticsearch_sync::PERSONS, &search.persons),
                _ => (&post_elasticsearch_sync::POSTS, &search.posts),
            };
            let label = context.run_id.simple().to_string();
            let work_stop = context.deadline.map(|d| d.work_stop);
            rebuild::from_snapshot(client, kind, as_of, &search.index, target, &label[..8], work_stop)
                .await
                .map(Into::into)
        }
    }
}
