//! Logging. In Lambda: JSON lines (the function's LoggingConfig is JSON), one per event, with
//! the run's span fields (job, run id, trigger, correlation id). In the CLI: human lines on
//! stderr, so stdout stays one JSON object for machines.

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    // AWS_LAMBDA_LOG_LEVEL is set by Lambda's advanced logging controls; RUST_LOG wins locally.
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".into());
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

pub fn init_lambda() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
}

pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .try_init();
}
