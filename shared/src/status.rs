//! sync-status and `tis-sync status`: the run ledger, the ESR exporter's state and the search
//! indexes (the domain's state, each alias's live index) in one answer, for an operator at 7 a.m.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::Client;

use crate::error::{Cause, Error, Result};
use crate::ledger::{self, JobStatus};
use crate::search::{Search, SearchIndex};
use sync_core::search_domain::DomainState;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeaneryFiles {
    pub deanery: String,
    /// Today's files (name, records), by kind.
    pub app_file: Option<(String, i32)>,
    pub notification_file: Option<(String, i32)>,
    /// Records waiting (TO_EXPORT), by kind.
    pub app_waiting: i64,
    pub notification_waiting: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EsrStatus {
    pub date: NaiveDate,
    pub deaneries: Vec<DeaneryFiles>,
    /// Commands in the dead-letter queue, when its URL is configured (`ESR_COMMAND_DLQ_URL`).
    pub dead_letter_depth: Option<i64>,
}

/// One search index as readers see it: the index its alias points at and what it holds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AliasStatus {
    pub alias: String,
    /// The concrete index behind the alias (`None`: the alias does not exist yet).
    pub index: Option<String>,
    pub documents: Option<u64>,
    /// Why the rest could not be read.
    pub error: Option<String>,
}

/// The search server: the managed domain's state from its control plane, and each alias.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchStatus {
    /// `None` for a self-managed server (`OPENSEARCH_URL`): it has no control plane.
    pub domain: Option<DomainState>,
    /// Why the domain or the server could not be read.
    pub error: Option<String>,
    pub aliases: Vec<AliasStatus>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemStatus {
    pub at: DateTime<Utc>,
    pub jobs: Vec<JobStatus>,
    pub esr: EsrStatus,
    /// `None` when no search server is configured here.
    pub search: Option<SearchStatus>,
}

/// The search side's state. Never fails: what cannot be read is reported as an error in the
/// answer, so the rest of the status still reaches the operator.
pub async fn search_status(search: Result<Option<Search>>) -> Option<SearchStatus> {
    let search = match search {
        Ok(None) => return None,
        Ok(Some(search)) => search,
        Err(error) => return Some(SearchStatus { domain: None, error: Some(error.to_string()), aliases: Vec::new() }),
    };
    let (domain, error) = match &search.domain {
        Some(domain) => match domain.describe().await {
            Ok(state) => (Some(state), None),
            Err(error) => (None, Some(error.to_string())),
        },
        None => (None, None),
    };
    let mut aliases = Vec::new();
    for target in [&search.persons, &search.posts] {
        aliases.push(alias_status(&search.index, &target.alias).await);
    }
    Some(SearchStatus { domain, error, aliases })
}

async fn alias_status(index: &impl SearchIndex, alias: &str) -> AliasStatus {
    let read = async {
        let Some(live) = index.alias_targets(alias).await?.into_iter().next() else {
            return Ok((None, None));
        };
        let documents = index.count(&live).await?;
        Ok::<_, Error>((Some(live), Some(documents)))
    };
    match read.await {
        Ok((index, documents)) => AliasStatus { alias: alias.to_string(), index, documents, error: None },
        Err(error) => {
            AliasStatus { alias: alias.to_string(), index: None, documents: None, error: Some(error.to_string()) }
        }
    }
}

pub async fn status(
    client: &Client,
    today: NaiveDate,
    dead_letter_depth: Option<i64>,
    search: Option<SearchStatus>,
) -> Result<SystemStatus> {
    let jobs = ledger::status(client).await?;
    let rows = client
        .query(
            "SELECT d.code,
                    (SELECT f.file_name FROM esr.export_file f WHERE f.deanery = d.code AND f.kind = 'app' AND f.run_date = $1
                     ORDER BY f.created_at DESC LIMIT 1) AS app_file,
                    (SELECT cardinality(f.record_ids) FROM esr.export_file f WHERE f.deanery = d.code AND f.kind = 'app' AND f.run_date = $1
                     ORDER BY f.created_at DESC LIMIT 1) AS app_records,
                    (SELECT f.file_name FROM esr.export_file f WHERE f.deanery = d.code AND f.kind = 'notification' AND f.run_date = $1
                     ORDER BY f.created_at DESC LIMIT 1) AS notification_file,
                    (SELECT cardinality(f.record_ids) FROM esr.export_file f WHERE f.deanery = d.code AND f.kind = 'notification' AND f.run_date = $1
                     ORDER BY f.created_at DESC LIMIT 1) AS notification_records,
                    (SELECT count(*) FROM esr.generated_app_record r WHERE r.deanery = d.code AND r.status = 'TO_EXPORT') AS app_waiting,
                    (SELECT count(*) FROM esr.notification_record r WHERE r.deanery = d.code AND r.status = 'TO_EXPORT') AS notification_waiting
             FROM esr.deanery d WHERE d.active ORDER BY d.dispatch_order",
            &[&today],
        )
        .await
        .map_err(|e| Error::database("reading the ESR status", e))?;
    let deaneries = rows
        .iter()
        .map(|r| DeaneryFiles {
            deanery: r.get("code"),
            app_file: r
                .get::<_, Option<String>>("app_file")
                .map(|f| (f, r.get::<_, Option<i32>>("app_records").unwrap_or(0))),
            notification_file: r
                .get::<_, Option<String>>("notification_file")
                .map(|f| (f, r.get::<_, Option<i32>>("notification_records").unwrap_or(0))),
            app_waiting: r.get("app_waiting"),
            notification_waiting: r.get("notification_waiting"),
        })
        .collect();
    Ok(SystemStatus { at: Utc::now(), jobs, esr: EsrStatus { date: today, deaneries, dead_letter_depth }, search })
}

/// The dead-letter queue's depth (visible + in flight).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<i64> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let answer = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| Error::Queue { queue: queue_url.into(), reason: Cause::aws(e) })?;
    let attributes = answer.attributes().cloned().unwrap_or_default();
    let count = |name: QueueAttributeName| attributes.get(&name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
        + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}
