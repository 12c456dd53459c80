//! Schema migrations: the project's SQL files in `shared/migrations`, applied in order, each in
//! its own transaction, recorded in `sync.schema_migration` with a checksum. Idempotent;
//! concurrent callers serialise on an advisory lock; an applied file that changed is an error,
//! not a silent skip.
//!
//! The TCS tables are TCS's: before anything is written, the migrations check that every table
//! and column the jobs use exists (sync_core::tcs) and fail naming each one missing. Only
//! locally and in tests does a fixture create them first (`TcsTables::Fixture`).

use std::collections::BTreeSet;

use tokio_postgres::Client;

use crate::error::{Error, Result};

pub struct Migration {
    pub version: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: "0001_trust_link_sources", sql: include_str!("../migrations/0001_trust_link_sources.sql") },
    Migration { version: "0002_sync", sql: include_str!("../migrations/0002_sync.sql") },
    Migration { version: "0003_esr", sql: include_str!("../migrations/0003_esr.sql") },
    Migration { version: "0004_failure_paths", sql: include_str!("../migrations/0004_failure_paths.sql") },
    Migration { version: "0005_function_roles", sql: include_str!("../migrations/0005_function_roles.sql") },
    Migration { version: "0006_status_jobs", sql: include_str!("../migrations/0006_status_jobs.sql") },
    Migration { version: "0007_reval_feeds", sql: include_str!("../migrations/0007_reval_feeds.sql") },
    Migration { version: "0008_posts_index", sql: include_str!("../migrations/0008_posts_index.sql") },
    Migration { version: "0009_file_counter", sql: include_str!("../migrations/0009_file_counter.sql") },
    Migration { version: "0010_republish", sql: include_str!("../migrations/0010_republish.sql") },
];

/// The TCS tables for a database without them: local work and tests only.
pub const TCS_FIXTURE: Migration =
    Migration { version: "fixture/tcs", sql: include_str!("../migrations/fixture/tcs.sql") };

/// Where the TCS tables come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcsTables {
    /// The TCS database's own (AWS): checked, never created.
    Existing,
    /// Created by the fixture when missing (local work and tests), then checked.
    Fixture,
}

/// FNV-1a, enough to notice an edited migration file.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in sql.bytes() {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}

/// Applies pending migrations; returns the versions applied now. With `TcsTables::Existing`
/// nothing is written unless every TCS table and column the jobs use is there.
pub async fn migrate(client: &mut Client, tcs: TcsTables) -> Result<Vec<&'static str>> {
    let mut applied = Vec::new();
    if tcs == TcsTables::Fixture {
        create_history(client).await?;
        apply(client, &TCS_FIXTURE, &mut applied).await?;
    }
    check_tcs(client).await?;
    create_history(client).await?;
    for migration in MIGRATIONS {
        apply(client, migration, &mut applied).await?;
    }
    Ok(applied)
}

/// Every TCS table and column the jobs use, or an error naming each one missing. Read from the
/// catalog rather than information_schema, which shows only the columns the caller may use.
pub async fn check_tcs(client: &Client) -> Result<()> {
    let present: BTreeSet<(String, String)> = client
        .query(
            "SELECT c.relname::text, a.attname::text
               FROM pg_catalog.pg_attribute a
               JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'tcs' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                AND a.attnum > 0 AND NOT a.attisdropped",
            &[],
        )
        .await
        .map_err(|e| Error::database("reading the TCS tables' columns", e))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let missing = sync_core::tcs::missing(&present);
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the TCS database lacks {} of what the jobs read or write: {}; nothing was migrated",
        missing.len(),
        missing.join(", ")
    )))
}

async fn create_history(client: &Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS sync;
             CREATE TABLE IF NOT EXISTS sync.schema_migration (
                 version     text PRIMARY KEY,
                 checksum    text NOT NULL,
                 applied_at  timestamptz NOT NULL DEFAULT now()
             );",
        )
        .await
        .map_err(|e| Error::database("creating the migration history table", e))
}

/// Applies one migration unless the history has it (with the same checksum).
async fn apply(client: &mut Client, migration: &Migration, applied: &mut Vec<&'static str>) -> Result<()> {
    let db = |context: &'static str| move |e| Error::database(context, e);
    let tx = client.transaction().await.map_err(db("starting a migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('tis-sync migrate', 0))", &[])
        .await
        .map_err(db("taking the migration lock"))?;
    let recorded = tx
        .query_opt("SELECT checksum FROM sync.schema_migration WHERE version = $1", &[&migration.version])
        .await
        .map_err(db("reading the migration history"))?;
    let sum = checksum(migration.sql);
    match recorded {
        Some(row) => {
            let recorded: String = row.get(0);
            if recorded != sum {
                return Err(Error::Config(format!(
                    "migration {} was changed after it was applied (checksum {recorded} in the database, {sum} in the file); add a new migration instead",
                    migration.version
                )));
            }
        }
        None => {
            tx.batch_execute(migration.sql)
                .await
                .map_err(|e| Error::database(format!("applying migration {}", migration.version), e))?;
            tx.execute(
                "INSERT INTO sync.schema_migration (version, checksum) VALUES ($1, $2)",
                &[&migration.version, &sum],
            )
            .await
            .map_err(db("recording the migration"))?;
            applied.push(migration.version);
        }
    }
    tx.commit().await.map_err(db("committing a migration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_in_order_and_distinct() {
        let versions: Vec<&str> = MIGRATIONS.iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(versions, sorted);
    }

    #[test]
    fn checksum_notices_an_edit() {
        assert_ne!(checksum("SELECT 1;"), checksum("SELECT 2;"));
        assert_eq!(checksum("SELECT 1;"), checksum("SELECT 1;"));
    }
}
