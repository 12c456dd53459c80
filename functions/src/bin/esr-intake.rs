//! esr-intake: takes in ESR records generated upstream, one SQS message each
//! (shared/src/esr/intake.rs); a failed message goes back to the queue alone and, after its
//! receives, to the dead-letter queue.

use aws_lambda_events::event::sqs::SqsEvent;
use functions::{handle_intake, init};
use lambda_runtime::{service_fn, LambdaEvent};
use sync_core::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let database = init(Function::EsrIntake).await?.database;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| handle_intake(&database, event))).await
}
