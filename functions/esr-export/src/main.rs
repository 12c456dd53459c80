//! esr-export: consumes the ESR export command queue (see shared/src/esr/export.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_esr_export().await
}
