//! Records generated upstream arrive as messages: a new record is inserted, one not yet
//! exported is updated, an update to an exported one is ignored (later changes travel to ESR as
//! notifications), and a message older than the one the record was last taken from is ignored.
//!
//! Message: `{"kind": "app", "record": {"id", "placementId", "deanery", "positionId",
//! "positionNumber", "startDate", "status", "applicant", "generationError", "changedAt"}}`;
//! notifications carry `notificationType` and `notification` instead of `applicant`.
//! `changedAt` (RFC 3339) is when upstream changed the record: a standard queue, concurrent
//! batches and a dead-letter redrive days later deliver out of order, so it orders them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Client;

use sync_core::esr::Kind;

use super::{check_deaneries, records_table};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeMessage {
    pub kind: Kind,
    pub record: IntakeRecord,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IntakeRecord {
    pub id: i64,
    pub placement_id: i64,
    pub deanery: String,
    pub position_id: Option<i64>,
    pub position_number: Option<String>,
    pub start_date: NaiveDate,
    /// TO_EXPORT (default), DELETED_BEFORE_EXPORT or INVALID_DATA; EXPORTED is the exporter's.
    pub status: Option<String>,
    pub applicant: Option<Value>,
    pub notification_type: Option<i32>,
    pub notification: Option<Value>,
    pub generation_error: Option<String>,
    /// When upstream made this version of the record.
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntakeOutcome {
    Inserted,
    Updated,
    /// The record was exported already: the update is not applied.
    Ignored,
    /// The record holds a version changed later, or at the same time and ranking as high or
    /// higher (`applies_to`): this message is a duplicate, arrived out of order, or lost a tie,
    /// and is not applied.
    Outdated,
}

impl IntakeMessage {
    pub fn parse(body: &str) -> Result<Self> {
        serde_json::from_str(body).map_err(|e| Error::InvalidInput(format!("record message: {e}")))
    }
}

/// What a version of each kind's record holds, beside its status: what a tie is decided on.
const APP_CONTENT: &str =
    "placement_id, deanery, position_id, position_number, start_date, applicant, generation_error";
const NOTIFICATION_CONTENT: &str = "placement_id, deanery, notification_type, position_id, position_number, \
                                    start_date, notification, generation_error";

/// When a message's version replaces the stored one (docs/esr-export.md "Intake order"): never
/// once exported; otherwise when it changed later, or, changed at the same time, when it ranks
/// higher: a withdrawal (DELETED_BEFORE_EXPORT) over INVALID_DATA over TO_EXPORT, then the
/// greater digest of its content. The outcome depends only on which messages came, never on
/// their order, and an identical message is a duplicate.
fn applies_to(content: &str) -> String {
    let rank = |side: &str| {
        let columns: Vec<String> = content.split(", ").map(|c| format!("{side}.{}", c.trim())).collect();
        format!(
            "(array_position(ARRAY['TO_EXPORT', 'INVALID_DATA', 'DELETED_BEFORE_EXPORT'], {side}.status), \
             md5(row({})::text))",
            columns.join(", ")
        )
    };
    format!(
        "r.status <> 'EXPORTED' AND (r.changed_at IS NULL OR r.changed_at < EXCLUDED.changed_at
             OR (r.changed_at = EXCLUDED.changed_at AND {} > {}))",
        rank("EXCLUDED"),
        rank("r")
    )
}

pub async fn apply(client: &Client, message: &IntakeMessage) -> Result<IntakeOutcome> {
    let record = &message.record;
    let status = record.status.as_deref().unwrap_or("TO_EXPORT");
    if !["TO_EXPORT", "DELETED_BEFORE_EXPORT", "INVALID_DATA"].contains(&status) {
        return Err(Error::InvalidInput(format!(
            "record {}: status '{status}' cannot arrive from upstream (TO_EXPORT, DELETED_BEFORE_EXPORT or INVALID_DATA)",
            record.id
        )));
    }
    let deanery = record.deanery.trim().to_uppercase();
    check_deaneries(client, std::slice::from_ref(&deanery)).await?;
    let db = |e| Error::database(format!("taking in {} record {}", message.kind, record.id), e);
    let row = match message.kind {
        Kind::App => {
            let applicant = record.applicant.clone().unwrap_or(Value::Object(Default::default()));
            client
                .query_opt(
                    &format!(
                        "INSERT INTO esr.generated_app_record AS r
                       (id, placement_id, deanery, position_id, position_number, start_date, status, applicant,
                        generation_error, changed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (id) DO UPDATE SET
                       placement_id = EXCLUDED.placement_id, deanery = EXCLUDED.deanery,
                       position_id = EXCLUDED.position_id, position_number = EXCLUDED.position_number,
                       start_date = EXCLUDED.start_date, status = EXCLUDED.status, applicant = EXCLUDED.applicant,
                       generation_error = EXCLUDED.generation_error, changed_at = EXCLUDED.changed_at,
                       updated_at = now()
                     WHERE {}
                     RETURNING (xmax = 0) AS inserted",
                        applies_to(APP_CONTENT)
                    ),
                    &[
                        &record.id,
                        &record.placement_id,
                        &deanery,
                        &record.position_id,
                        &record.position_number,
                        &record.start_date,
                        &status,
                        &applicant,
                        &record.generation_error,
                        &record.changed_at,
                    ],
                )
                .await
                .map_err(db)?
        }
        Kind::Notification => {
            let notification_type = record.notification_type.ok_or_else(|| {
                Error::InvalidInput(format!("notification record {} has no notificationType", record.id))
            })?;
            let notification = record.notification.clone().unwrap_or(Value::Object(Default::default()));
            client
                .query_opt(
                    &format!(
                        "INSERT INTO esr.notification_record AS r
                       (id, placement_id, deanery, notification_type, position_id, position_number, start_date, status,
                        notification, generation_error, changed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (id) DO UPDATE SET
                       placement_id = EXCLUDED.placement_id, deanery = EXCLUDED.deanery,
                       notification_type = EXCLUDED.notification_type, position_id = EXCLUDED.position_id,
                       position_number = EXCLUDED.position_number, start_date = EXCLUDED.start_date,
                       status = EXCLUDED.status, notification = EXCLUDED.notification,
                       generation_error = EXCLUDED.generation_error, changed_at = EXCLUDED.changed_at,
                       updated_at = now()
                     WHERE {}
                     RETURNING (xmax = 0) AS inserted",
                        applies_to(NOTIFICATION_CONTENT)
                    ),
                    &[
                        &record.id,
                        &record.placement_id,
                        &deanery,
                        &notification_type,
                        &record.position_id,
                        &record.position_number,
                        &record.start_date,
                        &status,
                        &notification,
                        &record.generation_error,
                        &record.changed_at,
                    ],
                )
                .await
                .map_err(db)?
        }
    };
    match row {
        Some(row) if row.get::<_, bool>("inserted") => Ok(IntakeOutcome::Inserted),
        Some(_) => Ok(IntakeOutcome::Updated),
        None => {
            // Not applied: say which stored version it lost to (ids and times, no field values).
            let stored = client
                .query_one(
                    &format!("SELECT status, changed_at FROM {} WHERE id = $1", records_table(message.kind)),
                    &[&record.id],
                )
                .await
                .map_err(db)?;
            let stored_status: String = stored.get("status");
            let stored_changed_at: Option<DateTime<Utc>> = stored.get("changed_at");
            if stored_status == "EXPORTED" {
                tracing::info!(kind = %message.kind, record_id = record.id, changed_at = %record.changed_at, "record already exported: update not applied");
                return Ok(IntakeOutcome::Ignored);
            }
            tracing::warn!(
                kind = %message.kind,
                record_id = record.id,
                message_changed_at = %record.changed_at,
                stored_changed_at = ?stored_changed_at,
                stored_status = %stored_status,
                "out-of-order, repeated or tied message: the record holds a version changed later, or at the same time and ranking as high; not applied"
            );
            Ok(IntakeOutcome::Outdated)
        }
    }
}
