//! Handling one export command, exactly once (esr-export.md "A command"):
//!
//! 1. In one transaction, under a lock per (deanery, kind): if this command (by its identity)
//!    made a file already, take it; if the day's file exists and the command is not forced,
//!    take that; otherwise select the qualifying records (TO_EXPORT, start date from run date + 2 days to
//!    before run date + 13 weeks, at most 40 per position, by start date then id: core's
//!    `esr::selection`), take the next number of the kind's counter (shared by all deaneries,
//!    gap-free: taken under its row lock in this transaction), write the file and mark its
//!    records EXPORTED. Transient database errors retry the whole transaction.
//! 2. After the commit, upload the file's stored bytes to S3 under its name (idempotent: a
//!    retried command uploads the same bytes under the same key).
//! 3. Announce `ESR File Exported`, once (in parts of at most `PLACEMENT_IDS_PER_EVENT`
//!    placement ids, each under EventBridge's entry limit).
//!
//! Concurrent commands for different deaneries never touch the same records, and queue on the
//! counter's row only between taking a number and committing, so the 13 commands of 13:00
//! cannot conflict (the 2021 incident) and their numbers are consecutive. A failure after
//! the commit leaves the file recorded; the command's retry (forced or not: the file carries the
//! command's identity) finds it and finishes the upload, and never makes a second file.

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::Transaction;
use tracing::Instrument;

use sync_core::esr::layout::{self, Line};
use sync_core::esr::selection::{records_taken, Waiting};
use sync_core::esr::{Command, Kind};
use sync_core::event::{DetailType, PLACEMENT_IDS_PER_EVENT};

use super::{check_deaneries, records_table};
use crate::db::{retry_transient, Database, Session};
use crate::emf::MetricsSink;
use crate::error::{Cause, Error, Result};
use crate::events::EventPublisher;
use crate::retry::RetryPolicy;

/// Where files go: `ESR_EXPORT_BUCKET` / `ESR_EXPORT_PREFIX`.
#[derive(Clone)]
pub struct FileStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl FileStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: String, prefix: String) -> Self {
        FileStore { client, bucket, prefix }
    }

    pub fn key(&self, file_name: &str) -> String {
        format!("{}{file_name}", self.prefix)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(&self, key: &str, content: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/plain; charset=utf-8")
            .body(ByteStream::from(content))
            .send()
            .await
            .map_err(|e| Error::Storage { location: format!("s3://{}/{key}", self.bucket), reason: Cause::aws(e) })?;
        Ok(())
    }
}

/// What a command produced (or found already produced).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedFile {
    pub file_name: String,
    pub deanery: String,
    pub kind: Kind,
    pub date: NaiveDate,
    pub sequence: i64,
    pub records: usize,
    pub placement_ids: Vec<i64>,
    pub s3_key: String,
    /// False when the command found the day's file already made (a repeated command).
    pub created: bool,
    #[serde(skip)]
    content: Vec<u8>,
    #[serde(skip)]
    id: i64,
    #[serde(skip)]
    event_published_at: Option<DateTime<Utc>>,
}

/// The `ESR File Exported` event, one per part of the file's placement ids (at most
/// `PLACEMENT_IDS_PER_EVENT` each, so every entry stays under EventBridge's limit): `part` of
/// `parts`, every part naming the whole file.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileExportedDetail<'a> {
    file_name: &'a str,
    deanery: &'a str,
    kind: Kind,
    date: NaiveDate,
    sequence: i64,
    records: usize,
    part: usize,
    parts: usize,
    placement_ids: &'a [i64],
    bucket: &'a str,
    key: &'a str,
}

pub struct Exporter {
    db: Database,
    store: FileStore,
    events: EventPublisher,
    retry: RetryPolicy,
    metrics: Option<MetricsSink>,
}

impl Exporter {
    pub fn new(db: Database, store: FileStore, events: EventPublisher) -> Self {
        Exporter { db, store, events, retry: RetryPolicy::default(), metrics: None }
    }

