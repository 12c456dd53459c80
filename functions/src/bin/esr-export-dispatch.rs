//! esr-export-dispatch: the daily ESR schedules and operators' console invocations. Sends one
//! export command per active deanery (or the deaneries named) to the command queue
//! (shared/src/esr/dispatch.rs).

use functions::{handle_dispatch, init};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use sync_core::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let dispatcher = init(Function::EsrExportDispatch).await?.dispatcher()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle_dispatch(&dispatcher, event))).await
}
