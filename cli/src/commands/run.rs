//! `tis-sync run JOB` and `tis-sync nightly`: jobs run in this process, one after another in
//! dependency order, with a progress bar on a terminal.

use chrono::NaiveDate;
use serde_json::json;
use sync_core::{graph, JobName, Trigger};
use tis_sync::{progress, InProcessRunner, Step};
use tracing::Instrument;
use tracing_indicatif::span_ext::IndicatifSpanExt;

use super::{as_of_date, DateParser, Failure, Here, Outcome, Output};

#[derive(clap::Args)]
pub struct Run {
    #[arg(value_enum)]
    job: JobName,
    /// Business date of the run (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
    as_of: Option<NaiveDate>,
    /// Allow an --as-of more than 31 days from today.
    #[arg(long)]
    allow_distant_as_of: bool,
    /// Do not run the job's follow-ups afterwards.
    #[arg(long)]
    no_follow_ups: bool,
}

impl Run {
    pub async fn execute(self) -> Outcome {
        let as_of = as_of_date(self.as_of, self.allow_distant_as_of)?;
        let here = Here::connect().await?;
        run(&here.runner, &[self.job], as_of, !self.no_follow_ups).await
    }
}

#[derive(clap::Args)]
pub struct Nightly {
    /// Business date of the runs (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
    as_of: Option<NaiveDate>,
    /// Allow an --as-of more than 31 days from today.
    #[arg(long)]
    allow_distant_as_of: bool,
}

impl Nightly {
    pub async fn execute(self) -> Outcome {
        let as_of = as_of_date(self.as_of, self.allow_distant_as_of)?;
        let here = Here::connect().await?;
        let heads: Vec<JobName> = graph::heads().iter().map(|n| n.job).collect();
        run(&here.runner, &heads, as_of, true).await
    }
}

/// Runs `jobs`, and with `follow_ups` what follows them, in this process, printing progress;
/// fails if any run failed, after printing one line per failure.
async fn run(runner: &InProcessRunner, jobs: &[JobName], as_of: NaiveDate, follow_ups: bool) -> Outcome {
    // What may run, in dependency order; a follow-up whose other predecessors have not
    // succeeded is deferred, one that nothing started does not run.
    let reach: Vec<JobName> = if follow_ups {
        graph::nightly_order().into_iter().filter(|j| jobs.iter().any(|s| graph::downstream(*s).contains(j))).collect()
    } else {
        jobs.to_vec()
    };
    let names: Vec<&str> = reach.iter().map(|j| j.as_str()).collect();
    eprintln!("running for {as_of}: {}", names.join(" -> "));
    let bar = progress::bar(&format!("as of {as_of}"), reach.len() as u64);
    let report = runner
        .run_chain(jobs, Trigger::Manual, as_of, follow_ups, &mut |step| match step {
            Step::Starting(job) => bar.pb_set_message(job.as_str()),
            Step::Ran(summary) => {
                progress::line(&format!(
                    "{:<38} {:<10} {:>8} ms {:>9} rows  {}",
                    summary.job.as_str(),
                    json!(summary.status).as_str().unwrap_or_default(),
                    summary.duration_ms,
                    summary.rows,
                    summary.warnings.join("; ")
                ));
                bar.pb_inc(1);
            }
            Step::Failed(job, _) => {
                progress::line(&format!("{:<38} failed", job.as_str()));
                bar.pb_inc(1);
            }
        })
        .instrument(bar.clone())
        .await;
    drop(bar);
    for (_, error) in &report.failed {
        eprintln!("error: {error}");
    }
    let output = serde_json::to_value(&report).expect("the report serializes");
    if report.all_succeeded() {
        Ok(Output::Json(output))
    } else {
        println!("{output}");
        Err(Failure::Runs)
    }
}