    /// Each command's outcome goes to `sink` (EMF).
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = Some(sink);
        self
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub async fn export(&self, command: &Command) -> Result<ExportedFile> {
        let result = self.export_once(command).await;
        if let Some(sink) = &self.metrics {
            let records = result.as_ref().ok().map(|f| if f.created { f.records } else { 0 });
            sink.esr_export(&command.deanery, command.kind.as_str(), records);
        }
        result
    }

    async fn export_once(&self, command: &Command) -> Result<ExportedFile> {
        // Command::parse refuses such a command: only code building one by hand could send it.
        if command.force && command.command_id.is_none() {
            return Err(Error::Invariant(format!(
                "forced export of {} {} for {} has no command id: it could not tell its own retry from a new request",
                command.deanery, command.kind, command.date
            )));
        }
        // One connection for the whole command: the one whose commit succeeded (a retry after a
        // lost connection opens the next) records the upload and the event too.
        let (committed, attempts) = retry_transient(self.retry, "esr export", |_| self.commit_file(command)).await;
        let (file, session) = committed?;
        // Instrumented, not entered: several commands run at once on one thread, and a span
        // entered across an await would put one deanery's fields on another's lines.
        let span = tracing::info_span!("esr_export", deanery = %command.deanery, kind = %command.kind, date = %command.date, file = %file.file_name);
        self.finish(file, session, attempts).instrument(span).await
    }

    /// Steps 2 and 3 for a recorded file: upload its stored bytes, announce it once.
    async fn finish(&self, file: ExportedFile, session: Session, attempts: u32) -> Result<ExportedFile> {
        if file.created {
            tracing::info!(records = file.records, sequence = file.sequence, attempts, "file written");
        } else {
            tracing::info!("the day's file already exists: finishing it, not making another");
        }
        // Every handling uploads: for a found file that is harmless (same key, same bytes) and
        // repairs a crash between the commit and an earlier upload.
        crate::crash_point::reached(&format!("esr-committed.{}", file.deanery));
        self.store.put(&file.s3_key, file.content.clone()).await?;
        crate::crash_point::reached(&format!("esr-uploaded.{}", file.deanery));
        record(&session.client, file.id, "uploaded_at").await?;
        if file.event_published_at.is_none() {
            // Recorded once every part is out: a retry after a partial send sends them all again.
            let parts: Vec<&[i64]> = match file.placement_ids.len() {
                0 => vec![&[]],
                _ => file.placement_ids.chunks(PLACEMENT_IDS_PER_EVENT).collect(),
            };
            for (n, placement_ids) in parts.iter().enumerate() {
                let detail = FileExportedDetail {
                    file_name: &file.file_name,
                    deanery: &file.deanery,
                    kind: file.kind,
                    date: file.date,
                    sequence: file.sequence,
                    records: file.records,
                    part: n + 1,
                    parts: parts.len(),
                    placement_ids,
                    bucket: self.store.bucket(),
                    key: &file.s3_key,
                };
                self.events.publish(DetailType::EsrFileExported, &detail).await?;
            }
            crate::crash_point::reached(&format!("esr-published.{}", file.deanery));
            if self.events.is_enabled() {
                record(&session.client, file.id, "event_published_at").await?;
            }
        }
        Ok(file)
    }

