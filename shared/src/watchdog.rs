//! sync-watchdog: after the nightly window (07:00 UTC), finds what did not happen and starts it
//! again, before users notice (jobs.md "Missed and failed runs"; the incident was found by users
//! days late).
//!
//! First, every success whose `Job Succeeded` the bus never took is announced again
//! (`runner::republish_unpublished`), so its follow-ups start from it.
//!
//! Jobs: a job of the graph is missed when the output live now (its latest success) is not as
//! of the as-of date or later (no run, a failed one, or a stray run for a past date replaced
//! it), unless it is running now. Each missed job is announced with `Job Missed`; the missed
//! jobs that nothing else missed leads to are started again (trigger `catch-up`, follow-ups
//! on), and their follow-ups take care of the rest. A paused job, and what follows it, is left
//! alone and reported as such.
//!
//! ESR: every record still TO_EXPORT is either ahead of a scheduled run that will take it or
//! reported (left behind: it starts before the next run's window opens, so no run to come can
//! take it, whatever the reason: a lost command, a re-send for the wrong date, a record that
//! arrived after its last chance), with the run date to re-send; the active deaneries with no
//! file for the latest scheduled run; and files recorded but not uploaded ten minutes after they
//! were made. Every query is bounded by the waiting records or the files, never by the records
//! exported, and by a statement timeout; a watchdog that cannot report says so by its silence,
//! which has an alarm of its own (the `WatchdogReported` heartbeat).

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::Client;

use sync_core::esr::schedule::Dispatches;
use sync_core::esr::{self, Kind};
use sync_core::event::DetailType;
use sync_core::graph::GRAPH;
use sync_core::watch::{self, JobFacts, RunFacts, Verdict};
use sync_core::{JobName, Trigger};

use crate::db::Database;
use crate::emf::MetricsSink;
use crate::error::{Cause, Error, Result};
use crate::esr::records_table;
use crate::events::EventPublisher;
use crate::invocation::ManualInput;
use crate::ledger::{self, RunRecord};

/// How a missed job is started again.
pub trait CatchUp {
    /// Starts `job` (and its follow-ups) for `as_of`; answers what was done.
    fn start(&self, job: JobName, as_of: NaiveDate) -> impl Future<Output = Result<String>> + Send;
}

/// In AWS: invoke the job's function asynchronously, exactly as an operator would.
pub struct InvokeFunction {
    client: aws_sdk_lambda::Client,
    /// Function names are `<prefix><job>` (the template names them `<stack>-<job>`).
    prefix: String,
}

impl InvokeFunction {
    pub fn new(client: aws_sdk_lambda::Client, prefix: String) -> Self {
        InvokeFunction { client, prefix }
    }
}

