//! person-elasticsearch-sync: rebuilds the person search index (TCS's people search) without
//! readers ever seeing an empty or partial index (docs/search-index.md): one document per person,
//! by the one zero-downtime routine every index uses (`search::rebuild`).

use crate::search::rebuild::IndexKind;
use sync_core::JobName;

pub const PERSONS: IndexKind = IndexKind {
    job: JobName::PersonElasticsearchSync,
    noun: "person",
    // The persons TCS's person query selects: those with contact details (an inner join).
    count_sql: "SELECT count(*) FROM tcs.person p JOIN tcs.contact_details cd ON cd.id = p.id",
    documents_sql: include_str!("person_elasticsearch_sync.sql"),
    definition: include_str!("person_elasticsearch_mapping.json"),
};
