//! CloudWatch metrics in embedded metric format (EMF), through the `metrics` facade and the
//! `metrics_cloudwatch_embedded` backend: each job run, each ESR batch and each watchdog check
//! writes one EMF line to its sink (stdout in Lambda, where CloudWatch Logs turns it into
//! metrics). Namespace `TisSync/<stack>` in AWS (`METRICS_NAMESPACE`, set at init), so each
//! stack's alarms read its own metrics only; the job or deanery is the dimension; run id, trigger
//! and correlation id ride along as properties, so a metric leads back to its logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use metrics_cloudwatch_embedded::Collector;

/// The namespace when none is set (the CLI, local runs); a stack's is `TisSync/<stack>`.
pub const NAMESPACE: &str = "TisSync";

/// The namespace `set_namespace` chose for this process.
static CHOSEN_NAMESPACE: OnceLock<String> = OnceLock::new();

/// This process's namespace (a function's `METRICS_NAMESPACE`): set once, at init, before any
/// metric is written; the first setting holds.
pub fn set_namespace(namespace: Option<&str>) {
    let _ = CHOSEN_NAMESPACE.set(namespace.unwrap_or(NAMESPACE).to_string());
}

/// Where EMF lines go.
#[derive(Clone)]
pub enum MetricsSink {
    /// Lambda: CloudWatch Logs reads stdout.
    Stdout,
    /// Tests: lines are kept for inspection.
    Buffer(Arc<Mutex<Vec<u8>>>),
}

/// The process's collector (the `metrics` recorder is process-global).
fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(CHOSEN_NAMESPACE.get_or_init(|| NAMESPACE.to_string()).clone())
            .init()
            .expect("the metrics recorder is installed once per process");
        metrics::describe_histogram!("JobDuration", metrics::Unit::Milliseconds, "how long a job run took");
        metrics::describe_counter!("JobRows", metrics::Unit::Count, "rows in the job's output");
        collector
    })
}

impl MetricsSink {
    /// Writes everything recorded since the last flush as one EMF line, with `properties`.
    fn flush(&self, properties: &[(&'static str, String)]) {
        let collector = collector();
        for (name, value) in properties {
            collector.set_property(*name, value.clone());
        }
        let result = match self {
            MetricsSink::Stdout => {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                collector.flush(&mut lock).and_then(|_| lock.flush())
            }
            MetricsSink::Buffer(buffer) => collector.flush(&mut *buffer.lock().unwrap()),
        };
        for (name, _) in properties {
            collector.remove_property(*name);
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write metrics");
        }
    }

    /// A finished job run: its duration, rows and outcome, by job.
    pub fn job_run(&self, run: &JobRunMetrics<'_>) {
        collector();
        let job = run.job.to_string();
        metrics::histogram!("JobDuration", "Job" => job.clone()).record(run.duration_ms as f64);
        metrics::counter!("JobRows", "Job" => job.clone()).increment(run.rows);
        let outcome = if run.succeeded { "JobSucceeded" } else { "JobFailed" };
        metrics::counter!(outcome, "Job" => job).increment(1);
        if !run.succeeded {
            // Every job's failures in one metric, which an alarm watches: the second path a
            // failure takes to the operators, beside the Job Failed event's rule.
            metrics::counter!("JobsFailed").increment(1);
        }
        self.flush(&[
            ("RunId", run.run_id.to_string()),
            ("Trigger", run.trigger.to_string()),
            ("CorrelationId", run.correlation_id.unwrap_or_default().to_string()),
            ("AsOf", run.as_of.to_string()),
        ]);
    }

    /// A handled ESR export command: the file's record count, or `None` when it failed.
    pub fn esr_export(&self, deanery: &str, kind: &str, records: Option<usize>) {
        collector();
        match records {
            Some(records) => {
                metrics::counter!("EsrFilesExported", "Deanery" => deanery.to_string()).increment(1);
                metrics::counter!("EsrRecordsExported", "Deanery" => deanery.to_string()).increment(records as u64);
            }
            None => metrics::counter!("EsrCommandsFailed", "Deanery" => deanery.to_string()).increment(1),
        }
        self.flush(&[("Kind", kind.to_string())]);
    }

    /// What the watchdog found, and that it reported at all (`WatchdogReported`, the heartbeat
    /// whose absence has an alarm: a watchdog that fails writes none of these).
    pub fn watchdog(
        &self,
        jobs_missed: usize,
        esr_records_overdue: u64,
        esr_files_missing: usize,
        esr_files_not_uploaded: usize,
    ) {
        collector();
        metrics::gauge!("JobsMissed").set(jobs_missed as f64);
        metrics::gauge!("EsrRecordsOverdue").set(esr_records_overdue as f64);
        metrics::gauge!("EsrFilesMissing").set(esr_files_missing as f64);
        metrics::gauge!("EsrFilesNotUploaded").set(esr_files_not_uploaded as f64);
        metrics::counter!("WatchdogReported").increment(1);
        self.flush(&[]);
    }
}

pub struct JobRunMetrics<'a> {
    pub job: &'a str,
    pub run_id: uuid::Uuid,
    pub trigger: &'a str,
    pub correlation_id: Option<&'a str>,
    pub as_of: chrono::NaiveDate,
    pub duration_ms: u64,
    pub rows: u64,
    pub succeeded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test in this binary that writes metrics: the namespace is the process's, set
    /// once before the first line, as a function's init does.
    #[test]
    fn a_failed_run_is_counted_for_its_job_and_in_all_under_the_stacks_namespace() {
        set_namespace(Some("TisSync/tis-sync-stage"));
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let run = |succeeded| JobRunMetrics {
            job: "person-owner-rebuild",
            run_id: uuid::Uuid::new_v4(),
            trigger: "schedule",
            correlation_id: None,
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap(),
            duration_ms: 1200,
            rows: 10,
            succeeded,
        };
        let sink = MetricsSink::Buffer(buffer.clone());
        sink.job_run(&run(true));
        sink.job_run(&run(false));
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let namespaces: Vec<&str> =
            lines.iter().map(|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"].as_str().unwrap()).collect();
        assert!(!namespaces.is_empty() && namespaces.iter().all(|n| *n == "TisSync/tis-sync-stage"), "{namespaces:?}");
        let total: f64 = lines.iter().filter_map(|l| l["JobsFailed"].as_f64()).sum();
        assert_eq!(total, 1.0, "one failure, counted once: {text}");
        assert!(
            lines.iter().any(|l| l["JobFailed"].as_f64() == Some(1.0) && l["Job"] == "person-owner-rebuild"),
            "{text}"
        );
    }
}
