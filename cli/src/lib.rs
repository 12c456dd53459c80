//! What only the command line does: run jobs one after another in this process (in AWS, each
//! job's success event starts its follow-ups instead), and the watchdog's catch-ups here.

pub mod picture;
pub mod progress;

use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;
use shared::error::Result;
use shared::runner::follow_ups::InProcess;
use shared::runner::{RunRequest, RunSummary, Runner};
use shared::watchdog::CatchUp;
use sync_core::{JobName, Trigger};
use uuid::Uuid;

/// What `InProcessRunner::run` did: every run, in the order they ran, and every failure.
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

/// A runner whose follow-ups run in this process, one after another (`follow_ups::InProcess`):
/// what the bus's rules do in AWS. One chain at a time.
pub struct InProcessRunner {
    runner: Runner,
    due: Arc<InProcess>,
}

/// A step of a chain, as it happens.
pub enum Step<'a> {
    Starting(JobName),
    Ran(&'a RunSummary),
    Failed(JobName, &'a str),
}

impl InProcessRunner {
    pub fn new(runner: Runner) -> Self {
        let due = Arc::new(InProcess::default());
        InProcessRunner { runner: runner.with_follow_ups(due.clone()), due }
    }

    /// The runner, which queues each success's follow-ups here for the chain to run.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Starts `jobs` as manual runs, and with `follow_ups` what each run says it started
    /// (`RunSummary::triggered`), until none is left.
    pub async fn run(&self, jobs: &[JobName], as_of: NaiveDate, follow_ups: bool) -> ChainReport {
        self.run_chain(jobs, Trigger::Manual, as_of, follow_ups, &mut |_| {}).await
    }

    /// `run`, with `jobs` started by `trigger` (manual, or the watchdog's catch-up), telling
    /// `observe` each step as it happens (the CLI's progress).
    pub async fn run_chain(
        &self,
        jobs: &[JobName],
        trigger: Trigger,
        as_of: NaiveDate,
        follow_ups: bool,
        observe: &mut (dyn FnMut(Step<'_>) + Send),
    ) -> ChainReport {
        let correlation_id = Some(format!("cli-{}", Uuid::new_v4()));
        for &job in jobs {
            self.due.add(RunRequest {
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
        while let Some(request) = self.due.next() {
            let job = request.job;
            observe(Step::Starting(job));
            match self.runner.run(request).await {
                Ok(summary) => {
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

/// Locally (CLI), the watchdog's catch-up runs the job and its follow-ups in this process.
impl CatchUp for InProcessRunner {
    async fn start(&self, job: JobName, as_of: NaiveDate) -> Result<String> {
        // Started is what this answers; how the runs ended is in the ledger (a failure also in
        // its Job Failed event), and summarised here.
        let report = self.run_chain(&[job], Trigger::CatchUp, as_of, true, &mut |_| {}).await;
        let mut outcomes: Vec<String> =
            report.runs.iter().map(|r| format!("{} {}", r.job, json!(r.status).as_str().unwrap_or(""))).collect();
        outcomes.extend(report.failed.iter().map(|(job, error)| format!("{job} failed: {error}")));
        Ok(format!("ran here: {}", outcomes.join(", ")))
    }
}
