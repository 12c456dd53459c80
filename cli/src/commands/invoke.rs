//! `tis-sync invoke FUNCTION --event FILE`: a deployed function invoked as the console's Test
//! button does; needs AWS (or the local emulator, through AWS_ENDPOINT_URL), not the database.

use serde_json::{json, Value};
use shared::Error;
use sync_core::Function;

use super::{Failure, Outcome, Output};

#[derive(clap::Args)]
pub struct Invoke {
    #[arg(value_enum)]
    function: Function,
    /// The event, a JSON file (for example events/job/as-of.json).
    #[arg(long, value_name = "FILE")]
    event: std::path::PathBuf,
    /// What precedes each function's name: `<stack>-` (default: JOB_FUNCTION_PREFIX).
    #[arg(long, value_name = "PREFIX")]
    function_prefix: Option<String>,
}

impl Invoke {
    /// Invokes `<prefix><function>` with the event and waits for its answer: the answer, or the
    /// function's error as one line.
    pub async fn execute(self) -> Outcome {
        let path = &self.event;
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::InvalidInput(format!("--event {}: {e}", path.display())))?;
        let event: Value = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidInput(format!("--event {} is not JSON: {e}", path.display())))?;
        let name = format!("{}{}", function_prefix(self.function_prefix)?, self.function);
        match invoke(&name, &event).await? {
            Answer::Succeeded(answer) => Ok(Output::Json(answer)),
            // The answer is the function's own error object ({"errorType", "errorMessage"}).
            Answer::Failed(kind, error) => {
                Err(Failure::Message(format!("{name} answered with an error ({kind}): {error}")))
            }
        }
    }
}

/// What a function answered: its answer, or its error's type and object.
pub enum Answer {
    Succeeded(Value),
    Failed(String, Value),
}

/// `--function-prefix`, else JOB_FUNCTION_PREFIX: what precedes each function's name.
pub fn function_prefix(given: Option<String>) -> Result<String, Error> {
    given.or_else(|| std::env::var("JOB_FUNCTION_PREFIX").ok()).ok_or_else(|| {
        Error::InvalidInput("name the functions' prefix (<stack>-): --function-prefix or JOB_FUNCTION_PREFIX".into())
    })
}

/// Invokes the function `name` with `event` and waits for its answer.
pub async fn invoke(name: &str, event: &Value) -> Result<Answer, Error> {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let answer = aws_sdk_lambda::Client::new(&aws)
        .invoke()
        .function_name(name)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .map_err(|e| Error::Invoke { function: name.to_string(), reason: shared::error::Cause::aws(e) })?;
    let body = answer.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
    let value: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    Ok(match answer.function_error() {
        None => Answer::Succeeded(value),
        Some(kind) => Answer::Failed(kind.to_string(), shared::error::function_error(value)),
    })
}
