//! The zero-downtime rebuild of an aliased index: one routine for every index (persons, posts).
//!
//! Readers query an alias. A run builds a new concrete index, streams one document per row into
//! it from one consistent snapshot of Postgres (a cursor, never OFFSET paging), in bulk requests
//! bounded by bytes with every item's result checked, refreshes it, checks that it holds exactly
//! one document per row, and only then moves the alias in one atomic `_aliases` request. The
//! previous index is kept for rollback; older ones are deleted. Any failure, or reaching the
//! invocation's deadline, leaves the alias where it was and deletes the new index; but after a
//! failure the alias is read first, and if the move was applied though its answer was lost the
//! run has succeeded. Indexes left by runs whose process died are deleted by the next run. An
//! index any alias points at is never deleted (`sync_core::search_index`).

use serde::Serialize;
use serde_json::{json, Value};
use tokio_postgres::Client;

use sync_core::progress::Progress;
use sync_core::search_index;
use sync_core::JobName;

use super::{IndexTarget, SearchIndex};
use crate::error::{Error, Result};

/// A single document beyond this could never be sent.
const HARD_LIMIT_BYTES: usize = 10 * 1024 * 1024;
/// Rows fetched from the cursor per round trip.
const FETCH_ROWS: i32 = 1000;
/// How often a rebuild says how far it is.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What one index holds and where its documents come from.
pub struct IndexKind {
    /// The job that rebuilds it.
    pub job: JobName,
    /// What one document stands for, in messages ("person", "post").
    pub noun: &'static str,
    /// How many documents the index must hold (counted in the same snapshot).
    pub count_sql: &'static str,
    /// One row per document, `(id bigint, document text)`, for the as-of date `$1`.
    pub documents_sql: &'static str,
    /// The index definition: explicit mapping, refresh off while loading.
    pub definition: &'static str,
}

