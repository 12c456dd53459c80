//! `tis-sync seed`: reproducible synthetic TCS data, generated set-based inside Postgres (see
//! seed.sql), replacing what the `tcs` tables held, in one transaction.

use serde::Serialize;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::error::{Error, Result};

const SEED_SQL: &str = include_str!("seed.sql");

/// Persons at TIS scale (performance.md); every other table scales from it.
pub const TIS_PERSONS: i64 = 300_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeedReport {
    pub persons: i64,
    pub seed: i64,
    pub tables: Vec<(String, i64)>,
}

fn steps() -> impl Iterator<Item = &'static str> {
    SEED_SQL
        .split("\n\n-- step")
        .skip(1)
        .map(|step| step.split_once('\n').map(|(_, sql)| sql).unwrap_or(""))
        .filter(|sql| !sql.trim().is_empty())
}

pub async fn seed(client: &mut Client, persons: i64, seed: i64) -> Result<SeedReport> {
    if persons < 1 {
        return Err(Error::InvalidInput(format!("--persons must be at least 1, got {persons}")));
    }
    let tx = client.transaction().await.map_err(|e| Error::database("seeding", e))?;
    for (n, sql) in steps().enumerate() {
        let statement = tx
            .prepare_typed(sql, &[Type::INT8, Type::INT8])
            .await
            .map_err(|e| Error::database(format!("seed step {}", n + 1), e))?;
        tx.execute(&statement, &[&persons, &seed])
            .await
            .map_err(|e| Error::database(format!("seed step {}", n + 1), e))?;
    }
    let mut tables = Vec::new();
    for table in [
        "tcs.person",
        "tcs.contact_details",
        "tcs.gmc_details",
        "tcs.gdc_details",
        "tcs.programme",
        "tcs.programme_membership",
        "tcs.curriculum_membership",
        "tcs.post",
        "tcs.placement",
        "tcs.placement_specialty",
        "esr.generated_app_record",
    ] {
        let count: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .map_err(|e| Error::database("counting seeded rows", e))?
            .get(0);
        tables.push((table.to_string(), count));
    }
    tx.commit().await.map_err(|e| Error::database("committing the seed", e))?;
    Ok(SeedReport { persons, seed, tables })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_step_is_found() {
        let steps: Vec<&str> = super::steps().collect();
        assert!(steps.len() >= 10, "{} steps", steps.len());
        assert!(steps[0].trim_start().starts_with("TRUNCATE"));
    }
}
