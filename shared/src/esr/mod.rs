//! The ESR exporter (docs/esr-export.md): export commands, one per deanery and kind
//! a day, turned into files of the records waiting to be exported, exactly once.
//!
//! - `dispatch`: sending a day's commands (the command itself and the file layout are
//!   `sync_core::esr`'s).
//! - `export`: handling one command (the queue consumer and `tis-sync esr export`).
//! - `intake`: records arriving from upstream.

use crate::error::{Error, Result};

pub mod dispatch;
pub mod export;
pub mod intake;

use sync_core::esr::Kind;

/// The table of a kind's records.
pub fn records_table(kind: Kind) -> &'static str {
    match kind {
        Kind::App => "esr.generated_app_record",
        Kind::Notification => "esr.notification_record",
    }
}

/// Where a kind's file numbers stand: the last number a file took (0 before the first).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileNumbers {
    pub kind: Kind,
    pub previous_last: i64,
    pub next: i64,
}

/// The cutover from the old exporter (RUNBOOK.md, "Cutover from the Java service"): the
/// next file of `kind` will carry `next`, continuing the old counter, which ESR checks in
/// sequence. Refused if a file has taken `next` or a later number already: numbers never go
/// backwards, and never repeat.
pub async fn continue_numbers_from(client: &mut tokio_postgres::Client, kind: Kind, next: i64) -> Result<FileNumbers> {
    if next < 1 {
        return Err(Error::InvalidInput(format!("--continue-from {next}: file numbers start at 1")));
    }
    let db = |e| Error::database(format!("continuing the {kind} file numbers"), e);
    let tx = client.transaction().await.map_err(db)?;
    let last: i64 = tx
        .query_one("SELECT last_sequence FROM esr.file_counter WHERE kind = $1 FOR UPDATE", &[&kind.as_str()])
        .await
        .map_err(db)?
        .get(0);
    if last >= next {
        return Err(Error::InvalidInput(format!(
            "the {kind} files are numbered up to {last} already: the next is {}, and continuing from {next} would \
             go backwards",
            last + 1
        )));
    }
    tx.execute("UPDATE esr.file_counter SET last_sequence = $2 WHERE kind = $1", &[&kind.as_str(), &(next - 1)])
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    tracing::warn!(kind = %kind, previous_last = last, next, "the file numbers continue from the old exporter's");
    Ok(FileNumbers { kind, previous_last: last, next })
}

/// The active deaneries in dispatch order.
pub async fn active_deaneries(client: &tokio_postgres::Client) -> Result<Vec<String>> {
    let rows = client
        .query("SELECT code FROM esr.deanery WHERE active ORDER BY dispatch_order", &[])
        .await
        .map_err(|e| Error::database("reading the deaneries", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Fails with a message naming the unknown codes, if any.
pub async fn check_deaneries(client: &tokio_postgres::Client, codes: &[String]) -> Result<()> {
    let rows = client
        .query("SELECT c FROM unnest($1::text[]) c WHERE c NOT IN (SELECT code FROM esr.deanery)", &[&codes])
        .await
        .map_err(|e| Error::database("reading the deaneries", e))?;
    let unknown: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("unknown deanery {}", unknown.join(", "))))
    }
}
