//! person-elasticsearch-sync (see shared/src/jobs/person_elasticsearch_sync.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_job(shared::jobs::JobName::PersonElasticsearchSync).await
}