impl CatchUp for InvokeFunction {
    async fn start(&self, job: JobName, as_of: NaiveDate) -> Result<String> {
        let name = format!("{}{job}", self.prefix);
        // The watchdog checked its own date: a distant one was allowed by its input already.
        let input = ManualInput {
            trigger: Some(Trigger::CatchUp.as_str().into()),
            as_of: Some(as_of.to_string()),
            allow_distant_as_of: true,
            follow_ups: Some(true),
            ..ManualInput::default()
        };
        let payload = serde_json::to_string(&input).expect("job input serializes");
        self.client
            .invoke()
            .function_name(&name)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| Error::Invoke { function: name.clone(), reason: Cause::aws(e) })?;
        Ok(format!("invoked {name}"))
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCheck {
    pub job: JobName,
    /// ok | running | stuck (its lock held past its function's timeout, or by no run of it) |
    /// missed | paused | held (follows a paused job)
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverdueRecords {
    pub deanery: String,
    pub kind: Kind,
    pub records: i64,
    pub earliest_start_date: NaiveDate,
    /// The run date of the file that takes the earliest of them: re-send it, forced (runbook).
    pub resend_run_date: NaiveDate,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingFile {
    pub deanery: String,
    pub kind: Kind,
    pub run_date: NaiveDate,
}

/// A file whose row and records' EXPORTED status committed, but whose upload never happened.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotUploadedFile {
    pub file_name: String,
    pub deanery: String,
    pub kind: Kind,
    pub created_at: DateTime<Utc>,
}

/// A file recorded this long ago and still not uploaded is a finding (an upload takes seconds).
pub const UPLOAD_GRACE_MINUTES: i64 = 10;

/// No watchdog query may take longer: each is bounded by an index, so one that does is stuck
/// (a lock, a sick database), and the watchdog fails rather than use up its 120 s timeout.
pub const STATEMENT_TIMEOUT_MS: u32 = 20_000;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchdogReport {
    pub as_of: NaiveDate,
    pub jobs: Vec<JobCheck>,
    pub esr_overdue: Vec<OverdueRecords>,
    pub esr_missing_files: Vec<MissingFile>,
    pub esr_not_uploaded: Vec<NotUploadedFile>,
    /// One line for the log and the console.
    pub summary: String,
}

/// The `Job Missed` event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobMissedDetail<'a> {
    job: JobName,
    as_of: NaiveDate,
    trigger: Trigger,
    follow_ups: bool,
    error: &'a str,
    started_again: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run_id: Option<uuid::Uuid>,
}

pub struct Watchdog<'a, C> {
    pub db: &'a Database,
    pub events: &'a EventPublisher,
    pub catch_up: &'a C,
    pub metrics: Option<&'a MetricsSink>,
    /// When each kind of ESR file is dispatched, as deployed: which run's files are due.
    pub dispatches: Dispatches,
    /// The jobs deployed (`Context::deployed_jobs`): only these can be missed.
    pub jobs: Vec<JobName>,
}

