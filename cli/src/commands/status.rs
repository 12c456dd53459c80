//! `tis-sync status` and `tis-sync runs`: the ledger, the exporter and the search side; JSON on
//! stdout, tables on stderr.

use chrono::Utc;
use serde_json::json;
use shared::ledger::{self, JobStatus, RunRecord};
use shared::status::{self, SystemStatus};
use sync_core::JobName;

use super::{at, table, Here, Outcome, Output};

pub async fn execute() -> Outcome {
    let here = Here::connect().await?;
    let depth = here.context.dead_letter_depth().await?;
    let search = status::search_status(here.context.search().await).await;
    let status = status::status(&here.session.client, Utc::now().date_naive(), depth, search).await?;
    print_status(&status);
    Ok(Output::Json(serde_json::to_value(status).expect("status serializes")))
}

#[derive(clap::Args)]
pub struct Runs {
    /// Only this job's runs (default: every job's).
    #[arg(value_enum)]
    job: Option<JobName>,
    /// How many runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    last: i64,
}

impl Runs {
    pub async fn execute(self) -> Outcome {
        let here = Here::connect().await?;
        let runs = ledger::history(&here.session.client, self.job, self.last).await?;
        eprintln!("{}", runs_table(&runs));
        Ok(Output::Json(json!({ "runs": runs })))
    }
}

fn print_status(status: &SystemStatus) {
    eprintln!("{}", jobs_table(&status.jobs));
    eprintln!();
    let mut esr = table(["ESR", "app file today", "waiting", "notification file today", "waiting"]);
    let file =
        |f: &Option<(String, i32)>| f.as_ref().map(|(name, n)| format!("{name} ({n})")).unwrap_or_else(|| "-".into());
    for d in &status.esr.deaneries {
        esr.add_row([
            d.deanery.clone(),
            file(&d.app_file),
            d.app_waiting.to_string(),
            file(&d.notification_file),
            d.notification_waiting.to_string(),
        ]);
    }
    eprintln!("{esr}");
    if let Some(depth) = status.esr.dead_letter_depth {
        eprintln!("ESR commands in the dead-letter queue: {depth}");
    }
    if let Some(search) = &status.search {
        eprintln!();
        match (&search.domain, &search.error) {
            (Some(d), _) => eprintln!(
                "search domain {}: {}, engine {}",
                d.name,
                d.busy().unwrap_or_else(|| "not processing".into()),
                d.engine_version.as_deref().unwrap_or("unknown")
            ),
            (None, Some(error)) => eprintln!("search: {error}"),
            (None, None) => eprintln!("search: a self-managed server (OPENSEARCH_URL), no control plane"),
        }
        let mut aliases = table(["alias", "live index", "documents"]);
        for a in &search.aliases {
            let (index, documents) = match (&a.index, &a.error) {
                (_, Some(error)) => (error.clone(), String::new()),
                (Some(index), None) => (index.clone(), a.documents.unwrap_or(0).to_string()),
                (None, None) => ("does not exist yet".into(), String::new()),
            };
            aliases.add_row([a.alias.clone(), index, documents]);
        }
        eprintln!("{aliases}");
    }
}

fn jobs_table(statuses: &[JobStatus]) -> comfy_table::Table {
    let mut jobs = table([
        "job",
        "running",
        "last",
        "as of",
        "started (UTC)",
        "ms",
        "rows",
        "last success (UTC)",
        "live as of",
        "error",
    ]);
    for status in statuses {
        let last = status.last_run.as_ref();
        let running = match (&status.paused, status.running_now) {
            (_, true) => "yes",
            (Some(_), false) => "paused",
            (None, false) => "no",
        };
        jobs.add_row([
            status.job.to_string(),
            running.to_string(),
            last.map(|r| r.status.as_str()).unwrap_or("never").to_string(),
            last.map(|r| r.as_of.to_string()).unwrap_or_default(),
            at(last.map(|r| r.started_at)),
            last.and_then(|r| r.duration_ms).map(|d| d.to_string()).unwrap_or_default(),
            last.and_then(|r| r.rows).map(|r| r.to_string()).unwrap_or_default(),
            at(status.last_success.as_ref().and_then(|r| r.finished_at)),
            status.live_as_of.map(|d| d.to_string()).unwrap_or_default(),
            last.and_then(|r| r.error.clone()).unwrap_or_default(),
        ]);
    }
    jobs
}

fn runs_table(runs: &[RunRecord]) -> comfy_table::Table {
    let mut table = table(["started (UTC)", "job", "trigger", "as of", "status", "ms", "rows", "attempts", "error"]);
    for run in runs {
        table.add_row([
            at(Some(run.started_at)),
            run.job.to_string(),
            run.trigger.to_string(),
            run.as_of.to_string(),
            run.status.to_string(),
            run.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            run.rows.map(|r| r.to_string()).unwrap_or_default(),
            run.attempts.to_string(),
            run.error.clone().unwrap_or_default(),
        ]);
    }
    table
}
