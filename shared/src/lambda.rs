//! The Lambda side of a job function: build the dependencies once at init, then answer each
//! event with the shared runner. A function's `main.rs` only names its job.

use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::error::Error;
use crate::jobs::JobName;
use crate::runner::{RunSummary, Runner};
use crate::{config, context};

/// Serves `job` until the Lambda runtime stops the process.
pub async fn serve_job(job: JobName) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_lambda();
    let settings = config::Settings::from_env()?;
    let runner = context::runner(&settings).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&runner, job, event))).await
}

/// Handles one event: parses it (console, schedule or follow-up shape) and runs the job.
pub async fn handle(runner: &Runner, job: JobName, event: LambdaEvent<Value>) -> Result<RunSummary, Error> {
    let (payload, context) = event.into_parts();
    let mut request = crate::invocation::parse(job, payload, Utc::now().date_naive()).inspect_err(|e| {
        tracing::error!(job = %job, request_id = %context.request_id, error = %e, "rejected the event");
    })?;
    // A chain's first run is correlated by the invocation that started it.
    request.correlation_id.get_or_insert_with(|| context.request_id.clone());
    runner.run(request).await
}
