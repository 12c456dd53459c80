//! sync-watchdog: after the nightly window and in the afternoon (template.yaml), and from the
//! console. Finds the jobs a night missed or failed and starts them again through their own
//! functions; reports ESR records overdue and files missing or never uploaded
//! (shared/src/watchdog.rs).

use functions::{handle_watchdog, init};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use sync_core::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let context = init(Function::SyncWatchdog).await?;
    let invoker = context.function_invoker()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle_watchdog(&context, &invoker, event))).await
}
