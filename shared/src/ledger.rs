//! The run ledger (`sync.job_run`) and the per-job lock.
//!
//! The lock is a session-level advisory lock keyed by the job name, held by the run's control
//! connection: it cannot outlive the run, because it goes when the connection goes. A ledger row
//! still `running` while nobody holds the lock belongs to a run whose process died; the next run
//! marks it failed, and `status` reports it as not running.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::events::JobEventDetail;
use crate::jobs::JobName;
use crate::runner::Trigger;

/// `hashtextextended` of this plus the job name is the job's advisory lock key.
const LOCK_KEY_SQL: &str = "hashtextextended('tis-sync job ' || $1, 0)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Deferred,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Deferred => "deferred",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "deferred" => RunStatus::Deferred,
            _ => RunStatus::Failed,
        }
    }
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
            status: RunStatus::parse(row.get("status")),
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
    let row =
        client.query_one(&format!("SELECT {HELD_SQL}"), &[&job.as_str()]).await.map_err(db("reading the job lock"))?;
    Ok(row.get(0))
}

/// True when some session of this database holds the advisory lock of job `$1`.
const HELD_SQL: &str = "EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('tis-sync job ' || $1, 0))";

const COLUMNS: &str = "run_id, job, trigger, as_of, follow_ups, delivery_key, correlation_id, status,
    started_at, finished_at, rows, attempts, error, detail, published_at";

/// The run that already took this delivery, if it is running or succeeded.
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

/// Marks failed the runs left `running` by a process that died. Call only while holding the
/// job's lock: then no live run of the job exists.
pub async fn fail_abandoned(client: &Client, job: JobName) -> Result<u64> {
    client
        .execute(
            "UPDATE sync.job_run
             SET status = 'failed', finished_at = now(),
                 error = 'abandoned: the process running it ended before it finished'
             WHERE job = $1 AND status = 'running'",
            &[&job.as_str()],
        )
        .await
        .map_err(db("marking abandoned runs in the run ledger"))
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

pub async fn mark_published(client: &Client, run_id: Uuid) -> Result<()> {
    client
        .execute("UPDATE sync.job_run SET published_at = now() WHERE run_id = $1", &[&run_id])
        .await
        .map_err(db("recording the published event in the ledger"))?;
    Ok(())
}

/// Per job: its newest run, its newest successful run, and whether a run holds its lock now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub job: JobName,
    pub running_now: bool,
    pub last_run: Option<RunRecord>,
    pub last_success: Option<RunRecord>,
}

pub async fn status(client: &Client) -> Result<Vec<JobStatus>> {
    let mut statuses = Vec::new();
    for job in JobName::ALL {
        let last = |filter: &'static str| {
            format!("SELECT {COLUMNS} FROM sync.job_run WHERE job = $1 {filter} ORDER BY started_at DESC LIMIT 1")
        };
        let last_run = client.query_opt(&last(""), &[&job.as_str()]).await.map_err(db("reading the run ledger"))?;
        let last_success = client
            .query_opt(&last("AND status = 'succeeded'"), &[&job.as_str()])
            .await
            .map_err(db("reading the run ledger"))?;
        statuses.push(JobStatus {
            job,
            running_now: is_locked(client, job).await?,
            last_run: last_run.as_ref().map(RunRecord::from_row).transpose()?,
            last_success: last_success.as_ref().map(RunRecord::from_row).transpose()?,
        });
    }
    Ok(statuses)
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
