//! `tis-sync seed`: reproducible synthetic TCS (and ESR) data.

use tis_sync::progress;
use tracing_indicatif::span_ext::IndicatifSpanExt;

use super::{Here, Outcome, Output};

#[derive(clap::Args)]
pub struct Seed {
    /// `tis`: the TIS-scale shape of performance.md (300,000 persons, 2 million placements,
    /// 40,000 ESR records waiting); `small`: 1,000 persons.
    #[arg(long, value_enum, conflicts_with = "persons")]
    scale: Option<Scale>,
    #[arg(long, default_value_t = 1000)]
    persons: i64,
    #[arg(long, default_value_t = 1)]
    seed: i64,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Scale {
    Small,
    Tis,
}

impl Seed {
    pub async fn execute(self) -> Outcome {
        let persons = if self.scale == Some(Scale::Tis) { seed::TIS_PERSONS } else { self.persons };
        let mut here = Here::connect().await?;
        let spinner = progress::spinner(&format!("seeding {persons} persons"));
        let report = seed::seed_reporting(&mut here.session.client, persons, self.seed, &mut |table, rows| {
            progress::line(&format!("seeded {table:<28} {rows:>10} rows"));
            spinner.pb_set_message(&format!("seeded {table}"));
        })
        .await?;
        drop(spinner);
        Ok(Output::Json(serde_json::to_value(report).expect("seed report serializes")))
    }
}
