//! The one runner every job goes through: ledger row, one run at a time, bounded retries of
//! transient database errors, atomic output, events, and duplicate deliveries recognised.
//!
//! A run uses two connections. The control connection holds the job's advisory lock and writes
//! the ledger; the work connection runs the job's transaction. A lost work connection is retried
//! on a new one without giving up the lock; a lost control connection stops the run, because the
//! lock went with it.

pub mod follow_ups;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tracing::Instrument;
use uuid::Uuid;

use crate::db::{is_transient_error, retry_transient, Database, Session};
use crate::deadline::Deadline;
use crate::emf::{JobRunMetrics, MetricsSink};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use sync_core::event::DetailType;
use sync_core::graph::{self, FanIn, Predecessor};
use sync_core::{JobName, RunStatus, Trigger};

use crate::events::EventPublisher;
use crate::jobs::{self, reval_feed::RevalFeed};
use crate::ledger::{self, Finish, NewRun, RunRecord};
use crate::search::Search;
use follow_ups::{ByEventBridge, FollowUps};

/// The predecessor run a follow-up says it follows (from its `Job Succeeded` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub job: JobName,
    pub run_id: Uuid,
}

impl After {
    /// A follow-up's delivery is identified by the run it follows.
    pub fn delivery_key(&self) -> String {
        format!("after:{}", self.run_id)
    }
}

/// One request to run a job.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub job: JobName,
    pub trigger: Trigger,
    pub as_of: NaiveDate,
    pub follow_ups: bool,
    /// Identifies what delivered the request (a schedule's scheduled time, a predecessor's run),
    /// so a repeated delivery is not run twice. `None` for manual runs.
    pub delivery_key: Option<String>,
    /// For a follow-up: the run it follows, checked against the ledger before anything runs.
    pub after: Option<After>,
    pub correlation_id: Option<String>,
    /// When the run must have stopped by (the invocation's); `None`: no limit (the CLI).
    pub deadline: Option<Deadline>,
}

impl RunRequest {
    /// `job` as a follow-up of the run `after`, for its date: what a `Job Succeeded` event's
    /// rule delivers (which adds the delivery's key), and what the CLI runs in process.
    pub fn follow_up(job: JobName, after: After, as_of: NaiveDate, correlation_id: Option<String>) -> Self {
        RunRequest {
            job,
            trigger: Trigger::FollowUp,
            as_of,
            follow_ups: true,
            delivery_key: None,
            after: Some(after),
            correlation_id,
            deadline: None,
        }
    }

    /// A manual run for today's UTC date, with follow-ups.
    pub fn manual(job: JobName) -> Self {
        RunRequest {
            job,
            trigger: Trigger::Manual,
            as_of: Utc::now().date_naive(),
            follow_ups: true,
            delivery_key: None,
            after: None,
            correlation_id: None,
            deadline: None,
        }
    }
}

/// How a run ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    /// Not run now: a follow-up waiting for a predecessor, or a paused job (the reason is in
    /// the warnings and the ledger).
    Deferred,
    /// A repeated delivery, or a follow-up whose output is already up to date: the run that
    /// already did the work is reported, nothing ran again.
    Duplicate,
}

/// The answer of a run (the function's response, the CLI's output).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub job: JobName,
    pub run_id: Uuid,
    pub status: Outcome,
    pub trigger: Trigger,
    pub as_of: NaiveDate,
    pub follow_ups: bool,
    pub rows: u64,
    pub duration_ms: u64,
    pub started_at: DateTime<Utc>,
    pub attempts: u32,
    /// The follow-ups this run started (`follow_ups`): through its published `Job
    /// Succeeded` event, or queued in this process. Empty when it asked for none, or when there
    /// was no bus to publish the event on.
    pub triggered: Vec<JobName>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

