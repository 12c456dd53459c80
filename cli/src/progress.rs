//! What the command line shows while it works. On a terminal: a progress bar for a chain of runs
//! (jobs done of the jobs asked for, the job running now) and a spinner while seeding, with the
//! log lines (the index jobs' "documents sent" among them) printed above them. Not on a terminal
//! (a script, CI): the bars are not drawn and only the plain lines remain, one per job or table
//! as it finishes. Everything goes to stderr: stdout stays one JSON object for machines.

use tracing::Span;
use tracing_indicatif::span_ext::IndicatifSpanExt;
use tracing_indicatif::style::ProgressStyle;
use tracing_indicatif::IndicatifLayer;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The one span name that gets a bar: spans of the library are not drawn.
const PROGRESS: &str = "progress";

/// Logs (`RUST_LOG`, default info) as compact lines on stderr, above the bars.
pub fn init() {
    let indicatif = IndicatifLayer::new();
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(indicatif.get_stderr_writer())
        .with_target(false)
        .compact()
        .with_filter(shared::telemetry::filter(&level));
    let bars = indicatif.with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.name() == PROGRESS));
    let _ = tracing_subscriber::registry().with(lines).with(bars).try_init();
}

/// A bar over `total` steps, titled `title`.
pub fn bar(title: &str, total: u64) -> Span {
    let span = tracing::info_span!(PROGRESS);
    span.pb_set_style(
        &ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    span.pb_set_length(total);
    span.pb_set_message(title);
    span.pb_start();
    span
}

/// A spinner for work of unknown length, saying `title` and then what each step did.
pub fn spinner(title: &str) -> Span {
    let span = tracing::info_span!(PROGRESS);
    span.pb_set_style(&ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("the template is valid"));
    span.pb_set_message(title);
    span.pb_start();
    span
}

/// Prints a line to stderr without tearing a bar that is being drawn.
pub fn line(text: &str) {
    tracing_indicatif::suspend_tracing_indicatif(|| eprintln!("{text}"));
}
