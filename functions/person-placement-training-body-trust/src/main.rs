//! person-placement-training-body-trust (see shared/src/jobs/person_placement_training_body_trust.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_job(shared::jobs::JobName::PersonPlacementTrainingBodyTrust).await
}