impl IndexKind {
    pub fn definition(&self) -> Value {
        serde_json::from_str(self.definition).expect("an index definition is valid JSON")
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rebuilt {
    #[serde(skip)]
    pub documents: u64,
    pub index: String,
    pub previous: Vec<String>,
    pub deleted: Vec<String>,
    pub orphans_deleted: Vec<String>,
    pub legacy_index_removed: bool,
}

/// A source of (id, document JSON) rows, fetched in batches; an empty batch ends it.
pub trait DocumentSource {
    fn next_batch(&mut self) -> impl std::future::Future<Output = Result<Vec<(i64, String)>>> + Send;
}

/// Rebuilds `kind`'s index from one read-only snapshot of the database as of `as_of`.
pub async fn from_snapshot<I: SearchIndex + Sync>(
    client: &mut Client,
    kind: &IndexKind,
    as_of: chrono::NaiveDate,
    index: &I,
    target: &IndexTarget,
    run_label: &str,
    work_stop: Option<tokio::time::Instant>,
) -> Result<Rebuilt> {
    let context = format!("reading {}s for the search index", kind.noun);
    let db = |e| Error::database(&context, e);
    // One snapshot for the count and the documents, so "one document per row" is checkable.
    let tx = crate::db::read_only_snapshot(client, &context).await?;
    let expected: i64 = tx.query_one(kind.count_sql, &[]).await.map_err(db)?.get(0);
    let statement = tx.prepare(kind.documents_sql).await.map_err(db)?;
    let portal = tx.bind(&statement, &[&as_of]).await.map_err(db)?;
    let mut source = Rows { tx: &tx, portal, context: &context };
    let rebuilt = rebuild(index, kind, target, run_label, &mut source, expected as u64, work_stop).await?;
    tx.commit().await.map_err(db)?;
    Ok(rebuilt)
}

struct Rows<'a> {
    tx: &'a tokio_postgres::Transaction<'a>,
    portal: tokio_postgres::Portal,
    context: &'a str,
}

impl DocumentSource for Rows<'_> {
    async fn next_batch(&mut self) -> Result<Vec<(i64, String)>> {
        let rows =
            self.tx.query_portal(&self.portal, FETCH_ROWS).await.map_err(|e| Error::database(self.context, e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// Builds a new index from `source`, checks it and moves the alias to it.
pub async fn rebuild<I: SearchIndex + Sync, S: DocumentSource + Send>(
    index: &I,
    kind: &IndexKind,
    target: &IndexTarget,
    run_label: &str,
    source: &mut S,
    expected_documents: u64,
    work_stop: Option<tokio::time::Instant>,
) -> Result<Rebuilt> {
    let alias = target.alias.as_str();
    let previous = index.alias_targets(alias).await?;
    // A legacy setup has a concrete index named like the alias: the swap removes it.
    let legacy = previous.is_empty() && index.index_exists(alias).await?;
    let orphans = search_index::orphans(alias, &index.concrete_indices(alias).await?);
    for orphan in &orphans {
        tracing::warn!(index = %orphan, "deleting an index left by a run that never moved the alias to it");
        index.delete_index(orphan).await?;
    }
    let name = target.new_index_name(run_label);
    index.create_index(&name, &kind.definition()).await?;
    tracing::info!(index = %name, alias, "building a new index");

    // Once the alias move is on its way, a failure may be an answer lost, or a request still in
    // flight that the server applies later: then the new index is never deleted by this run.
    let swap_sent = std::sync::atomic::AtomicBool::new(false);
    let built = async {
        let sent = load(index, &name, kind.noun, source, target.max_request_bytes, expected_documents).await?;
        index.put_settings(&name, &json!({"index": {"refresh_interval": "1s"}})).await?;
        index.refresh(&name).await?;
        let counted = index.count(&name).await?;
        if counted != expected_documents || sent != expected_documents {
            return Err(Error::Search {
                operation: "checking the new index".into(),
                reason: format!(
                    "it holds {counted} documents ({sent} sent) but there are {expected_documents} {}s; the alias was not moved", kind.noun
                ).into(),
            });
        }
        let mut actions: Vec<Value> =
            previous.iter().map(|old| json!({"remove": {"index": old, "alias": alias}})).collect();
        if legacy {
            actions.push(json!({"remove_index": {"index": alias}}));
        }
        actions.push(json!({"add": {"index": name, "alias": alias}}));
        swap_sent.store(true, std::sync::atomic::Ordering::SeqCst);
        index.update_aliases(&json!({ "actions": actions })).await
    };
    let built = crate::deadline::by(work_stop, kind.job.as_str(), || format!("building {name}"), built).await;
    if let Err(error) = built {
        // The alias move may have been applied though its answer never came (a reset
        // connection, the deadline cancelling it in flight): only where the alias points says.
        let swap_sent = swap_sent.load(std::sync::atomic::Ordering::SeqCst);
        if !moved_despite(index, alias, &name, swap_sent, &error).await {
            return Err(error);
        }
    }
    // Only a checked index is ever added to the alias: it holds exactly the expected documents.
    let documents = expected_documents;
    tracing::info!(index = %name, alias, documents, "alias moved to the new index");

    // Keep the index the alias left (for rollback); delete every older one no alias points at.
    let mut deleted = Vec::new();
    for old in search_index::superseded(alias, &index.concrete_indices(alias).await?, &name, &previous) {
        index.delete_index(&old).await?;
        deleted.push(old);
    }
    Ok(Rebuilt { documents, index: name, previous, deleted, orphans_deleted: orphans, legacy_index_removed: legacy })
}

/// After a build failed with `error`: whether the alias points at the new index `name` all the
/// same (its move applied, its answer lost). If not, the new index is deleted, unless the move
/// was sent (it may still be applied: deleting the index then would take the alias with it),
/// some alias points at it, or where the aliases point cannot be read: then it is left, and the
/// next run deletes it only if no alias points at it by then.
async fn moved_despite<I: SearchIndex + Sync>(
    index: &I,
    alias: &str,
    name: &str,
    swap_sent: bool,
    error: &Error,
) -> bool {
    let left = |reason: &str| tracing::warn!(index = %name, alias, error = %error, "{reason}; the new index is left for the next run");
    match index.alias_targets(alias).await {
        Ok(targets) if targets.iter().any(|t| t == name) => {
            tracing::warn!(index = %name, alias, error = %error, "the alias move's answer was lost, but the alias points at the new index");
            return true;
        }
        Ok(_) if swap_sent => {
            left("the alias move was sent and may still be applied");
            return false;
        }
        Ok(_) => {}
        Err(read) => {
            left(&format!("could not read where the alias points ({read})"));
            return false;
        }
    }
    match index.concrete_indices(alias).await {
        Ok(indices) if indices.iter().any(|c| c.name == name && !c.aliases.is_empty()) => {
            left("another alias points at the new index")
        }
        Ok(_) => {
            if let Err(cleanup) = index.delete_index(name).await {
                tracing::warn!(index = %name, error = %cleanup, "could not delete the abandoned index");
            }
        }
        Err(read) => left(&format!("could not list the indexes ({read})")),
    }
    false
}

/// Streams documents into `name` in bulk requests of at most `max_bytes`, one request in flight
/// while the next is read. Answers the number of documents sent; any failed item fails the load.
/// Says how far it is every few seconds (documents sent, rate, time left): in Lambda a JSON line.
async fn load<I: SearchIndex + Sync, S: DocumentSource + Send>(
    index: &I,
    name: &str,
    noun: &str,
    source: &mut S,
    max_bytes: usize,
    expected_documents: u64,
) -> Result<u64> {
    // Each request with the number of documents in it.
    let (requests, mut received) = tokio::sync::mpsc::channel::<(String, u64)>(1);
    let produce = async move {
        let mut body = String::new();
        let mut in_body = 0u64;
        let mut documents = 0u64;
        loop {
            let batch = source.next_batch().await?;
            if batch.is_empty() {
                break;
            }
            for (id, document) in batch {
                let action = format!("{{\"index\":{{\"_id\":\"{id}\"}}}}\n");
                let size = action.len() + document.len() + 1;
                if size > HARD_LIMIT_BYTES {
                    return Err(Error::Search {
                        operation: "bulk indexing".into(),
                        reason: format!("the document of {noun} {id} is {size} bytes, over the 10 MB request limit")
                            .into(),
                    });
                }
                let full = !body.is_empty() && body.len() + size > max_bytes;
                if full && requests.send((std::mem::take(&mut body), std::mem::take(&mut in_body))).await.is_err() {
                    return Ok(documents); // the sender stopped on an error it reports
                }
                body.push_str(&action);
                body.push_str(&document);
                body.push('\n');
                in_body += 1;
                documents += 1;
            }
        }
        if !body.is_empty() {
            let _ = requests.send((body, in_body)).await;
        }
        Ok(documents)
    };
    let send = async {
        let started = std::time::Instant::now();
        let mut progress = Progress::new(expected_documents, PROGRESS_EVERY);
        let mut sent = 0u64;
        while let Some((body, documents)) = received.recv().await {
            let failures = index.bulk(name, body).await?;
            if let Some(first) = failures.first() {
                return Err(Error::Search {
                    operation: "bulk indexing".into(),
                    reason: format!(
                        "{} document(s) failed, the first: {noun} {} (HTTP {}): {}",
                        failures.len(),
                        first.id,
                        first.status,
                        first.reason
                    )
                    .into(),
                });
            }
            sent += documents;
            if let Some(report) = progress.due(sent, started.elapsed()) {
                tracing::info!(
                    documents_sent = report.done,
                    documents_total = report.total,
                    per_second = report.per_second.round() as u64,
                    seconds_left = report.seconds_left,
                    "{noun}s sent: {} of {}",
                    report.done,
                    report.total
                );
            }
        }
        Ok(())
    };
    let (produced, sent) = tokio::join!(produce, send);
    sent?;
    produced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::ItemFailure;
    use std::sync::Mutex;
    use sync_core::search_index::Concrete;

    /// Records every request; answers like an index that accepts everything, except the
    /// documents whose ids are listed in `reject`.
    #[derive(Default)]
    struct RecordingIndex {
        calls: Mutex<Vec<String>>,
        bulk_sizes: Mutex<Vec<usize>>,
        documents: Mutex<u64>,
        aliased: Vec<String>,
        reject: Vec<String>,
        /// The alias move fails with no answer (a lost reply, or a request still in flight).
        alias_move_unanswered: bool,
    }

    impl RecordingIndex {
        fn record(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl SearchIndex for RecordingIndex {
        async fn create_index(&self, name: &str, _: &Value) -> Result<()> {
            self.record(format!("create {name}"));
            Ok(())
        }
        async fn bulk(&self, _: &str, ndjson: String) -> Result<Vec<ItemFailure>> {
            self.record("bulk".into());
            self.bulk_sizes.lock().unwrap().push(ndjson.len());
            let mut failures = Vec::new();
            for action in ndjson.lines().step_by(2) {
                let id = serde_json::from_str::<Value>(action).unwrap()["index"]["_id"].as_str().unwrap().to_string();
                if self.reject.contains(&id) {
                    failures.push(ItemFailure { id, status: 400, reason: "mapper_parsing_exception".into() });
                } else {
                    *self.documents.lock().unwrap() += 1;
                }
            }
            Ok(failures)
        }
        async fn put_settings(&self, _: &str, body: &Value) -> Result<()> {
            self.record(format!("settings {body}"));
            Ok(())
        }
        async fn refresh(&self, _: &str) -> Result<()> {
            self.record("refresh".into());
            Ok(())
        }
        async fn count(&self, _: &str) -> Result<u64> {
            self.record("count".into());
            Ok(*self.documents.lock().unwrap())
        }
        async fn alias_targets(&self, _: &str) -> Result<Vec<String>> {
            Ok(self.aliased.clone())
        }
        async fn index_exists(&self, _: &str) -> Result<bool> {
            Ok(false)
        }
        async fn concrete_indices(&self, alias: &str) -> Result<Vec<Concrete>> {
            let index = |name: &str| Concrete {
                name: name.into(),
                aliases: if self.aliased.iter().any(|a| a == name) { vec![alias.into()] } else { vec![] },
            };
            Ok(vec![index("persons-20200101000000-old"), index("persons-20240101000000-prev")])
        }
        async fn update_aliases(&self, actions: &Value) -> Result<()> {
            self.record(format!("aliases {actions}"));
            if self.alias_move_unanswered {
                return Err(Error::Search { operation: "moving the alias".into(), reason: "connection reset".into() });
            }
            Ok(())
        }
        async fn delete_index(&self, name: &str) -> Result<()> {
            self.record(format!("delete {name}"));
            Ok(())
        }
    }

    struct Documents(Vec<(i64, String)>, std::time::Duration);

    impl DocumentSource for Documents {
        async fn next_batch(&mut self) -> Result<Vec<(i64, String)>> {
            tokio::time::sleep(self.1).await;
            let n = self.0.len().min(3);
            Ok(self.0.drain(..n).collect())
        }
    }

    fn documents(n: i64, bytes: usize) -> Documents {
        Documents(
            (1..=n).map(|id| (id, format!("{{\"personId\":{id},\"pad\":\"{}\"}}", "x".repeat(bytes)))).collect(),
            std::time::Duration::ZERO,
        )
    }

    const KIND: IndexKind = IndexKind {
        job: JobName::PersonElasticsearchSync,
        noun: "person",
        count_sql: "",
        documents_sql: "",
        definition: r#"{"mappings": {"dynamic": "strict"}}"#,
    };

    fn target(max_request_bytes: usize) -> IndexTarget {
        IndexTarget { alias: "persons".into(), max_request_bytes }
    }

    #[tokio::test]
    async fn refresh_comes_after_the_last_bulk_and_before_the_count_and_the_alias_move() {
        let index = RecordingIndex { aliased: vec!["persons-20240101000000-prev".into()], ..Default::default() };
        let output = rebuild(&index, &KIND, &target(1000), "run1", &mut documents(10, 200), 10, None).await.unwrap();
        assert_eq!(output.documents, 10);
        let calls = index.calls();
        let position = |prefix: &str| calls.iter().position(|c| c.starts_with(prefix)).unwrap();
        let last_bulk = calls.iter().rposition(|c| c == "bulk").unwrap();
        assert_eq!(position("create"), 0);
        assert!(position("settings") > last_bulk, "{calls:?}");
        assert!(position("refresh") > position("settings"), "{calls:?}");
        assert!(position("count") > position("refresh"), "{calls:?}");
        assert!(position("aliases") > position("count"), "{calls:?}");
        // One atomic request removes the old index from the alias and adds the new one.
        let aliases = &calls[position("aliases")];
        assert!(
            aliases.contains(r#"{"remove":{"alias":"persons","index":"persons-20240101000000-prev"}}"#),
            "{aliases}"
        );
        assert!(aliases.contains(r#""add":{"alias":"persons","index":"persons-"#), "{aliases}");
        // The previous index is kept, the older one deleted.
        assert!(calls.contains(&"delete persons-20200101000000-old".to_string()), "{calls:?}");
        assert!(!calls.contains(&"delete persons-20240101000000-prev".to_string()), "{calls:?}");
    }

    #[tokio::test]
    async fn bulk_requests_stay_under_the_byte_bound_with_large_documents() {
        let index = RecordingIndex::default();
        let bound = 64 * 1024;
        rebuild(&index, &KIND, &target(bound), "run1", &mut documents(200, 9_000), 200, None).await.unwrap();
        let sizes = index.bulk_sizes.lock().unwrap().clone();
        assert!(sizes.len() > 20, "{} requests", sizes.len());
        assert!(sizes.iter().all(|s| *s <= bound), "{sizes:?}");
        assert_eq!(*index.documents.lock().unwrap(), 200);
    }

    #[tokio::test]
    async fn a_failed_item_fails_the_run_deletes_the_new_index_and_leaves_the_alias() {
        let index = RecordingIndex { reject: vec!["7".into()], ..Default::default() };
        let error = rebuild(&index, &KIND, &target(1000), "run1", &mut documents(10, 100), 10, None).await.unwrap_err();
        assert!(error.to_string().contains("person 7"), "{error}");
        let calls = index.calls();
        assert!(!calls.iter().any(|c| c.starts_with("aliases")), "{calls:?}");
        assert!(calls.last().unwrap().starts_with("delete persons-"), "{calls:?}");
    }

    #[tokio::test]
    async fn a_count_short_of_the_persons_leaves_the_alias() {
        let index = RecordingIndex::default();
        let error = rebuild(&index, &KIND, &target(1000), "run1", &mut documents(10, 10), 11, None).await.unwrap_err();
        assert!(error.to_string().contains("there are 11 persons"), "{error}");
        assert!(!index.calls().iter().any(|c| c.starts_with("aliases")));
    }

    #[tokio::test]
    async fn reaching_the_deadline_deletes_the_new_index_and_leaves_the_alias() {
        let index = RecordingIndex { aliased: vec!["persons-20240101000000-prev".into()], ..Default::default() };
        let mut slow = documents(100, 10);
        slow.1 = std::time::Duration::from_millis(20);
        let stop = tokio::time::Instant::now() + std::time::Duration::from_millis(100);
        let error = rebuild(&index, &KIND, &target(1000), "run1", &mut slow, 100, Some(stop)).await.unwrap_err();
        assert!(matches!(error, Error::Deadline { .. }), "{error}");
        let calls = index.calls();
        assert!(!calls.iter().any(|c| c.starts_with("aliases")), "{calls:?}");
        let created = calls[0].strip_prefix("create ").unwrap();
        assert_eq!(calls.last().unwrap(), &format!("delete {created}"), "{calls:?}");
    }

    /// A move that went out unanswered may still be applied: the new index is left, never
    /// deleted under an alias that may be about to point at it.
    #[tokio::test]
    async fn an_unanswered_alias_move_never_deletes_the_new_index() {
        let index = RecordingIndex {
            aliased: vec!["persons-20240101000000-prev".into()],
            alias_move_unanswered: true,
            ..Default::default()
        };
        let error = rebuild(&index, &KIND, &target(1000), "run1", &mut documents(10, 10), 10, None).await.unwrap_err();
        assert!(error.to_string().contains("moving the alias"), "{error}");
        let calls = index.calls();
        let created = calls[0].strip_prefix("create ").unwrap();
        assert!(!calls.contains(&format!("delete {created}")), "{calls:?}");
    }
}
