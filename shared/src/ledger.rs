//! The run ledger (`sync.job_run`) and the per-job lock.
//!
//! The lock is a session-level advisory lock keyed by the job name, held by the run's control
//! connection: it cannot outlive the run, because it goes when the connection goes. A ledger row
//! still `running` while nobody holds the lock belongs to a run whose process died (Lambda's
//! timeout, a panic, out of memory); the next run closes it as `abandoned`, `status` reports it
//! as abandoned, and a redelivery of its payload runs again instead of counting it as taken.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use crate::error::{Error, Result};
use sync_core::event::JobEventDetail;
use sync_core::JobName;
use sync_core::{RunStatus, Trigger};

/// `hashtextextended` of this plus the job name is the job's advisory lock key.
const LOCK_KEY_SQL: &str = "hashtextextended('tis-sync job ' || $1, 0)";

/// A status as the ledger holds it; anything else there is a conflict, not a failure.
fn parse_status(text: &str) -> Result<RunStatus> {
    text.parse().map_err(|_| Error::Conflict(format!("the run ledger holds an unknown status '{text}'")))
}

/// One ledger row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub run_id: Uuid,
    pub job: JobName,
    pub trigger: Trigger,
    pub as_of: NaiveDate,
    pub follow_ups: bool,
    pub delivery_key: Option<String>,
    pub correlation_id: Option<String>,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows: Option<i64>,
    pub attempts: i32,
    pub error: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub published_at: Option<DateTime<Utc>>,
    /// From start to finish, once finished.
    pub duration_ms: Option<u64>,
}

impl RunRecord {
    fn from_row(row: &Row) -> Result<RunRecord> {
        let job: String = row.get("job");
        let trigger: String = row.get("trigger");
        Ok(RunRecord {
            run_id: row.get("run_id"),
            job: job.parse()?,
            trigger: trigger.parse()?,
            as_of: row.get("as_of"),
            follow_ups: row.get("follow_ups"),
            delivery_key: row.get("delivery_key"),
            correlation_id: row.get("correlation_id"),
            status: parse_status(row.get("status"))?,
            started_at: row.get("started_at"),
            finished_at: row.get("finished_at"),
            rows: row.get("rows"),
            attempts: row.get("attempts"),
            error: row.get("error"),
            detail: row.get("detail"),
            published_at: row.get("published_at"),
            duration_ms: None,
        }
        .with_duration())
    }

    fn with_duration(mut self) -> Self {
        self.duration_ms = self.finished_at.map(|f| (f - self.started_at).num_milliseconds().max(0) as u64);
        self
    }

