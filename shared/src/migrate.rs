//! Schema migrations: the project's SQL files in `shared/migrations`, applied in order, each in
//! its own transaction, recorded in `sync.schema_migration` with a checksum. Idempotent;
//! concurrent callers serialise on an advisory lock; an applied file that changed is an error,
//! not a silent skip.
//!
//! An index on one of TCS's live tables is built with `CREATE INDEX CONCURRENTLY`, so TCS's
//! writes never wait on the build; Postgres refuses that inside a transaction, so a file's
//! statements after the line `-- Concurrently:` run one by one, after the rest has committed, and
//! the file is recorded only once they have all succeeded. A build that failed leaves an INVALID
//! index, which the next attempt drops and builds again.
//!
//! The TCS tables are TCS's: before anything is written, the migrations check that every table
//! and column the jobs use exists (sync_core::tcs) and fail naming each one missing. Only
//! locally and in tests does a fixture create them first (`TcsTables::Fixture`).

use std::collections::BTreeMap;

use sync_core::tcs::Column;

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
    Migration { version: "0011_tcs_seams", sql: include_str!("../migrations/0011_tcs_seams.sql") },
    Migration { version: "0012_preflight", sql: include_str!("../migrations/0012_preflight.sql") },
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

/// The line after which a migration's statements run outside a transaction, one by one.
const CONCURRENTLY: &str = "\n-- Concurrently:\n";

/// The session-level advisory lock migrators serialise on.
const LOCK_KEY: &str = "hashtextextended('tis-sync migrate', 0)";

/// Applies pending migrations; returns the versions applied now. With `TcsTables::Existing`
/// nothing is written unless every TCS table and column the jobs use is there.
pub async fn migrate(client: &mut Client, tcs: TcsTables) -> Result<Vec<&'static str>> {
    lock(client).await?;
    let result = migrate_locked(client, tcs).await;
    let unlocked = client.execute(&format!("SELECT pg_advisory_unlock({LOCK_KEY})"), &[]).await;
    let applied = result?;
    unlocked.map_err(|e| Error::database("releasing the migration lock", e))?;
    Ok(applied)
}

async fn migrate_locked(client: &mut Client, tcs: TcsTables) -> Result<Vec<&'static str>> {
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
    if !applied.is_empty() {
        // What the roles hold now is what the migrations meant them to (the preflight compares).
        client
            .execute("SELECT sync.record_grants()", &[])
            .await
            .map_err(|e| Error::database("recording the function roles' grants", e))?;
    }
    Ok(applied)
}