impl RunSummary {
    fn from_record(record: &RunRecord, status: Outcome) -> Self {
        RunSummary {
            job: record.job,
            run_id: record.run_id,
            status,
            trigger: record.trigger,
            as_of: record.as_of,
            follow_ups: record.follow_ups,
            rows: record.rows.unwrap_or(0).max(0) as u64,
            duration_ms: record.duration_ms.unwrap_or(0),
            started_at: record.started_at,
            attempts: record.attempts.max(0) as u32,
            triggered: Vec::new(),
            warnings: Vec::new(),
            detail: record.detail.clone().unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The fan-in rule (`graph::fan_in`) over the ledger: each predecessor's state for the date and
/// the job's own latest success for it (returned when the job is up to date).
async fn fan_in(control: &Session, job: JobName, as_of: NaiveDate) -> Result<(FanIn, Option<RunRecord>)> {
    let predecessors = graph::predecessors(job);
    if predecessors.len() < 2 {
        return Ok((FanIn::Ready, None));
    }
    let mut states = Vec::new();
    for predecessor in predecessors {
        let state = if ledger::is_locked(&control.client, predecessor).await? {
            Predecessor::Running
        } else {
            match ledger::succeeded_for(&control.client, predecessor, as_of).await? {
                None => Predecessor::NotSucceeded,
                Some(run) => Predecessor::SucceededAt(run.finished_at.unwrap_or(run.started_at)),
            }
        };
        states.push((predecessor, state));
    }
    let own = ledger::succeeded_for(&control.client, job, as_of).await?;
    Ok((graph::fan_in(as_of, &states, own.as_ref().map(|r| r.started_at)), own))
}

/// Checks a follow-up's claim against the ledger: the run it names must be a succeeded run of a
/// real predecessor, for the same as-of date, that asked for follow-ups. Anything else (a forged
/// or stray `Job Succeeded`) is refused, naming what did not match, and nothing runs.
/// Checks a follow-up's event against the ledger: a forged or stray one is an error (nothing
/// runs); a stale one, whose predecessor has succeeded again since, answers why it is not
/// followed (the caller defers it: its successor's own event starts the job).
async fn verify_follow_up(control: &Session, request: &RunRequest, after: After) -> Result<Option<String>> {
    let job = request.job;
    let mismatch = if !graph::predecessors(job).contains(&after.job) {
        Some(format!("{} is not a predecessor of {job} in the job graph", after.job))
    } else {
        match ledger::run(&control.client, after.run_id).await? {
            None => Some(format!("the run ledger has no run {}", after.run_id)),
            Some(run) if run.job != after.job => {
                Some(format!("run {} is a run of {}, not of {}", after.run_id, run.job, after.job))
            }
            Some(run) if run.status != RunStatus::Succeeded => {
                Some(format!("run {} of {} is {}, not succeeded", after.run_id, after.job, run.status.as_str()))
            }
            Some(run) if run.as_of != request.as_of => Some(format!(
                "run {} of {} was as of {}, the event says {}",
                after.run_id, after.job, run.as_of, request.as_of
            )),
            Some(run) if !run.follow_ups => {
                Some(format!("run {} of {} asked for no follow-ups", after.run_id, after.job))
            }
            // A stale event (delivered again, or redriven, after its predecessor succeeded again)
            // would put an older output live: only the predecessor's live run is followed.
            Some(run) => {
                return Ok(match ledger::live(&control.client, after.job).await? {
                    Some(live) if live.run_id != run.run_id => Some(format!(
                        "run {} of {} is no longer its live output: run {} (as of {}) succeeded since, and its own \
                         event starts {job}",
                        after.run_id, after.job, live.run_id, live.as_of
                    )),
                    _ => None,
                })
            }
        }
    };
    match mismatch {
        None => Ok(None),
        Some(mismatch) => {
            tracing::error!(job = %job, claimed_job = %after.job, claimed_run_id = %after.run_id, as_of = %request.as_of, "follow-up event rejected: {mismatch}");
            Err(Error::InvalidInput(format!("follow-up event rejected, nothing ran: {mismatch}")))
        }
    }
}

fn deadline_error(job: JobName) -> Error {
    Error::Deadline { job: job.to_string(), during: "its work".into() }
}

/// Whether Postgres cancelled the statement (57014: `statement_timeout`).
fn cancelled_by_timeout(error: &Error) -> bool {
    matches!(error, Error::Database { source, .. } if source.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED))
}

/// `work`, failed as the deadline if it has not ended by the invocation's `end`.
async fn bounded<T>(
    deadline: Option<Deadline>,
    job: JobName,
    during: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    crate::deadline::by(deadline.map(|d| d.end), job.as_str(), || during.to_string(), work).await
}

/// Resolves at `at`, or never.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Publishes again each success whose `Job Succeeded` was never accepted (publishing kept
/// failing through Lambda's retries) while its follow-ups have not run, so they start now
/// rather than at the watchdog's catch-up; answers the jobs announced. A sweep: a failure is
/// logged, never a reason to fail the caller. With no bus there is nothing to do.
pub async fn republish_unpublished(events: &EventPublisher, client: &tokio_postgres::Client) -> Vec<JobName> {
    if !events.is_enabled() {
        return Vec::new();
    }
    let runs = match ledger::unpublished_successes(client).await {
        Ok(runs) => runs,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for successes never announced");
            return Vec::new();
        }
    };
    let mut announced = Vec::new();
    for run in runs {
        let published = async {
            events.publish(DetailType::JobSucceeded, &run.event_detail()).await?;
            ledger::mark_published(client, run.run_id).await
        };
        match published.await {
            Ok(()) => {
                tracing::warn!(job = %run.job, run_id = %run.run_id, as_of = %run.as_of, "a success never announced was announced now: its follow-ups start");
                announced.push(run.job);
            }
            Err(e) => {
                tracing::warn!(job = %run.job, run_id = %run.run_id, error = %e, "could not announce a success again")
            }
        }
    }
    announced
}

pub struct Runner {
    db: Database,
    events: EventPublisher,
    search: Option<Search>,
    reval: Option<RevalFeed>,
    retry: RetryPolicy,
    follow_ups: Arc<dyn FollowUps>,
    metrics: Option<MetricsSink>,
}

impl Runner {
    pub fn new(db: Database, events: EventPublisher) -> Self {
        Runner {
            db,
            follow_ups: Arc::new(ByEventBridge::on(&events)),
            events,
            search: None,
            reval: None,
            retry: RetryPolicy::default(),
            metrics: None,
        }
    }