    /// The event detail this (finished) run publishes.
    pub fn event_detail(&self) -> JobEventDetail {
        let finished_at = self.finished_at.unwrap_or_else(Utc::now);
        JobEventDetail {
            job: self.job,
            run_id: self.run_id,
            trigger: self.trigger,
            as_of: self.as_of,
            follow_ups: self.follow_ups,
            started_at: self.started_at,
            finished_at,
            duration_ms: self.duration_ms.unwrap_or(0),
            rows: self.rows.unwrap_or(0).max(0) as u64,
            error: self.error.clone(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

fn db(context: &str) -> impl FnOnce(tokio_postgres::Error) -> Error + '_ {
    move |e| Error::database(context, e)
}

/// Takes the job's lock for this session if nobody holds it.
pub async fn try_lock(client: &Client, job: JobName) -> Result<bool> {
    let row = client
        .query_one(&format!("SELECT pg_try_advisory_lock({LOCK_KEY_SQL})"), &[&job.as_str()])
        .await
        .map_err(db("taking the job lock"))?;
    Ok(row.get(0))
}

pub async fn unlock(client: &Client, job: JobName) -> Result<()> {
    client
        .execute(&format!("SELECT pg_advisory_unlock({LOCK_KEY_SQL})"), &[&job.as_str()])
        .await
        .map_err(db("releasing the job lock"))?;
    Ok(())
}

/// Whether some session holds the job's lock (i.e. a run of it is in progress).
pub async fn is_locked(client: &Client, job: JobName) -> Result<bool> {
    Ok(lock_holder(client, job).await?.is_some())
}

/// `l` (a row of pg_locks) is a session's hold on the advisory lock of job `$1`.
const HOLDS: &str = "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('tis-sync job ' || $1, 0)";

/// What a run names its control connection once it holds its job's lock, so anyone can tell
/// which run holds it (`lock_holder`; `application_name` is visible to every role, and at most
/// 63 bytes long: the job is the lock's, the name is the run's).
pub fn holder_name(run_id: Uuid) -> String {
    format!("tis-sync run {run_id}")
}

/// The session holding a job's lock: its pid and name, the run it names (`holder_name`), and
/// when that run started (`None` while its ledger row is being written). `run_id` is `None` for
/// a session that is no run of ours (a lingering backend, a tool).
#[derive(Debug, Clone, PartialEq)]
pub struct LockHolder {
    pub pid: i32,
    pub application_name: String,
    pub run_id: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
}

impl LockHolder {
    /// Who it is, as people read it.
    pub fn who(&self) -> String {
        match (self.run_id, self.started_at) {
            (Some(run_id), Some(started_at)) => {
                format!("run {run_id} (started {}, pid {})", started_at.format("%Y-%m-%d %H:%M UTC"), self.pid)
            }
            (Some(run_id), None) => format!("run {run_id} (starting, pid {})", self.pid),
            (None, _) => format!("session '{}' (pid {})", self.application_name, self.pid),
        }
    }

    /// Whether it is the run `run_id`.
    pub fn is_run(&self, run_id: Uuid) -> bool {
        self.run_id == Some(run_id)
    }
}

pub async fn lock_holder(client: &Client, job: JobName) -> Result<Option<LockHolder>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT a.pid, coalesce(a.application_name, '') AS name, r.started_at
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 LEFT JOIN sync.job_run r ON r.job = $1 AND a.application_name = 'tis-sync run ' || r.run_id
                 WHERE {HOLDS}
                 LIMIT 1"
            ),
            &[&job.as_str()],
        )
        .await
        .map_err(db("reading who holds the job lock"))?;
    Ok(row.map(|row| {
        let name: String = row.get("name");
        LockHolder {
            pid: row.get("pid"),
            run_id: name.strip_prefix("tis-sync run ").and_then(|id| id.parse().ok()),
            application_name: name,
            started_at: row.get("started_at"),
        }
    }))
}

const COLUMNS: &str = "run_id, job, trigger, as_of, follow_ups, delivery_key, correlation_id, status,
    started_at, finished_at, rows, attempts, error, detail, published_at";

/// The run that already took this delivery, if it is running or succeeded. A `running` one may
/// belong to a dead process: the caller tells by the job's lock.
pub async fn delivered(client: &Client, job: JobName, delivery_key: &str) -> Result<Option<RunRecord>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM sync.job_run
                 WHERE job = $1 AND delivery_key = $2 AND status IN ('running', 'succeeded')
                 ORDER BY started_at DESC LIMIT 1"
            ),
            &[&job.as_str(), &delivery_key],
        )
        .await
        .map_err(db("reading the run ledger"))?;
    row.as_ref().map(RunRecord::from_row).transpose()
}

/// The newest run still marked running.
pub async fn running(client: &Client, job: JobName) -> Result<Option<RunRecord>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM sync.job_run WHERE job = $1 AND status = 'running'
                 ORDER BY started_at DESC LIMIT 1"
            ),
            &[&job.as_str()],
        )
        .await
        .map_err(db("reading the run ledger"))?;
    row.as_ref().map(RunRecord::from_row).transpose()
}

/// Why a run left `running` by a dead process was closed.
pub const ABANDONED: &str =
    "abandoned: the process running it ended before it finished (Lambda's timeout, a crash or out of memory)";

