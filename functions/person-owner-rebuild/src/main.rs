//! person-owner-rebuild: who owns each trainee (see shared/src/jobs/person_owner_rebuild.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_job(shared::jobs::JobName::PersonOwnerRebuild).await
}