    /// Each run's metrics go to `sink` (EMF).
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = Some(sink);
        self
    }

    /// Who starts each succeeded run's follow-ups (by default the bus's rules, from its event).
    pub fn with_follow_ups(mut self, follow_ups: Arc<dyn FollowUps>) -> Self {
        self.follow_ups = follow_ups;
        self
    }

    pub fn with_search(mut self, search: Search) -> Self {
        self.search = Some(search);
        self
    }

    pub fn with_reval_feed(mut self, feed: RevalFeed) -> Self {
        self.reval = Some(feed);
        self
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs one job (not its follow-ups). A failed run is an `Err` (after it has been recorded
    /// in the ledger and announced with `Job Failed`), so Lambda's retry and on-failure
    /// destination see it.
    pub async fn run(&self, request: RunRequest) -> Result<RunSummary> {
        let job = request.job;
        let control_name = format!("tis-sync:{job}");
        let (control, _) =
            retry_transient(self.retry, "connecting the control connection", |_| self.db.connect(&control_name)).await;
        let mut control = control?;

        let mut warnings = Vec::new();
        if let Some(pause) = ledger::paused(&control.client, job).await? {
            let since = format!("paused since {} ({})", pause.paused_at.format("%Y-%m-%d %H:%M UTC"), pause.reason);
            if request.trigger != Trigger::Manual {
                return self
                    .defer(&control, &request, format!("{since}: not started by its {}", request.trigger))
                    .await;
            }
            warnings.push(format!("{job} is {since}; it ran because it was started by hand"));
        }

        // Any success the bus never took (this job's or another's) is announced again first.
        republish_unpublished(&self.events, &control.client).await;

        if let Some(key) = &request.delivery_key {
            if let Some(prior) = ledger::delivered(&control.client, job, key).await? {
                // A `running` row whose run does not hold the lock is a run whose process died
                // (Lambda's timeout, a crash), whoever else may hold it now (a CLI run, a
                // lingering session): its delivery was never done, so it runs again.
                let holder = ledger::lock_holder(&control.client, job).await?;
                let alive = holder.is_some_and(|h| h.is_run(prior.run_id));
                let dead = prior.status == RunStatus::Running && !alive;
                if !dead {
                    return self.repeated_delivery(&control, prior).await;
                }
                tracing::warn!(job = %job, run_id = %prior.run_id, delivery = %key, "the run that took this delivery died before it finished: running it again");
            }
        }

        if let Some(after) = request.after {
            if let Some(stale) = verify_follow_up(&control, &request, after).await? {
                return self.defer(&control, &request, format!("a stale event: {stale}")).await;
            }
        }

        match fan_in(&control, job, request.as_of).await? {
            (FanIn::Ready, _) => {}
            (FanIn::UpToDate, Some(done)) if request.trigger == Trigger::FollowUp => {
                let mut summary = RunSummary::from_record(&done, Outcome::Duplicate);
                summary.warnings.push(format!(
                    "run {} already built it for {} after its predecessors' latest runs",
                    done.run_id, request.as_of
                ));
                return Ok(summary);
            }
            (FanIn::UpToDate, _) => {}
            (FanIn::Waiting(waiting), _) if request.trigger == Trigger::FollowUp => {
                let reason = format!("waiting for {}", waiting.join("; "));
                return self.defer(&control, &request, reason).await;
            }
            (FanIn::Waiting(waiting), _) => {
                for reason in waiting {
                    warnings.push(format!("started by hand although {reason}"));
                }
            }
        }
        // A domain in the middle of a configuration change: wait a while, then defer (the
        // watchdog starts the job again), rather than rebuild against a slowed, throttling domain.
        if let Some(domain) =
            self.search.as_ref().and_then(|s| s.domain.as_ref()).filter(|_| jobs::rebuilds_an_index(job))
        {
            let deadline = request.deadline;
            if let Some(reason) = domain.ready_for_rebuild(|| deadline.map(|d| d.work_time_left())).await? {
                return self.defer(&control, &request, reason).await;
            }
        }
        let today = Utc::now().date_naive();
        if request.as_of != today {
            warnings.push(format!("as of {}, not today ({today})", request.as_of));
        }
        for warning in &warnings {
            tracing::warn!(job = %job, "{warning}");
        }

        if !ledger::try_lock(&control.client, job).await? {
            return Err(self.already_running(&control, job).await);
        }
        for run_id in ledger::close_abandoned(&control.client, job).await? {
            tracing::warn!(job = %job, run_id = %run_id, "closed a run left running by a process that died: {}", ledger::ABANDONED);
        }

        let run_id = Uuid::new_v4();
        // Its session, ended if it stops answering while the outcome is recorded elsewhere.
        let control_pid: i32 = control
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(|e| Error::database("reading the control session's pid", e))?
            .get(0);
        // Whoever looks at the lock can now tell which run holds it (`ledger::lock_holder`).
        // The name is made of a UUID: never input.
        control
            .client
            .batch_execute(&format!("SET application_name = '{}'", ledger::holder_name(run_id)))
            .await
            .map_err(|e| Error::database("naming the run's session", e))?;

        let new_run = NewRun {
            run_id,
            job,
            trigger: request.trigger,
            as_of: request.as_of,
            follow_ups: request.follow_ups,
            delivery_key: request.delivery_key.as_deref(),
            correlation_id: request.correlation_id.as_deref(),
            status: RunStatus::Running,
            error: None,
        };
        let Some(record) = ledger::insert(&control.client, &new_run).await? else {
            // The same delivery succeeded between our check and our lock: report that run.
            ledger::unlock(&control.client, job).await?;
            let key = request.delivery_key.as_deref().unwrap_or_default();
            let prior = ledger::delivered(&control.client, job, key).await?;
            return match prior {
                Some(prior) => self.repeated_delivery(&control, prior).await,
                None => Err(Error::Conflict(format!("delivery {key} of {job} vanished from the ledger"))),
            };
        };
        let span = tracing::info_span!(
            "job_run",
            job = %job,
            runId = %run_id,
            trigger = %request.trigger,
            asOf = %request.as_of,
            correlationId = request.correlation_id.as_deref().unwrap_or(""),
        );
        async move {
            tracing::info!("run started");
            let clock = Instant::now();
            let attempts_made = AtomicU32::new(0);
            let deadline = request.deadline;
            let outcome = tokio::select! {
                result = self.attempts(job, request.as_of, run_id, deadline, &attempts_made) => result,
                _ = control.closed() => Err(Error::LockLost { job: job.to_string() }),
                // The work is dropped here: its connection closes and Postgres rolls it back.
                _ = until(deadline.map(|d| d.stop)) => Err(deadline_error(job)),
            };
            let attempts = attempts_made.load(Ordering::Relaxed);
            let mut summary =
                self.finish(control, control_pid, deadline, record, outcome, attempts, clock.elapsed()).await?;
            summary.warnings.extend(warnings);
            Ok(summary)
        }
        .instrument(span)
        .await
    }

    /// Runs the job until it succeeds or fails for good, each attempt on a fresh work connection
    /// whose statements end by the deadline.
    async fn attempts(
        &self,
        job: JobName,
        as_of: NaiveDate,
        run_id: Uuid,
        deadline: Option<Deadline>,
        attempts_made: &AtomicU32,
    ) -> Result<jobs::JobOutput> {
        let context =
            jobs::JobContext { as_of, run_id, search: self.search.as_ref(), reval: self.reval.as_ref(), deadline };
        let context = &context;
        let (outcome, _) = retry_transient(self.retry, job.as_str(), |attempt| async move {
            attempts_made.store(attempt, Ordering::Relaxed);
            if deadline.is_some_and(|d| d.work_expired()) {
                return Err(deadline_error(job));
            }
            let mut work = self.db.connect(&format!("tis-sync:{job}:work")).await?;
            if attempt > 1 {
                tracing::info!(attempt, "retrying the run");
            }
            if let Some(deadline) = deadline {
                // An integer of milliseconds, computed here: never input.
                let timeout = format!("SET statement_timeout = {}", deadline.work_time_left().as_millis());
                work.client
                    .batch_execute(&timeout)
                    .await
                    .map_err(|e| Error::database("setting statement_timeout", e))?;
            }
            jobs::execute(job, &mut work.client, context).await.map_err(|error| match deadline {
                // Ours is the only statement_timeout set: a statement it cancelled near the stop
                // is the deadline (an operator's pg_cancel_backend has the same SQLSTATE).
                Some(deadline)
                    if cancelled_by_timeout(&error) && deadline.work_time_left() < Duration::from_millis(500) =>
                {
                    deadline_error(job)
                }
                _ => error,
            })
        })
        .await;
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        control: Session,
        control_pid: i32,
        deadline: Option<Deadline>,
        record: RunRecord,
        outcome: Result<jobs::JobOutput>,
        attempts: u32,
        elapsed: Duration,
    ) -> Result<RunSummary> {
        let job = record.job;
        let error_text = outcome.as_ref().err().map(|e| e.to_string());
        let finish = match &outcome {
            Ok(output) => Finish {
                status: RunStatus::Succeeded,
                rows: Some(output.rows),
                attempts,
                error: None,
                detail: Some(&output.detail),
            },
            Err(_) => {
                Finish { status: RunStatus::Failed, rows: None, attempts, error: error_text.as_deref(), detail: None }
            }
        };
        if outcome.is_ok() {
            crate::crash_point::reached(&format!("work-committed.{job}"));
        }
        let (control, finished) = self.record_outcome(control, control_pid, deadline, &record, &finish).await?;
        if let Some(sink) = &self.metrics {
            sink.job_run(&JobRunMetrics {
                job: job.as_str(),
                run_id: finished.run_id,
                trigger: finished.trigger.as_str(),
                correlation_id: finished.correlation_id.as_deref(),
                as_of: finished.as_of,
                duration_ms: elapsed.as_millis() as u64,
                rows: finished.rows.unwrap_or(0).max(0) as u64,
                succeeded: outcome.is_ok(),
            });
        }
        // Release the lock before announcing the result: a follow-up started by the event must
        // see this run finished.
        let _ = ledger::unlock(&control.client, job).await;

        match outcome {
            Ok(_) => {
                tracing::info!(
                    rows = finished.rows.unwrap_or(0),
                    attempts,
                    duration_ms = elapsed.as_millis() as u64,
                    "run succeeded"
                );
                bounded(
                    deadline,
                    job,
                    "announcing the success",
                    self.announce(&control, &finished, DetailType::JobSucceeded),
                )
                .await?;
                let mut summary = RunSummary::from_record(&finished, Outcome::Succeeded);
                summary.triggered = self.follow_ups_started(&finished);
                Ok(summary)
            }
            Err(error) => {
                tracing::error!(error = %error, attempts, "run failed");
                let announced = bounded(
                    deadline,
                    job,
                    "announcing the failure",
                    self.announce(&control, &finished, DetailType::JobFailed),
                );
                if let Err(publish_error) = announced.await {
                    tracing::error!(error = %publish_error, "could not announce the failure");
                }
                Err(Error::JobFailed { job: job.to_string(), run_id: finished.run_id, reason: error.to_string() })
            }
        }
    }

    /// Records the outcome on the control connection; if that connection is lost, or does not
    /// answer within half the time left (a network black hole, which TCP may take minutes to
    /// notice), on a new one, ending the old session so the job's lock goes with it. Within the
    /// invocation's deadline, whatever happens.
    async fn record_outcome(
        &self,
        control: Session,
        control_pid: i32,
        deadline: Option<Deadline>,
        record: &RunRecord,
        finish: &Finish<'_>,
    ) -> Result<(Session, RunRecord)> {
        let job = record.job;
        // A connection that stopped answering may live on at the server, still holding the
        // job's lock; a closed one let it go, and another run may hold it now.
        let still_holds_the_lock = !control.client.is_closed();
        if !control.client.is_closed() {
            let recorded = ledger::finish(&control.client, record.run_id, finish);
            let answer = match deadline {
                Some(deadline) => tokio::time::timeout(deadline.reply_wait(), recorded).await.ok(),
                None => Some(recorded.await),
            };
            match answer {
                Some(Ok(finished)) => return Ok((control, finished)),
                Some(Err(e)) if !control.client.is_closed() && !is_transient_error(&e) => return Err(e),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the control connection failed: recording the outcome on a new one")
                }
                None => tracing::warn!("the control connection stopped answering: recording the outcome on a new one"),
            }
        }
        let recorded = async {
            let control_name = format!("tis-sync:{job}");
            let (session, _) =
                retry_transient(self.retry, "reconnecting to record the outcome", |_| self.db.connect(&control_name))
                    .await;
            let session = session?;
            // The old sessions may live on at the server, the work's holding its rows and the
            // control's the job's lock: end them, the work's first, and only while the old
            // control still holds the lock (so no other run's work can be among them).
            let work_name = still_holds_the_lock.then(|| format!("tis-sync:{job}:work"));
            let ended = session
                .client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND (application_name = $1 OR pid = $2)
                     ORDER BY pid = $2",
                    &[&work_name, &control_pid],
                )
                .await;
            if let Err(e) = ended {
                tracing::warn!(error = %e, pid = control_pid, "could not end the run's old sessions");
            }
            let finished = ledger::finish(&session.client, record.run_id, finish).await?;
            Ok((session, finished))
        };
        bounded(deadline, job, "recording the outcome", recorded).await
    }

