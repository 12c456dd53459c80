//! Logging. In Lambda: JSON lines (the function's LoggingConfig is JSON), one per event, with the
//! event's fields and the fields of every span it is in at the top level: the runtime's
//! (`requestId`, `xrayTraceId`) and the run's (`job`, `runId`, `trigger`, `asOf`,
//! `correlationId`). The CLI has its own (cli/src/progress.rs).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The level, as the Lambda runtime reads it: Lambda's own setting (`AWS_LAMBDA_LOG_LEVEL`, from
/// the function's `ApplicationLogLevel`) first, then `RUST_LOG`, then info.
fn lambda_level(aws_lambda_log_level: Option<String>, rust_log: Option<String>) -> String {
    aws_lambda_log_level.map(|level| level.to_lowercase()).or(rust_log).unwrap_or_else(|| "info".into())
}

pub fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

pub fn init_lambda() {
    let mut json = json_subscriber::JsonLayer::stdout();
    json.with_level("level").with_flattened_event().with_top_level_flattened_span_list();
    let level = lambda_level(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(), std::env::var("RUST_LOG").ok());
    let _ = tracing_subscriber::registry().with(filter(&level)).with(json).try_init();
}

#[cfg(test)]
mod tests {
    use super::lambda_level;

    #[test]
    fn lambdas_log_level_wins_over_rust_log_as_the_runtime_reads_them() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(lambda_level(some("DEBUG"), some("warn")), "debug");
        assert_eq!(lambda_level(None, some("shared=debug,info")), "shared=debug,info");
        assert_eq!(lambda_level(None, None), "info");
    }
}
