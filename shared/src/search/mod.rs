//! The search indexes (persons, posts). `SearchIndex` is the port the index jobs talk to (the
//! operations a zero-downtime rebuild needs); `OpenSearchIndex` is its adapter over the
//! `opensearch` crate; `rebuild` is the one routine both jobs run (unit tests of it use a
//! recording adapter instead). `SearchDomain` is the managed domain's control plane.

use std::future::Future;

use chrono::Utc;
use serde_json::Value;
use sync_core::search_index::{self, Concrete};

use crate::error::Result;

mod domain;
mod opensearch;
pub mod rebuild;

pub use self::domain::SearchDomain;
pub use self::opensearch::OpenSearchIndex;

/// AWS OpenSearch rejects requests over 10 MB; half of that leaves room.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;

/// Where and how the index is written.
#[derive(Debug, Clone)]
pub struct IndexTarget {
    /// The alias readers query (`PERSONS_INDEX_ALIAS`, default `persons`; `POSTS_INDEX_ALIAS`,
    /// default `posts`).
    pub alias: String,
    pub max_request_bytes: usize,
}

impl IndexTarget {
    pub fn new(alias: impl Into<String>) -> Self {
        IndexTarget { alias: alias.into(), max_request_bytes: DEFAULT_MAX_REQUEST_BYTES }
    }

    /// Concrete indices are `<alias>-<UTC timestamp>-<run>`, so they sort by age.
    pub(crate) fn new_index_name(&self, run_label: &str) -> String {
        search_index::concrete_name(&self.alias, Utc::now(), run_label)
    }
}

/// The search domain as configured: the client, the alias of each index, and the managed
/// domain's control plane (`None` for a self-managed server reached by `OPENSEARCH_URL`).
#[derive(Clone)]
pub struct Search {
    pub index: OpenSearchIndex,
    pub domain: Option<SearchDomain>,
    pub persons: IndexTarget,
    pub posts: IndexTarget,
}

/// One failed item of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFailure {
    pub id: String,
    pub status: u16,
    pub reason: String,
}

/// The operations a zero-downtime rebuild of an aliased index needs.
pub trait SearchIndex {
    fn create_index(&self, name: &str, body: &Value) -> impl Future<Output = Result<()>> + Send;
    /// Sends one bulk request (NDJSON, ending in a newline); answers the items that failed.
    fn bulk(&self, index: &str, ndjson: String) -> impl Future<Output = Result<Vec<ItemFailure>>> + Send;
    fn put_settings(&self, index: &str, body: &Value) -> impl Future<Output = Result<()>> + Send;
    fn refresh(&self, index: &str) -> impl Future<Output = Result<()>> + Send;
    fn count(&self, index: &str) -> impl Future<Output = Result<u64>> + Send;
    /// The concrete indices the alias points at (empty when the alias does not exist).
    fn alias_targets(&self, alias: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Whether a concrete index (not an alias) has this name.
    fn index_exists(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;
    /// `alias`'s concrete indices (`search_index::is_concrete_of`), each with every alias that
    /// points at it, by name.
    fn concrete_indices(&self, alias: &str) -> impl Future<Output = Result<Vec<Concrete>>> + Send;
    /// Applies alias actions in one atomic `_aliases` request.
    fn update_aliases(&self, actions: &Value) -> impl Future<Output = Result<()>> + Send;
    fn delete_index(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
}
