//! sync-status: the console's view of the run ledger, the ESR exporter (files today, records
//! waiting, dead-letter depth) and the search side (the domain's state, each alias's live index
//! and count), read-only (shared/src/status.rs).

use functions::{handle_status, init};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use sync_core::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let context = init(Function::SyncStatus).await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| handle_status(&context))).await
}