impl<C: CatchUp + Sync> Watchdog<'_, C> {
    /// Checks `as_of`'s jobs and the latest scheduled ESR runs before `now`, acts, and reports.
    pub async fn check(&self, as_of: NaiveDate, now: DateTime<Utc>) -> Result<WatchdogReport> {
        let session = self.db.connect("tis-sync:watchdog").await?;
        let client = &session.client;
        client
            .batch_execute(&format!("SET statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            .await
            .map_err(|e| Error::database("bounding the watchdog's queries", e))?;

        // Successes the bus never took are announced first: their follow-ups start from them.
        let announced = crate::runner::republish_unpublished(self.events, client).await;
        // The ledger's facts for each job, then the decision (sync_core::watch), then acting on it.
        let pauses = ledger::pauses(client).await?;
        let mut facts = Vec::new();
        for node in GRAPH.iter().filter(|n| self.jobs.contains(&n.job)) {
            let job = node.job;
            let paused = pauses.iter().find(|p| p.job == job).map(|pause| {
                format!("paused since {} ({})", pause.paused_at.format("%Y-%m-%d %H:%M UTC"), pause.reason)
            });
            facts.push(JobFacts {
                job,
                paused,
                live: ledger::live(client, job).await?.as_ref().map(run_facts),
                holder: ledger::lock_holder(client, job).await?.map(|holder| watch::Holder {
                    who: holder.who(),
                    // Real time held, whatever `now` the check is for; a run whose row is being
                    // written has just started.
                    held_for: holder.run_id.map(|_| {
                        holder
                            .started_at
                            .map(|started| (Utc::now() - started).to_std().unwrap_or_default())
                            .unwrap_or_default()
                    }),
                }),
                last_for_date: ledger::latest_for(client, job, as_of).await?.as_ref().map(run_facts),
                announced_now: announced.contains(&job),
            });
        }
        let mut checks = Vec::new();
        for (job, verdict) in watch::judge(as_of, &facts) {
            let left_alone = Some("left alone".to_string());
            let check = match verdict {
                Verdict::Ok { reason } => JobCheck { job, state: "ok", reason, action: None },
                Verdict::Running => JobCheck { job, state: "running", reason: None, action: left_alone },
                Verdict::Paused(since) => JobCheck { job, state: "paused", reason: Some(since), action: left_alone },
                Verdict::Held { paused } => {
                    let reason = Some(format!("follows {paused}, which is paused"));
                    JobCheck { job, state: "held", reason, action: left_alone }
                }
                Verdict::Stuck { holder } => {
                    let action = "left alone: no run can start while the lock is held; end the holder (runbook)";
                    self.announce_missed(job, as_of, &facts, &holder, false).await;
                    tracing::warn!(job = %job, as_of = %as_of, holder = %holder, "job stuck");
                    JobCheck { job, state: "stuck", reason: Some(holder), action: Some(action.into()) }
                }
                Verdict::Missed { reason, waits_for } => {
                    let action = match waits_for {
                        Some(p) if announced.contains(&p) => {
                            format!("follows {p}, whose success was announced just now: it starts from that event")
                        }
                        Some(p) => format!("follows {p}, which is missed, running or stuck"),
                        None => match self.catch_up.start(job, as_of).await {
                            Ok(done) => format!("started again ({done})"),
                            Err(e) => format!("could not start it again: {e}"),
                        },
                    };
                    self.announce_missed(job, as_of, &facts, &reason, waits_for.is_none()).await;
                    tracing::warn!(job = %job, as_of = %as_of, reason = %reason, action = %action, "job missed");
                    JobCheck { job, state: "missed", reason: Some(reason), action: Some(action) }
                }
            };
            checks.push(check);
        }
        checks.sort_by_key(|c| GRAPH.iter().position(|n| n.job == c.job));

        let mut esr_overdue = Vec::new();
        let mut esr_missing_files = Vec::new();
        for kind in [Kind::App, Kind::Notification] {
            let latest_run = self.dispatches.of(kind).latest_run(now);
            esr_overdue.extend(overdue_records(client, kind, latest_run).await?);
            esr_missing_files.extend(missing_files(client, kind, latest_run).await?);
        }
        let esr_not_uploaded = not_uploaded_files(client, now).await?;
        for f in &esr_not_uploaded {
            tracing::error!(file = %f.file_name, deanery = %f.deanery, kind = %f.kind, created_at = %f.created_at, "ESR file recorded but never uploaded: re-send its command");
        }
        let overdue_total: i64 = esr_overdue.iter().map(|o| o.records).sum();
        for o in &esr_overdue {
            tracing::error!(
                deanery = %o.deanery, kind = %o.kind, records = o.records, earliest_start_date = %o.earliest_start_date,
                resend_run_date = %o.resend_run_date,
                "ESR records left behind: no scheduled run will take them; re-send the run date, forced"
            );
        }
        for m in &esr_missing_files {
            tracing::error!(deanery = %m.deanery, kind = %m.kind, run_date = %m.run_date, "no ESR file for the scheduled run");
        }
        // A stuck job is missed too: nothing can run it until its holder goes.
        let missed: Vec<JobName> =
            checks.iter().filter(|c| c.state == "missed" || c.state == "stuck").map(|c| c.job).collect();
        let running = checks.iter().filter(|c| c.state == "running").count();
        if let Some(sink) = self.metrics {
            sink.watchdog(missed.len(), overdue_total.max(0) as u64, esr_missing_files.len(), esr_not_uploaded.len());
        }
        let paused = checks.iter().filter(|c| c.state == "paused").count();
        let summary = format!(
            "{as_of}: {} job(s) missed{}, {} running, {paused} paused; ESR: {overdue_total} record(s) overdue, {} file(s) missing, {} not uploaded",
            missed.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(" ({})", missed.iter().map(|j| j.as_str()).collect::<Vec<_>>().join(", "))
            },
            running,
            esr_missing_files.len(),
            esr_not_uploaded.len()
        );
        tracing::info!("{summary}");
        Ok(WatchdogReport { as_of, jobs: checks, esr_overdue, esr_missing_files, esr_not_uploaded, summary })
    }

    /// `Job Missed` for `job`, saying why (`error`) and whether it was started again.
    async fn announce_missed(
        &self,
        job: JobName,
        as_of: NaiveDate,
        facts: &[JobFacts],
        error: &str,
        started_again: bool,
    ) {
        let known = facts.iter().find(|f| f.job == job).expect("a verdict is on a job with facts");
        let detail = JobMissedDetail {
            job,
            as_of,
            trigger: Trigger::CatchUp,
            follow_ups: true,
            error,
            started_again,
            last_run_id: known.last_for_date.as_ref().or(known.live.as_ref()).map(|r| r.run_id),
        };
        if let Err(e) = self.events.publish(DetailType::JobMissed, &detail).await {
            tracing::error!(job = %job, error = %e, "could not announce a missed job");
        }
    }
}

