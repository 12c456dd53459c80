//! `tis-sync pause JOB --reason TEXT` and `tis-sync resume JOB`.

use serde_json::json;
use shared::ledger;
use sync_core::JobName;

use super::{Here, Outcome, Output};

#[derive(clap::Args)]
pub struct Pause {
    #[arg(value_enum)]
    job: JobName,
    /// Why, for the people who see it paused.
    #[arg(long)]
    reason: String,
}

impl Pause {
    pub async fn execute(self) -> Outcome {
        let here = Here::connect().await?;
        let pause = ledger::pause(&here.session.client, self.job, self.reason.trim()).await?;
        eprintln!("{} paused: {}", pause.job, pause.reason);
        Ok(Output::Json(serde_json::to_value(pause).expect("pauses serialize")))
    }
}

#[derive(clap::Args)]
pub struct Resume {
    #[arg(value_enum)]
    job: JobName,
}

impl Resume {
    pub async fn execute(self) -> Outcome {
        let here = Here::connect().await?;
        let ended = ledger::resume(&here.session.client, self.job).await?;
        eprintln!("{} {}", self.job, if ended.is_some() { "resumed" } else { "was not paused" });
        Ok(Output::Json(json!({ "job": self.job, "paused": false, "pause": ended })))
    }
}
