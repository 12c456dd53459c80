//! `tis-sync watchdog`: the 07:00 watchdog's check for a date, its catch-ups run here.

use chrono::{NaiveDate, Utc};

use super::{as_of_date, table, DateParser, Here, Outcome, Output};

#[derive(clap::Args)]
pub struct Watchdog {
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = DateParser)]
    as_of: Option<NaiveDate>,
    /// Allow an --as-of more than 31 days from today.
    #[arg(long)]
    allow_distant_as_of: bool,
}

impl Watchdog {
    pub async fn execute(self) -> Outcome {
        let as_of = as_of_date(self.as_of, self.allow_distant_as_of)?;
        let here = Here::connect().await?;
        let watchdog = shared::watchdog::Watchdog {
            db: &here.context.database,
            events: &here.context.events,
            catch_up: &here.runner,
            metrics: None,
            dispatches: here.context.dispatches()?,
            jobs: here.context.deployed_jobs(),
        };
        let report = watchdog.check(as_of, Utc::now()).await?;
        let mut jobs = table(["job", "state", "reason -> action"]);
        for check in &report.jobs {
            let said = [check.reason.as_deref(), check.action.as_deref()].into_iter().flatten();
            jobs.add_row([check.job.to_string(), check.state.to_string(), said.collect::<Vec<_>>().join(" -> ")]);
        }
        eprintln!("{jobs}");
        for o in &report.esr_overdue {
            eprintln!(
                "ESR {} {}: {} record(s) left behind, the earliest starting {}: re-send {} forced",
                o.deanery, o.kind, o.records, o.earliest_start_date, o.resend_run_date
            );
        }
        for m in &report.esr_missing_files {
            eprintln!("ESR {} {}: no file for {}", m.deanery, m.kind, m.run_date);
        }
        for f in &report.esr_not_uploaded {
            eprintln!("ESR {} {}: {} recorded at {} but never uploaded", f.deanery, f.kind, f.file_name, f.created_at);
        }
        eprintln!("{}", report.summary);
        Ok(Output::Json(serde_json::to_value(report).expect("reports serialize")))
    }
}
