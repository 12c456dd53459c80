//! post-employing-body-trust: tcs.post_trust: the employing body of every post (posts without placements too).
//! Posts with no employing body are ignored.

use tokio_postgres::Client;

use super::trust_links::{replace, Body, LinkTable};
use super::JobOutput;
use crate::error::Result;

/// The job's (subject_id, trust_id) set: the computation alone.
pub const FRESH: &str =
    "SELECT id AS subject_id, employing_body_id AS trust_id FROM tcs.post WHERE employing_body_id IS NOT NULL";

pub async fn run(client: &mut Client) -> Result<JobOutput> {
    replace(client, LinkTable::PostTrust, Body::Employing, FRESH).await
}
