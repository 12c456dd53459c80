//! post-employing-body-trust (see shared/src/jobs/post_employing_body_trust.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_job(shared::jobs::JobName::PostEmployingBodyTrust).await
}