    /// Step 1: the file and its records' status, in one transaction; the connection it used.
    async fn commit_file(&self, command: &Command) -> Result<(ExportedFile, Session)> {
        let mut session = self.db.connect("tis-sync:esr-export").await?;
        let db = |e| Error::database(format!("exporting {} {} for {}", command.deanery, command.kind, command.date), e);
        check_deaneries(&session.client, std::slice::from_ref(&command.deanery)).await?;
        let tx = session.client.transaction().await.map_err(db)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('tis-sync esr ' || $1 || ' ' || $2, 0))",
            &[&command.deanery, &command.kind.as_str()],
        )
        .await
        .map_err(db)?;
        if let Some(existing) = existing_file(&tx, command).await.map_err(db)? {
            tx.commit().await.map_err(db)?;
            return Ok((existing, session));
        }
        let records = qualifying_records(&tx, command).await.map_err(db)?;
        // The next number, under the counter's row lock until this transaction ends: a file
        // that does not commit never took it (gap-free; held from here to the commit only).
        let sequence: i64 = tx
            .query_one(
                "UPDATE esr.file_counter SET last_sequence = last_sequence + 1 WHERE kind = $1 RETURNING last_sequence",
                &[&command.kind.as_str()],
            )
            .await
            .map_err(db)?
            .get(0);
        let file_name = layout::file_name(command.kind, &command.deanery, command.date, sequence);
        let lines: Vec<Line<'_>> = records
            .iter()
            .map(|r| match command.kind {
                Kind::App => Line::Applicant(&r.record.fields),
                Kind::Notification => Line::Notification {
                    notification_type: r.record.notification_type.unwrap_or_default(),
                    placement_id: r.record.placement_id,
                    fields: &r.record.fields,
                },
            })
            .collect();
        let content = layout::render(command.kind, &command.deanery, command.date, sequence, &lines);
        let record_ids: Vec<i64> = records.iter().map(|r| r.id).collect();
        let placement_ids: Vec<i64> = records.iter().map(|r| r.record.placement_id).collect();
        let s3_key = self.store.key(&file_name);
        let unrecorded = tell_tcs(&tx, command.kind, &record_ids, &file_name).await.map_err(db)?;
        if !unrecorded.is_empty() {
            tracing::warn!(
                file = %file_name,
                unrecorded = unrecorded.len(),
                "exported records TCS cannot record (no numeric ESR position number and id, or no TCS placement): see esr.export_file.tcs_unrecorded_placement_ids"
            );
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO esr.export_file
                   (deanery, kind, run_date, sequence, file_name, content, record_ids, placement_ids, forced, s3_key,
                    command_id, tcs_unrecorded_placement_ids)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 RETURNING id",
                &[
                    &command.deanery,
                    &command.kind.as_str(),
                    &command.date,
                    &sequence,
                    &file_name,
                    &content,
                    &record_ids,
                    &placement_ids,
                    &command.force,
                    &s3_key,
                    &command.command_id,
                    &unrecorded,
                ],
            )
            .await
            .map_err(db)?
            .get(0);
        let marked = tx
            .execute(
                &format!(
                    "UPDATE {} SET status = 'EXPORTED', exported_at = now(), export_file = $2
                     WHERE id = ANY($1) AND status = 'TO_EXPORT'",
                    records_table(command.kind)
                ),
                &[&record_ids, &file_name],
            )
            .await
            .map_err(db)?;
        if marked as usize != record_ids.len() {
            return Err(Error::Conflict(format!(
                "{file_name}: {} records selected but {marked} marked exported; nothing was written",
                record_ids.len()
            )));
        }
        tx.commit().await.map_err(db)?;
        let file = ExportedFile {
            file_name,
            deanery: command.deanery.clone(),
            kind: command.kind,
            date: command.date,
            sequence,
            records: records.len(),
            placement_ids,
            s3_key,
            created: true,
            content,
            id,
            event_published_at: None,
        };
        Ok((file, session))
    }
}

/// Has TCS record that each of the file's records was exported, as the real exporter did through
/// TCS's `POST /placements/{id}/esr-exported` (PlacementServiceImpl.markPlacementAsEsrExported):
/// a `tcs.placement_esr_event` with status EXPORTED, the file's name, the record's ESR position
/// number and id, and the time of export. In the file's transaction, so once per exported record
/// whatever is redelivered or forced. TCS's columns are NOT NULL bigints and TCS saves nothing for
/// a placement it does not have: those records are left out and their placement ids returned.
async fn tell_tcs(
    tx: &tokio_postgres::Transaction<'_>,
    kind: Kind,
    record_ids: &[i64],
    file_name: &str,
) -> std::result::Result<Vec<i64>, tokio_postgres::Error> {
    let statement = format!(
        "WITH exported AS (
             SELECT r.placement_id, r.position_id,
                    CASE WHEN r.position_number ~ '^[0-9]{{1,18}}$' THEN r.position_number::bigint END AS position_number
             FROM {} r WHERE r.id = ANY($1)
         ), recordable AS (
             SELECT * FROM exported e
             WHERE e.position_number IS NOT NULL AND e.position_id IS NOT NULL
               AND EXISTS (SELECT 1 FROM tcs.placement p WHERE p.id = e.placement_id)
         ), recorded AS (
             -- No RETURNING: that would need SELECT on TCS's table, which the role has not.
             INSERT INTO tcs.placement_esr_event
                 (placement_id, event_date_time, filename, position_number, position_id, status)
             SELECT placement_id, now() AT TIME ZONE 'UTC', $2, position_number, position_id, 'EXPORTED'
             FROM recordable
         )
         SELECT ARRAY(SELECT placement_id FROM exported EXCEPT ALL SELECT placement_id FROM recordable ORDER BY 1)",
        records_table(kind)
    );
    Ok(tx.query_one(&statement, &[&record_ids, &file_name]).await?.get(0))
}

