//! sync-migrate: applies the project's database migrations (schemas sync and esr, the functions'
//! roles and grants) after checking that every TCS table and column the jobs use exists, as the
//! owner of those schemas (shared/src/migrate.rs). Run after each deploy (README, "Apply
//! migrations"); input {}.

use functions::{handle_migrate, init};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use sync_core::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let database = init(Function::SyncMigrate).await?.database;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle_migrate(&database, event))).await
}
