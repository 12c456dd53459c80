//! post-elasticsearch-sync: rebuilds the posts search index (TCS's post search) without readers
//! ever seeing an empty or partial index (docs/search-index.md): one document per post, by the
//! one zero-downtime routine every index uses (`search::rebuild`).

use crate::search::rebuild::IndexKind;
use sync_core::JobName;

pub const POSTS: IndexKind = IndexKind {
    job: JobName::PostElasticsearchSync,
    noun: "post",
    count_sql: "SELECT count(*) FROM tcs.post",
    documents_sql: include_str!("post_elasticsearch_sync.sql"),
    definition: include_str!("post_elasticsearch_mapping.json"),
};
