//! What the four trust jobs share: replacing one job's part of `tcs.person_trust` or
//! `tcs.post_trust` with a freshly computed set, as a difference, in one transaction.
//!
//! Each row carries the `source` of the job that owns it, so the employing-body and
//! training-body jobs of a pair never touch each other's rows; readers, who use set semantics,
//! see the union of both parts, and during a run the old part until the new one commits.

use serde_json::json;
use tokio_postgres::Client;

use super::JobOutput;
use crate::error::{Error, Result};

/// The derived table a trust job writes and the column naming its subject.
#[derive(Debug, Clone, Copy)]
pub enum LinkTable {
    PersonTrust,
    PostTrust,
}

impl LinkTable {
    fn table(self) -> &'static str {
        match self {
            LinkTable::PersonTrust => "tcs.person_trust",
            LinkTable::PostTrust => "tcs.post_trust",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            LinkTable::PersonTrust => "person_id",
            LinkTable::PostTrust => "post_id",
        }
    }
}

/// Which body a job links by; also the `source` value of its rows.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    Employing,
    Training,
}

impl Body {
    fn source(self) -> &'static str {
        match self {
            Body::Employing => "employing-body",
            Body::Training => "training-body",
        }
    }
}

/// Replaces `body`'s rows of `table` with `fresh`, a query returning distinct
/// (subject, trust_id) pairs as columns `subject_id, trust_id`. Only constant SQL from the job
/// modules is formatted in; the source is a bind parameter.
pub async fn replace(client: &mut Client, table: LinkTable, body: Body, fresh: &str) -> Result<JobOutput> {
    let (target, subject) = (table.table(), table.subject());
    // One hash full join finds both what to add and what to remove, so unchanged rows (nearly
    // all of them, night after night) cost a hash probe, not an index probe or a rewrite.
    let statement = format!(
        "WITH fresh AS MATERIALIZED ({fresh}),
         diff AS MATERIALIZED (
             SELECT f.subject_id AS add_subject, f.trust_id AS add_trust,
                    c.{subject} AS gone_subject, c.trust_id AS gone_trust
             FROM fresh f
             FULL JOIN (SELECT {subject}, trust_id FROM {target} WHERE source = $1) c
                    ON c.{subject} = f.subject_id AND c.trust_id = f.trust_id
             WHERE f.subject_id IS NULL OR c.{subject} IS NULL
         ), removed AS (
             DELETE FROM {target} t USING diff d
             WHERE d.add_subject IS NULL AND t.source = $1
               AND t.{subject} = d.gone_subject AND t.trust_id = d.gone_trust
             RETURNING 1
         ), added AS (
             INSERT INTO {target} ({subject}, trust_id, source)
             SELECT add_subject, add_trust, $1 FROM diff WHERE gone_subject IS NULL
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM fresh) AS rows,
                (SELECT count(*) FROM added) AS added,
                (SELECT count(*) FROM removed) AS removed"
    );
    let context = format!("replacing the {} rows of {target}", body.source());
    let tx = client.transaction().await.map_err(|e| Error::database(&context, e))?;
    tx.batch_execute(super::WORK_MEM).await.map_err(|e| Error::database(&context, e))?;
    let row = tx.query_one(&statement, &[&body.source()]).await.map_err(|e| Error::database(&context, e))?;
    tx.commit().await.map_err(|e| Error::database(&context, e))?;
    let (rows, added, removed): (i64, i64, i64) = (row.get("rows"), row.get("added"), row.get("removed"));
    Ok(JobOutput { rows: rows as u64, detail: json!({ "added": added, "removed": removed }) })
}