/// Takes the migration lock, polling: a migrator blocked inside a statement would hold a
/// snapshot, which another's `CREATE INDEX CONCURRENTLY` waits for while it waits for the lock.
async fn lock(client: &Client) -> Result<()> {
    loop {
        let taken: bool = client
            .query_one(&format!("SELECT pg_try_advisory_lock({LOCK_KEY})"), &[])
            .await
            .map_err(|e| Error::database("taking the migration lock", e))?
            .get(0);
        if taken {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// An index a migration builds concurrently: its statement and its schema-qualified name.
#[derive(Debug, PartialEq, Eq)]
struct ConcurrentIndex<'a> {
    name: String,
    statement: &'a str,
}

/// A migration's text split into what runs in its transaction and the indexes built after it.
/// Each statement after `-- Concurrently:` must read
/// `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON <schema>.<table> ...`.
fn split(sql: &str) -> std::result::Result<(&str, Vec<ConcurrentIndex<'_>>), String> {
    let Some(at) = sql.find(CONCURRENTLY) else { return Ok((sql, Vec::new())) };
    let (transactional, rest) = (&sql[..at], &sql[at + CONCURRENTLY.len()..]);
    let statements = rest
        .split(';')
        .map(str::trim)
        .filter(|s| !s.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with("--")));
    let mut indexes = Vec::new();
    for statement in statements {
        let words: Vec<&str> =
            statement.lines().filter(|l| !l.trim_start().starts_with("--")).flat_map(str::split_whitespace).collect();
        let shape = match words.as_slice() {
            ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", "IF", "NOT", "EXISTS", name, "ON", table, ..]
            | ["CREATE", "INDEX", "CONCURRENTLY", "IF", "NOT", "EXISTS", name, "ON", table, ..] => {
                table.split_once('.').map(|(schema, _)| format!("{schema}.{name}"))
            }
            _ => None,
        };
        let name = shape.ok_or_else(|| {
            format!("after `-- Concurrently:` only `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON <schema>.<table>` may follow, not: {statement}")
        })?;
        indexes.push(ConcurrentIndex { name, statement });
    }
    Ok((transactional, indexes))
}

/// Every TCS table and column the jobs use, or an error naming each one missing. Read from the
/// catalog rather than information_schema, which shows only the columns the caller may use.
pub async fn check_tcs(client: &Client) -> Result<()> {
    let present: BTreeMap<(String, String), Column> = client
        .query(
            "SELECT c.relname::text, a.attname::text,
                    a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AS required
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
        .map(|row| ((row.get(0), row.get(1)), Column { required: row.get(2) }))
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
    let recorded = client
        .query_opt("SELECT checksum FROM sync.schema_migration WHERE version = $1", &[&migration.version])
        .await
        .map_err(db("reading the migration history"))?;
    let sum = checksum(migration.sql);
    if let Some(row) = recorded {
        let recorded: String = row.get(0);
        if recorded != sum {
            return Err(Error::Config(format!(
                "migration {} was changed after it was applied (checksum {recorded} in the database, {sum} in the file); add a new migration instead",
                migration.version
            )));
        }
        return Ok(());
    }
    let (transactional, indexes) =
        split(migration.sql).map_err(|e| Error::Config(format!("migration {}: {e}", migration.version)))?;
    let applying = |e| Error::database(format!("applying migration {}", migration.version), e);
    let record = "INSERT INTO sync.schema_migration (version, checksum) VALUES ($1, $2)";
    let tx = client.transaction().await.map_err(db("starting a migration"))?;
    tx.batch_execute(transactional).await.map_err(applying)?;
    if indexes.is_empty() {
        tx.execute(record, &[&migration.version, &sum]).await.map_err(db("recording the migration"))?;
    }
    tx.commit().await.map_err(db("committing a migration"))?;
    for index in &indexes {
        build_concurrently(client, migration.version, index).await?;
    }
    if !indexes.is_empty() {
        client.execute(record, &[&migration.version, &sum]).await.map_err(db("recording the migration"))?;
    }
    applied.push(migration.version);
    Ok(())
}

/// Builds one index with `CREATE INDEX CONCURRENTLY`, first dropping what an earlier failed
/// build left (an INVALID index, which `IF NOT EXISTS` would otherwise take as done).
async fn build_concurrently(client: &Client, version: &str, index: &ConcurrentIndex<'_>) -> Result<()> {
    let context = |what: &str| format!("applying migration {version}: {what} index {}", index.name);
    let invalid = "SELECT 1 FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid";
    let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {}", index.name);
    if client.query_opt(invalid, &[&index.name]).await.map_err(|e| Error::database(context("checking"), e))?.is_some() {
        client.batch_execute(&drop).await.map_err(|e| Error::database(context("dropping the invalid"), e))?;
    }
    if let Err(e) = client.batch_execute(index.statement).await {
        // Leave nothing half-built behind; the error that matters is the build's.
        let _ = client.batch_execute(&drop).await;
        return Err(Error::database(context("building"), e));
    }
    Ok(())
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
    fn the_statements_after_the_marker_are_the_indexes_built_concurrently() {
        let sql = "ALTER TABLE tcs.t ADD COLUMN c int;\n-- Concurrently:\n-- why\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_c\n    ON tcs.t (c);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_d ON tcs.t (d);\n";
        let (transactional, indexes) = split(sql).unwrap();
        assert_eq!(transactional, "ALTER TABLE tcs.t ADD COLUMN c int;");
        let names: Vec<&str> = indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["tcs.t_c", "tcs.t_d"]);
        assert_eq!(split("SELECT 1;").unwrap(), ("SELECT 1;", Vec::new()));
    }

    #[test]
    fn only_concurrent_index_builds_may_follow_the_marker() {
        for statement in [
            "CREATE INDEX t_c ON tcs.t (c)",
            "CREATE INDEX CONCURRENTLY t_c ON tcs.t (c)",
            "DELETE FROM tcs.t",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_c ON t (c)",
        ] {
            let error = split(&format!("SELECT 1;\n-- Concurrently:\n{statement};")).unwrap_err();
            assert!(error.ends_with(statement), "{error}");
        }
    }

    /// TCS's tables are live: an index on one built in a transaction would hold off TCS's writes
    /// for the whole build.
    #[test]
    fn every_index_on_a_tcs_table_is_built_concurrently() {
        for migration in MIGRATIONS {
            let (transactional, _) = split(migration.sql).unwrap();
            for statement in transactional.split(';') {
                let words: Vec<String> = statement
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .flat_map(str::split_whitespace)
                    .map(str::to_uppercase)
                    .collect();
                let builds_index =
                    words.iter().take(3).any(|w| w == "INDEX") && words.first().is_some_and(|w| w == "CREATE");
                let on_tcs = words.windows(2).any(|w| w[0] == "ON" && w[1].starts_with("TCS."));
                assert!(!(builds_index && on_tcs), "{}: {}", migration.version, statement.trim());
            }
        }
    }

    #[test]
    fn checksum_notices_an_edit() {
        assert_ne!(checksum("SELECT 1;"), checksum("SELECT 2;"));
        assert_eq!(checksum("SELECT 1;"), checksum("SELECT 1;"));
    }
}