/// Records how far the file has got (uploaded, event published).
async fn record(client: &tokio_postgres::Client, file_id: i64, column: &'static str) -> Result<()> {
    // `column` is one of two constants of `export`, never input.
    client
        .execute(&format!("UPDATE esr.export_file SET {column} = now() WHERE id = $1"), &[&file_id])
        .await
        .map_err(|e| Error::database("recording the file's progress", e))?;
    Ok(())
}

/// The file this command made already (found by its identity), else, unless the command is
/// forced, the day's file.
async fn existing_file(
    tx: &Transaction<'_>,
    command: &Command,
) -> std::result::Result<Option<ExportedFile>, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT id, sequence, file_name, content, placement_ids, s3_key, uploaded_at, event_published_at
             FROM esr.export_file
             WHERE command_id = $4
                OR (NOT $5 AND deanery = $1 AND kind = $2 AND run_date = $3 AND NOT forced)
             ORDER BY command_id = $4 DESC NULLS LAST
             LIMIT 1",
            &[&command.deanery, &command.kind.as_str(), &command.date, &command.command_id, &command.force],
        )
        .await?;
    Ok(row.map(|row| {
        let placement_ids: Vec<i64> = row.get("placement_ids");
        ExportedFile {
            file_name: row.get("file_name"),
            deanery: command.deanery.clone(),
            kind: command.kind,
            date: command.date,
            sequence: row.get("sequence"),
            records: placement_ids.len(),
            placement_ids,
            s3_key: row.get("s3_key"),
            created: false,
            content: row.get("content"),
            id: row.get("id"),
            event_published_at: row.get("event_published_at"),
        }
    }))
}

/// A waiting record's contents: what its line in the file is made of.
struct Record {
    placement_id: i64,
    notification_type: Option<i32>,
    fields: Value,
}

/// The records the command's file takes (the decision is core's `records_taken`). Every waiting
/// record in the window is locked first, so a concurrent intake update waits for this
/// transaction rather than change a record that is being written out.
async fn qualifying_records(
    tx: &Transaction<'_>,
    command: &Command,
) -> std::result::Result<Vec<Waiting<Record>>, tokio_postgres::Error> {
    let table = records_table(command.kind);
    let (from, until) = sync_core::esr::window(command.date);
    let (fields, notification_type) = match command.kind {
        Kind::App => ("applicant", "NULL::integer"),
        Kind::Notification => ("notification", "notification_type"),
    };
    let rows = tx
        .query(
            &format!(
                "SELECT id, position_number, start_date, placement_id, {fields} AS fields,
                        {notification_type} AS notification_type
                 FROM {table}
                 WHERE status = 'TO_EXPORT' AND deanery = $1 AND start_date >= $2 AND start_date < $3
                 ORDER BY start_date, id FOR UPDATE"
            ),
            &[&command.deanery, &from, &until],
        )
        .await?;
    let waiting = rows
        .iter()
        .map(|r| Waiting {
            id: r.get("id"),
            position_number: r.get("position_number"),
            start_date: r.get("start_date"),
            record: Record {
                placement_id: r.get("placement_id"),
                notification_type: r.get("notification_type"),
                fields: r.get("fields"),
            },
        })
        .collect();
    Ok(records_taken(command.date, waiting))
}
