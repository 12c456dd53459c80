//! person-placement-employing-body-trust: tcs.person_trust: every trust that employs a trainee in any of their placements (past, current, future or DRAFT).
//! Placements whose trainee does not exist, whose post does not exist or whose post has no
//! employing_body are ignored.

use tokio_postgres::Client;

use super::trust_links::{replace, Body, LinkTable};
use super::JobOutput;
use crate::error::Result;

/// The job's (subject_id, trust_id) set: the computation alone.
pub const FRESH: &str = "
    SELECT DISTINCT pl.trainee_id AS subject_id, po.employing_body_id AS trust_id
    FROM tcs.placement pl
    JOIN tcs.post po ON po.id = pl.post_id
    WHERE po.employing_body_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM tcs.person p WHERE p.id = pl.trainee_id)";

pub async fn run(client: &mut Client) -> Result<JobOutput> {
    replace(client, LinkTable::PersonTrust, Body::Employing, FRESH).await
}
