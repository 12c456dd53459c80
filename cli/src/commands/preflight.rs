//! `tis-sync preflight`: invokes the deployed sync-preflight, which checks from inside every path
//! the functions need, and shows its table of checks (stderr): every check when all passed (and
//! the report on stdout), else the failed ones, each with its fix, and a failure.

use serde_json::Value;
use shared::error::PREFLIGHT_FAILED;
use shared::Error;
use sync_core::preflight::Report;
use sync_core::Function;

use super::invoke::{function_prefix, invoke, Answer};
use super::{table, Failure, Outcome, Output};

#[derive(clap::Args)]
pub struct Preflight {
    /// What precedes each function's name: `<stack>-` (default: JOB_FUNCTION_PREFIX).
    #[arg(long, value_name = "PREFIX")]
    function_prefix: Option<String>,
}

impl Preflight {
    pub async fn execute(self) -> Outcome {
        let name = format!("{}{}", function_prefix(self.function_prefix)?, Function::SyncPreflight);
        let (report, answer) = match invoke(&name, &serde_json::json!({})).await? {
            Answer::Succeeded(answer) => (read(&name, &answer)?, answer),
            Answer::Failed(_, error) if error["errorType"] == PREFLIGHT_FAILED => {
                let answer: Value = serde_json::from_str(error["errorMessage"].as_str().unwrap_or_default())
                    .map_err(|e| Error::Invariant(format!("{name}'s failed report is not JSON: {e}")))?;
                (read(&name, &answer)?, answer)
            }
            Answer::Failed(kind, error) => {
                return Err(Failure::Message(format!("{name} answered with an error ({kind}): {error}")))
            }
        };
        let mut checks = table(["where", "check", "", "found", "fix"]);
        for check in &report.checks {
            let result = if check.passed { "ok" } else { "FAILED" };
            checks.add_row([&check.scope, &check.what, result, &check.detail, check.fix.as_deref().unwrap_or("")]);
        }
        eprintln!("{checks}");
        if report.failed > 0 {
            return Err(Failure::Message(format!(
                "{} of {} preflight checks failed (each with its fix above; every check is in {name}'s log)",
                report.failed, report.checked
            )));
        }
        Ok(Output::Json(answer))
    }
}

fn read(name: &str, answer: &Value) -> Result<Report, Error> {
    serde_json::from_value(answer.clone())
        .map_err(|e| Error::Invariant(format!("{name}'s answer is not a report: {e}")))
}
