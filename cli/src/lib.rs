//! What only the command line does: run jobs one after another in this process (in AWS, each
//! job's success event starts its follow-ups instead), and the watchdog's catch-ups here.

pub mod picture;
pub mod progress;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;
use shared::error::Result;
use shared::runner::{After, RunRequest, RunSummary, Runner};
use shared::watchdog::CatchUp;
use sync_core::{graph, JobName, Trigger};
use uuid::Uuid;

/// What `run_in_process` did: every run, in the order they ran, and every failure.
#[derive(Debug, Default, Serialize)]
pub struct ChainReport {
    pub runs: Vec<RunSummary>,
    pub failed: Vec<(JobName, String)>,
}

impl ChainReport {
    pub fn all_succeeded(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The in-process way of starting follow-ups (`FollowUps::InProcess`): what the bus's rules do
/// in AWS, done by this process from each run's answer.
#[allow(async_fn_in_trait)]
pub trait InProcess {
    /// Starts `jobs` as manual runs, and after each run the follow-ups it says it started
    /// (`RunSummary::triggered`), until none is left.
    async fn run_in_process(&self, jobs: &[JobName], as_of: NaiveDate, follow_ups: bool) -> ChainReport {
        self.run_chain(jobs, Trigger::Manual, as_of, follow_ups).await
    }

    /// `run_in_process`, with `jobs` started by `trigger` (manual, or the watchdog's catch-up).
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
}

impl InProcess for Runner {
    async fn run_chain_observed(
        &self,
        jobs: &[JobName],
        trigger: Trigger,
        as_of: NaiveDate,
        follow_ups: bool,
        observe: &mut (dyn FnMut(Step<'_>) + Send),
    ) -> ChainReport {
        let correlation_id = Some(format!("cli-{}", Uuid::new_v4()));
        let mut due = Due::default();
        for &job in jobs {
            due.add(RunRequest {
                job,
                trigger,
                as_of,
                follow_ups,
                delivery_key: None,
                after: None,
                correlation_id: correlation_id.clone(),
                deadline: None,
            });
        }
        let mut report = ChainReport::default();
        while let Some(request) = due.next() {
            let job = request.job;
            observe(Step::Starting(job));
            match self.run(request).await {
                Ok(summary) => {
                    let after = After { job, run_id: summary.run_id };
                    for &next in &summary.triggered {
                        // Nothing delivers it but this loop, once: it has no delivery to repeat
                        // (in AWS the rule's event does, and `After::delivery_key` names it).
                        due.add(RunRequest::follow_up(next, after, as_of, correlation_id.clone()));
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

/// The runs waiting to start here, taken in the graph's dependency order, so a job runs after
/// every predecessor that was going to run. A job started again before it ran (the index, by
/// each of its predecessors) runs once, as the follow-up of the latest: the runner's fan-in rule
/// answers the same for it, and here no deferred run is recorded for the earlier ones.
#[derive(Default)]
struct Due(Vec<RunRequest>);

impl Due {
    fn add(&mut self, request: RunRequest) {
        self.0.retain(|waiting| waiting.job != request.job);
        self.0.push(request);
    }

    fn next(&mut self) -> Option<RunRequest> {
        let position = |job: JobName| graph::GRAPH.iter().position(|n| n.job == job);
        let first = (0..self.0.len()).min_by_key(|&i| position(self.0[i].job))?;
        Some(self.0.remove(first))
    }
}

/// Locally (CLI): run the job and its follow-ups in this process.
pub struct RunHere<'a>(pub &'a Runner);

impl CatchUp for RunHere<'_> {
    async fn start(&self, job: JobName, as_of: NaiveDate) -> Result<String> {
        // Started is what this answers; how the runs ended is in the ledger (a failure also in
        // its Job Failed event), and summarised here.
        let report = InProcess::run_chain(self.0, &[job], Trigger::CatchUp, as_of, true).await;
        let mut outcomes: Vec<String> =
            report.runs.iter().map(|r| format!("{} {}", r.job, json!(r.status).as_str().unwrap_or(""))).collect();
        outcomes.extend(report.failed.iter().map(|(job, error)| format!("{job} failed: {error}")));
        Ok(format!("ran here: {}", outcomes.join(", ")))
    }
}
