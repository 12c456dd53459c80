//! sync-watchdog: finds missed or failed runs and ESR files after the nightly window, and starts them again (see shared/src/watchdog.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::serve_watchdog().await
}
