//! `tis-sync graph [--format json|mermaid|dot|markdown]`: the job graph, from the code that runs
//! it; needs nothing else.

use serde_json::json;
use sync_core::graph;
use tis_sync::picture;

use super::Output;

#[derive(clap::Args)]
pub struct Graph {
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Mermaid,
    Dot,
    /// The runbook's table: each job, its schedule, what its success starts.
    Markdown,
}

impl Graph {
    pub fn execute(self) -> Output {
        match self.format {
            Format::Json => Output::Json(json!({ "jobs": graph::GRAPH })),
            Format::Mermaid => Output::Text(picture::mermaid()),
            Format::Dot => Output::Text(picture::dot()),
            Format::Markdown => Output::Text(picture::markdown()),
        }
    }
}
