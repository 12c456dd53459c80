//! sync-status: the run ledger and the ESR exporter's state for the console (see shared/src/status.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_status().await
}
