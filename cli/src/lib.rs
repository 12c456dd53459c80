//! What only the command line does: run jobs one after another in this process (in AWS, each
//! job's success event starts its follow-ups instead), and the watchdog's catch-ups here.

pub mod picture;
pub mod progress;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;
use shared::error::Result;
use shared::runner::{After, Outcome, RunRequest, RunSummary, Runner};
use shared::watchdog::CatchUp;
use sync_core::{graph, JobName, Trigger};
use uuid::Uuid;

/// What `run_in_process` did.
#[derive(Debug, Default, Serialize)]
pub struct ChainReport {
    pub runs: Vec<RunSummary>,
    pub failed: Vec<(JobName, String)>,
    pub skipped: Vec<(JobName, String)>,
}

impl ChainReport {
    pub fn all_succeeded(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}

/// Runs chains of jobs in this process.
#[allow(async_fn_in_trait)]
pub trait InProcess {
    /// Runs `jobs` in order in this process, as the CLI does: the first ones (those none of
    /// the others lead to) as manual runs, the rest as their follow-ups. A job whose
    /// predecessor in the list failed or was deferred is skipped, with the reason.
    async fn run_in_process(&self, jobs: &[JobName], as_of: NaiveDate, follow_ups: bool) -> ChainReport;

    /// `run_in_process`, with the first jobs started by `trigger` (manual, or the watchdog's
    /// catch-up).
    async fn run_chain(&self, jobs: &[JobName], trigger: Trigger, as_of: NaiveDate, follow_ups: bool) -> ChainReport {
        self.run_chain_observed(jobs, trigger, as_of, follow_ups, &mut |_| {}).await
    }

    /// `run_chain`, telling `observe` each step as it happens (the CLI's progress).
    async fn run_chain_observed(
        &self,
        jobs: &[JobName],
        trigger: Trigger,
        as_of: NaiveDate,
        follow_ups: bool,
        observe: &mut (dyn FnMut(Step<'_>) + Send),
    ) -> ChainReport;
}

/// A step of a chain, as it happens.
pub enum Step<'a> {
    Starting(JobName),
    Ran(&'a RunSummary),
    Failed(JobName, &'a str),
    Skipped(JobName, &'a str),
}

impl InProcess for Runner {
    async fn run_in_process(&self, jobs: &[JobName], as_of: NaiveDate, follow_ups: bool) -> ChainReport {
        self.run_chain(jobs, Trigger::Manual, as_of, follow_ups).await
    }

    async fn run_chain_observed(
        &self,
        jobs: &[JobName],
        trigger: Trigger,
        as_of: NaiveDate,
        follow_ups: bool,
        observe: &mut (dyn FnMut(Step<'_>) + Send),
    ) -> ChainReport {
        let correlation_id = format!("cli-{}", Uuid::new_v4());
        let mut report = ChainReport::default();
        let mut succeeded: Vec<(JobName, Uuid)> = Vec::new();
        for &job in jobs {
            let predecessors: Vec<JobName> =
                graph::predecessors(job).into_iter().filter(|p| jobs.contains(p)).collect();
            let request = if predecessors.is_empty() {
                RunRequest {
                    job,
                    trigger,
                    as_of,
                    follow_ups,
                    delivery_key: None,
                    after: None,
                    correlation_id: Some(correlation_id.clone()),
                    deadline: None,
                }
            } else {
                let missing: Vec<String> = predecessors
                    .iter()
                    .filter(|p| !succeeded.iter().any(|(s, _)| s == *p))
                    .map(|p| p.to_string())
                    .collect();
                if !missing.is_empty() {
                    let reason = format!("not run: {} did not succeed", missing.join(", "));
                    observe(Step::Skipped(job, &reason));
                    report.skipped.push((job, reason));
                    continue;
                }
                let after = succeeded
                    .iter()
                    .rev()
                    .find(|(s, _)| predecessors.contains(s))
                    .map(|&(job, run_id)| After { job, run_id });
                RunRequest {
                    job,
                    trigger: Trigger::FollowUp,
                    as_of,
                    follow_ups: true,
                    // Nothing delivers it but this loop, once: it has no delivery to repeat
                    // (in AWS the rule's event does, and `After::delivery_key` names it).
                    delivery_key: None,
                    after,
                    correlation_id: Some(correlation_id.clone()),
                    deadline: None,
                }
            };
            observe(Step::Starting(job));
            match self.run(request).await {
                Ok(summary) => {
                    if summary.status != Outcome::Deferred {
                        succeeded.push((job, summary.run_id));
                    }
                    observe(Step::Ran(&summary));
                    report.runs.push(summary);
                }
                Err(error) => {
                    let error = error.to_string();
                    observe(Step::Failed(job, &error));
                    report.failed.push((job, error));
                }
            }
        }
        report
    }
}

/// Locally (CLI): run the job and its follow-ups in this process.
pub struct RunHere<'a>(pub &'a Runner);

impl CatchUp for RunHere<'_> {
    async fn start(&self, job: JobName, as_of: NaiveDate) -> Result<String> {
        // Started is what this answers; how the runs ended is in the ledger (a failure also in
        // its Job Failed event), and summarised here.
        let report = InProcess::run_chain(self.0, &graph::downstream(job), Trigger::CatchUp, as_of, true).await;
        let mut outcomes: Vec<String> =
            report.runs.iter().map(|r| format!("{} {}", r.job, json!(r.status).as_str().unwrap_or(""))).collect();
        outcomes.extend(report.failed.iter().map(|(job, error)| format!("{job} failed: {error}")));
        outcomes.extend(report.skipped.iter().map(|(job, reason)| format!("{job} {reason}")));
        Ok(format!("ran here: {}", outcomes.join(", ")))
    }
}
