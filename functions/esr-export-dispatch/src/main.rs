//! esr-export-dispatch: sends the day's ESR export commands (see shared/src/esr/dispatch.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_esr_dispatch().await
}
