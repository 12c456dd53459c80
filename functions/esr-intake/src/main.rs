//! esr-intake: takes in ESR records generated upstream (see shared/src/esr/intake.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_esr_intake().await
}