/// Closes as abandoned the runs left `running` by a process that died. Call only while holding
/// the job's lock: then no live run of the job exists.
pub async fn close_abandoned(client: &Client, job: JobName) -> Result<Vec<Uuid>> {
    let rows = client
        .query(
            "UPDATE sync.job_run SET status = 'abandoned', finished_at = now(), error = $2
             WHERE job = $1 AND status = 'running'
             RETURNING run_id",
            &[&job.as_str(), &ABANDONED],
        )
        .await
        .map_err(db("closing abandoned runs in the run ledger"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// One run, by id.
pub async fn run(client: &Client, run_id: Uuid) -> Result<Option<RunRecord>> {
    let row = client
        .query_opt(&format!("SELECT {COLUMNS} FROM sync.job_run WHERE run_id = $1"), &[&run_id])
        .await
        .map_err(db("reading the run ledger"))?;
    row.as_ref().map(RunRecord::from_row).transpose()
}

/// The run whose output is live now: the job's latest success to finish.
pub async fn live(client: &Client, job: JobName) -> Result<Option<RunRecord>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM sync.job_run WHERE job = $1 AND status = 'succeeded'
                 ORDER BY finished_at DESC LIMIT 1"
            ),
            &[&job.as_str()],
        )
        .await
        .map_err(db("reading the run ledger"))?;
    row.as_ref().map(RunRecord::from_row).transpose()
}

/// A paused job: its schedule, its predecessors' success and the watchdog do not start it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    pub job: JobName,
    pub reason: String,
    pub paused_at: DateTime<Utc>,
}

impl Pause {
    fn from_row(row: &Row) -> Result<Pause> {
        let job: String = row.get("job");
        Ok(Pause { job: job.parse()?, reason: row.get("reason"), paused_at: row.get("paused_at") })
    }
}

/// Pauses the job (again: the reason is replaced, the time kept).
pub async fn pause(client: &Client, job: JobName, reason: &str) -> Result<Pause> {
    let row = client
        .query_one(
            "INSERT INTO sync.job_pause (job, reason) VALUES ($1, $2)
             ON CONFLICT (job) DO UPDATE SET reason = EXCLUDED.reason
             RETURNING job, reason, paused_at",
            &[&job.as_str(), &reason],
        )
        .await
        .map_err(db("pausing the job"))?;
    Pause::from_row(&row)
}

/// Resumes the job; answers the pause it ended, if it was paused.
pub async fn resume(client: &Client, job: JobName) -> Result<Option<Pause>> {
    let row = client
        .query_opt("DELETE FROM sync.job_pause WHERE job = $1 RETURNING job, reason, paused_at", &[&job.as_str()])
        .await
        .map_err(db("resuming the job"))?;
    row.as_ref().map(Pause::from_row).transpose()
}

/// Every paused job.
pub async fn pauses(client: &Client) -> Result<Vec<Pause>> {
    let rows = client
        .query("SELECT job, reason, paused_at FROM sync.job_pause ORDER BY job", &[])
        .await
        .map_err(db("reading the paused jobs"))?;
    rows.iter().map(Pause::from_row).collect()
}

pub async fn paused(client: &Client, job: JobName) -> Result<Option<Pause>> {
    Ok(pauses(client).await?.into_iter().find(|p| p.job == job))
}

pub struct NewRun<'a> {
    pub run_id: Uuid,
    pub job: JobName,
    pub trigger: Trigger,
    pub as_of: NaiveDate,
    pub follow_ups: bool,
    pub delivery_key: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub status: RunStatus,
    pub error: Option<&'a str>,
}