/// The records of `kind` no run still to come will take (`esr::left_behind_before`), per
/// deanery. Bounded by the waiting records (the partial index `<table>_waiting`), however many
/// were ever exported.
pub async fn overdue_records(client: &Client, kind: Kind, latest_run: NaiveDate) -> Result<Vec<OverdueRecords>> {
    let rows = client
        .query(&overdue_records_sql(kind), &[&esr::left_behind_before(latest_run)])
        .await
        .map_err(|e| Error::database("looking for ESR records left behind", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let earliest_start_date: NaiveDate = r.get(2);
            OverdueRecords {
                deanery: r.get(0),
                kind,
                records: r.get(1),
                earliest_start_date,
                resend_run_date: esr::last_run_taking(earliest_start_date),
            }
        })
        .collect())
}

/// The query of `overdue_records` (its plan is tested at scale).
pub fn overdue_records_sql(kind: Kind) -> String {
    format!(
        "SELECT deanery, count(*), min(start_date) FROM {} WHERE status = 'TO_EXPORT' AND start_date < $1
         GROUP BY deanery ORDER BY deanery",
        records_table(kind)
    )
}

async fn not_uploaded_files(client: &Client, now: DateTime<Utc>) -> Result<Vec<NotUploadedFile>> {
    let rows = client
        .query(
            "SELECT file_name, deanery, kind, created_at FROM esr.export_file
             WHERE uploaded_at IS NULL AND created_at < $1::timestamptz - make_interval(mins => $2::int)
             ORDER BY created_at",
            &[&now, &(UPLOAD_GRACE_MINUTES as i32)],
        )
        .await
        .map_err(|e| Error::database("looking for ESR files never uploaded", e))?;
    rows.iter()
        .map(|r| {
            let kind: String = r.get("kind");
            Ok(NotUploadedFile {
                file_name: r.get("file_name"),
                deanery: r.get("deanery"),
                kind: kind.parse()?,
                created_at: r.get("created_at"),
            })
        })
        .collect()
}

async fn missing_files(client: &Client, kind: Kind, run_date: NaiveDate) -> Result<Vec<MissingFile>> {
    let rows = client
        .query(
            "SELECT d.code FROM esr.deanery d
             WHERE d.active AND NOT EXISTS (
                 SELECT 1 FROM esr.export_file f WHERE f.deanery = d.code AND f.kind = $1 AND f.run_date = $2)
             ORDER BY d.dispatch_order",
            &[&kind.as_str(), &run_date],
        )
        .await
        .map_err(|e| Error::database("looking for missing ESR files", e))?;
    Ok(rows.iter().map(|r| MissingFile { deanery: r.get(0), kind, run_date }).collect())
}

fn run_facts(run: &RunRecord) -> RunFacts {
    RunFacts { run_id: run.run_id, as_of: run.as_of, status: run.status, error: run.error.clone() }
}
