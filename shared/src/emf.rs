//! CloudWatch metrics in embedded metric format (EMF), through the `metrics` facade and the
//! `metrics_cloudwatch_embedded` backend: each job run, each ESR batch and each watchdog check
//! writes one EMF line to its sink (stdout in Lambda, where CloudWatch Logs turns it into
//! metrics). Namespace `TisSync`; the job or deanery is the dimension; run id, trigger and
//! correlation id ride along as properties, so a metric leads back to its logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use metrics_cloudwatch_embedded::Collector;

pub const NAMESPACE: &str = "TisSync";

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
            .cloudwatch_namespace(NAMESPACE)
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