/// Inserts the run; returns the record, or `None` when the delivery already has a running or
/// succeeded run (a duplicate that raced this one).
pub async fn insert(client: &Client, run: &NewRun<'_>) -> Result<Option<RunRecord>> {
    let finished = run.status != RunStatus::Running;
    let row = client
        .query_opt(
            &format!(
                "INSERT INTO sync.job_run
                   (run_id, job, trigger, as_of, follow_ups, delivery_key, correlation_id, status,
                    error, finished_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $10 THEN now() END)
                 ON CONFLICT (job, delivery_key)
                   WHERE delivery_key IS NOT NULL AND status IN ('running', 'succeeded')
                   DO NOTHING
                 RETURNING {COLUMNS}"
            ),
            &[
                &run.run_id,
                &run.job.as_str(),
                &run.trigger.as_str(),
                &run.as_of,
                &run.follow_ups,
                &run.delivery_key,
                &run.correlation_id,
                &run.status.as_str(),
                &run.error,
                &finished,
            ],
        )
        .await
        .map_err(db("recording the run in the ledger"))?;
    row.as_ref().map(RunRecord::from_row).transpose()
}

pub struct Finish<'a> {
    pub status: RunStatus,
    pub rows: Option<u64>,
    pub attempts: u32,
    pub error: Option<&'a str>,
    pub detail: Option<&'a serde_json::Value>,
}

pub async fn finish(client: &Client, run_id: Uuid, finish: &Finish<'_>) -> Result<RunRecord> {
    let row = client
        .query_one(
            &format!(
                "UPDATE sync.job_run
                 SET status = $2, finished_at = now(), rows = $3, attempts = $4, error = $5, detail = $6
                 WHERE run_id = $1
                 RETURNING {COLUMNS}"
            ),
            &[
                &run_id,
                &finish.status.as_str(),
                &finish.rows.map(|r| r as i64),
                &(finish.attempts as i32),
                &finish.error,
                &finish.detail,
            ],
        )
        .await
        .map_err(db("recording the run's outcome in the ledger"))?;
    RunRecord::from_row(&row)
}

/// Records that the run's event was accepted (`sync.mark_published`: the one write any job's
/// role, and the watchdog's, may make on another job's row).
pub async fn mark_published(client: &Client, run_id: Uuid) -> Result<()> {
    client
        .execute("SELECT sync.mark_published($1)", &[&run_id])
        .await
        .map_err(db("recording the published event in the ledger"))?;
    Ok(())
}

/// Successes whose `Job Succeeded` was never accepted and whose follow-ups have not run since:
/// each its job's live output, finished more than a minute ago (its own publish may be under
/// way) and within two days.
pub async fn unpublished_successes(client: &Client) -> Result<Vec<RunRecord>> {
    let (followers, leaders): (Vec<&str>, Vec<&str>) = sync_core::graph::GRAPH
        .iter()
        .flat_map(|node| node.follow_ups.iter().map(move |f| (f.as_str(), node.job.as_str())))
        .unzip();
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM sync.job_run r
                 WHERE r.status = 'succeeded' AND r.published_at IS NULL AND r.follow_ups
                   AND r.finished_at < now() - interval '1 minute' AND r.finished_at > now() - interval '2 days'
                   AND NOT EXISTS (SELECT 1 FROM sync.job_run newer
                                   WHERE newer.job = r.job AND newer.status = 'succeeded' AND newer.finished_at > r.finished_at)
                   AND EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS edge (follower, leader)
                               WHERE edge.leader = r.job
                                 AND NOT EXISTS (SELECT 1 FROM sync.job_run f
                                                 WHERE f.job = edge.follower AND f.as_of = r.as_of AND f.started_at > r.finished_at))
                 ORDER BY r.finished_at"
            ),
            &[&followers, &leaders],
        )
        .await
        .map_err(db("looking for successes never announced"))?;
    rows.iter().map(RunRecord::from_row).collect()
}

/// Per job: its newest run, its newest successful run, whether a run holds its lock now, the
/// as-of date of the output live now, and its pause.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub job: JobName,
    pub running_now: bool,
    /// A `running` row whose process died shows as `abandoned` here, before the next run
    /// closes it.
    pub last_run: Option<RunRecord>,
    pub last_success: Option<RunRecord>,
    /// The as-of date of the latest success to finish: what readers see now.
    pub live_as_of: Option<NaiveDate>,
    pub paused: Option<Pause>,
}