    /// Starts the follow-ups of a succeeded run whose success was just announced, if it asked
    /// for them: the one place they are decided. Answers those started.
    fn follow_ups_started(&self, run: &RunRecord) -> Vec<JobName> {
        if run.follow_ups {
            self.follow_ups.start(run, graph::follow_ups(run.job))
        } else {
            Vec::new()
        }
    }

    /// Publishes the run's event and records that it was accepted.
    async fn announce(&self, control: &Session, record: &RunRecord, detail_type: DetailType) -> Result<()> {
        let mut detail = record.event_detail();
        detail.follow_ups = record.follow_ups && self.follow_ups.started_by_the_event();
        self.events.publish(detail_type, &detail).await?;
        crate::crash_point::reached(&format!("published.{}", record.job));
        if self.events.is_enabled() {
            ledger::mark_published(&control.client, record.run_id).await?;
        }
        Ok(())
    }

    /// A delivery already taken: report the run that took it, re-sending its success event if
    /// the first attempt to publish it failed (otherwise its follow-ups would never start).
    async fn repeated_delivery(&self, control: &Session, prior: RunRecord) -> Result<RunSummary> {
        tracing::info!(
            job = %prior.job,
            run_id = %prior.run_id,
            status = prior.status.as_str(),
            delivery = prior.delivery_key.as_deref().unwrap_or(""),
            "repeated delivery: not running again"
        );
        let mut summary = RunSummary::from_record(&prior, Outcome::Duplicate);
        if prior.status == RunStatus::Succeeded && prior.published_at.is_none() && self.events.is_enabled() {
            self.announce(control, &prior, DetailType::JobSucceeded).await?;
            summary.triggered = self.follow_ups_started(&prior);
        }
        summary.warnings.push(format!(
            "this delivery was already taken by run {} ({})",
            prior.run_id,
            prior.status.as_str()
        ));
        Ok(summary)
    }

