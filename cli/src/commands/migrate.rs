//! `tis-sync migrate [--tcs-fixture]`: check the TCS tables, apply the project's migrations.

use serde_json::json;
use shared::migrate::{self, TcsTables};

use super::{Here, Outcome, Output};

#[derive(clap::Args)]
pub struct Migrate {
    /// Create the TCS tables first where they are missing: for a local or test database,
    /// never one of TCS's.
    #[arg(long)]
    tcs_fixture: bool,
}

impl Migrate {
    pub async fn execute(self) -> Outcome {
        let mut here = Here::connect().await?;
        let tcs = if self.tcs_fixture { TcsTables::Fixture } else { TcsTables::Existing };
        let applied = migrate::migrate(&mut here.session.client, tcs).await?;
        let applied_text = if applied.is_empty() { "none (up to date)".to_string() } else { applied.join(", ") };
        eprintln!("migrations applied: {applied_text}");
        Ok(Output::Json(json!({ "applied": applied })))
    }
}
