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