    /// Records a run that does not happen now and announces it with `Job Deferred`: a follow-up
    /// waiting for a predecessor (whose own success will trigger it again), a paused job, or an
    /// index job whose domain stayed busy (the watchdog starts it again).
    async fn defer(&self, control: &Session, request: &RunRequest, why: String) -> Result<RunSummary> {
        let reason = format!("deferred: {why}");
        tracing::info!(job = %request.job, as_of = %request.as_of, "{reason}");
        let run = NewRun {
            run_id: Uuid::new_v4(),
            job: request.job,
            trigger: request.trigger,
            as_of: request.as_of,
            follow_ups: request.follow_ups,
            delivery_key: request.delivery_key.as_deref(),
            correlation_id: request.correlation_id.as_deref(),
            status: RunStatus::Deferred,
            error: Some(&reason),
        };
        let record =
            ledger::insert(&control.client, &run).await?.expect("a deferred run never conflicts with a delivery");
        self.announce(control, &record, DetailType::JobDeferred).await?;
        let mut summary = RunSummary::from_record(&record, Outcome::Deferred);
        summary.warnings.push(reason);
        Ok(summary)
    }

    /// Who holds the job's lock, as an error: the run holding it, or the session that names no
    /// run (after a moment: a run names itself just after taking the lock).
    async fn already_running(&self, control: &Session, job: JobName) -> Error {
        let mut last = None;
        for _ in 0..20 {
            match ledger::lock_holder(&control.client, job).await {
                Ok(Some(ledger::LockHolder { run_id: Some(run_id), started_at: Some(since), .. })) => {
                    return Error::AlreadyRunning { job: job.to_string(), since, run_id }
                }
                Ok(holder) => last = holder,
                Err(e) => return e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let holder = last.map(|h| h.who()).unwrap_or_else(|| "a session that has since let it go".into());
        Error::LockHeld { job: job.to_string(), holder }
    }
}