pub async fn status(client: &Client) -> Result<Vec<JobStatus>> {
    let mut statuses = Vec::new();
    let pauses = pauses(client).await?;
    for job in JobName::ALL {
        let last = |filter: &'static str| {
            format!("SELECT {COLUMNS} FROM sync.job_run WHERE job = $1 {filter} ORDER BY started_at DESC LIMIT 1")
        };
        let last_run = client.query_opt(&last(""), &[&job.as_str()]).await.map_err(db("reading the run ledger"))?;
        let last_success = client
            .query_opt(&last("AND status = 'succeeded'"), &[&job.as_str()])
            .await
            .map_err(db("reading the run ledger"))?;
        let holder = lock_holder(client, job).await?;
        let running_now = holder.is_some();
        let mut last_run = last_run.as_ref().map(RunRecord::from_row).transpose()?;
        if let Some(run) = last_run.as_mut() {
            show_abandoned(run, holder.as_ref());
        }
        statuses.push(JobStatus {
            job,
            running_now,
            last_run,
            last_success: last_success.as_ref().map(RunRecord::from_row).transpose()?,
            live_as_of: live(client, job).await?.map(|run| run.as_of),
            paused: pauses.iter().find(|p| p.job == job).cloned(),
        });
    }
    Ok(statuses)
}

/// A `running` row whose run does not hold its job's lock belongs to a process that died
/// (whoever else may hold the lock): show it as `abandoned`, as the next run will record it.
fn show_abandoned(run: &mut RunRecord, holder: Option<&LockHolder>) {
    let holds = holder.is_some_and(|h| h.is_run(run.run_id));
    if run.status == RunStatus::Running && !holds {
        run.status = RunStatus::Abandoned;
        run.error = Some(format!("{ABANDONED}; closed by the next run"));
    }
}

/// The ledger's history, newest first: the last `limit` runs of `job`, or of every job.
pub async fn history(client: &Client, job: Option<JobName>, limit: i64) -> Result<Vec<RunRecord>> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM sync.job_run WHERE $1::text IS NULL OR job = $1
                 ORDER BY started_at DESC, run_id LIMIT $2"
            ),
            &[&job.map(JobName::as_str), &limit],
        )
        .await
        .map_err(db("reading the run ledger"))?;
    let mut runs = rows.iter().map(RunRecord::from_row).collect::<Result<Vec<_>>>()?;
    for run in runs.iter_mut().filter(|run| run.status == RunStatus::Running) {
        let holder = lock_holder(client, run.job).await?;
        show_abandoned(run, holder.as_ref());
    }
    Ok(runs)
}

/// The newest successful run of `job` for the as-of date.
pub async fn succeeded_for(client: &Client, job: JobName, as_of: NaiveDate) -> Result<Option<RunRecord>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM sync.job_run
                 WHERE job = $1 AND as_of = $2 AND status = 'succeeded'
                 ORDER BY finished_at DESC LIMIT 1"
            ),
            &[&job.as_str(), &as_of],
        )
        .await
        .map_err(db("reading the run ledger"))?;
    row.as_ref().map(RunRecord::from_row).transpose()
}

/// The newest run of `job` for the as-of date, whatever its outcome.
pub async fn latest_for(client: &Client, job: JobName, as_of: NaiveDate) -> Result<Option<RunRecord>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM sync.job_run WHERE job = $1 AND as_of = $2 ORDER BY started_at DESC LIMIT 1"
            ),
            &[&job.as_str(), &as_of],
        )
        .await
        .map_err(db("reading the run ledger"))?;
    row.as_ref().map(RunRecord::from_row).transpose()
}

/// The latest as-of date `job` has succeeded for (what the feeds catch up from).
pub async fn last_succeeded_as_of(client: &Client, job: JobName) -> Result<Option<NaiveDate>> {
    let row = client
        .query_one("SELECT max(as_of) FROM sync.job_run WHERE job = $1 AND status = 'succeeded'", &[&job.as_str()])
        .await
        .map_err(db("reading the run ledger"))?;
    Ok(row.get(0))
}
