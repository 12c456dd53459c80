//! The preflight: what sync-preflight (console `{}`, `tis-sync preflight`) answers after a deploy,
//! a table of checks of every path the functions need, each failure naming its fix. Each
//! function checks its own paths from inside (its role, its subnets, its secret: the probe
//! event below); sync-preflight invokes each one with it and adds what is the stack's as a
//! whole (the schedules, the account's concurrency, the TCS tables).

use serde::{Deserialize, Serialize};

/// The event every function answers with its own checks instead of its work: `{"preflight": true}`.
pub const PROBE_KEY: &str = "preflight";

/// Whether an event is the preflight's probe.
pub fn is_probe(event: &serde_json::Value) -> bool {
    event.as_object().is_some_and(|o| o.len() == 1 && o.get(PROBE_KEY) == Some(&serde_json::Value::Bool(true)))
}

pub fn probe() -> serde_json::Value {
    serde_json::json!({ PROBE_KEY: true })
}

/// One check: where (the function, or `stack`), what, whether it passed, what was found, and for
/// a failure what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub scope: String,
    pub what: String,
    pub passed: bool,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn passed(scope: impl Into<String>, what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { scope: scope.into(), what: what.into(), passed: true, detail: detail.into(), fix: None }
    }

    pub fn failed(
        scope: impl Into<String>,
        what: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check { scope: scope.into(), what: what.into(), passed: false, detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// The preflight's answer: its checks, how many were made and how many failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub checks: Vec<Check>,
    pub checked: usize,
    pub failed: usize,
}

impl Report {
    pub fn new(checks: Vec<Check>) -> Report {
        let failed = checks.iter().filter(|c| !c.passed).count();
        Report { checked: checks.len(), checks, failed }
    }

    /// The failed checks alone, with the counts: what a failed preflight answers, so the
    /// console's error shows what to fix first (every check is in the function's log).
    pub fn failures(&self) -> Report {
        let checks: Vec<Check> = self.checks.iter().filter(|c| !c.passed).cloned().collect();
        Report { checks, checked: self.checked, failed: self.failed }
    }
}

/// The most functions of the stack that run at once on a night (the 13 units `ReservedConcurrency`
/// reserves; a test holds the two equal): with nothing reserved they share the account's
/// unreserved concurrency, which must hold them.
pub const PEAK_CONCURRENCY: i32 = 13;

/// The account's concurrency, as `GetAccountSettings` answers it.
pub fn concurrency(unreserved: i32, limit: i32) -> Check {
    let detail = format!("{unreserved} unreserved of the account's {limit} concurrent executions");
    if unreserved >= PEAK_CONCURRENCY {
        Check::passed("stack", "account concurrency", detail)
    } else {
        Check::failed(
            "stack",
            "account concurrency",
            detail,
            format!(
                "the stack runs up to {PEAK_CONCURRENCY} functions at once: ask Service Quotas for more Lambda \
                 concurrent executions (RUNBOOK, First deploy into an account, step 2)"
            ),
        )
    }
}

/// A grant a function's role had when the migrations last ran and lacks now, as the statement
/// that gives it back (`object` is `schema.table` or `schema.table(column)`).
pub fn regrant(role: &str, object: &str, privilege: &str) -> String {
    match object.split_once('(') {
        Some((table, column)) => format!("GRANT {privilege} ({column} ON {table} TO {role}"),
        None => format!("GRANT {privilege} ON {object} TO {role}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_report_answers_its_failures_with_the_counts() {
        let report = Report::new(vec![
            Check::passed("a", "secret", "readable"),
            Check::failed("b", "secret", "missing", "make it"),
            Check::passed("c", "secret", "readable"),
        ]);
        assert_eq!((report.checked, report.failed), (3, 1));
        let failures = report.failures();
        assert_eq!(failures.checks, vec![Check::failed("b", "secret", "missing", "make it")]);
        assert_eq!((failures.checked, failures.failed), (3, 1));
    }

    #[test]
    fn only_the_probe_is_a_probe() {
        assert!(is_probe(&probe()));
        for other in [
            serde_json::json!({}),
            serde_json::json!({"preflight": false}),
            serde_json::json!({"preflight": true, "asOf": "2026-12-05"}),
            serde_json::json!({"Records": []}),
        ] {
            assert!(!is_probe(&other), "{other}");
        }
    }

    #[test]
    fn the_account_must_hold_the_stacks_peak() {
        assert!(concurrency(PEAK_CONCURRENCY, 1000).passed);
        let short = concurrency(10, 10);
        assert!(!short.passed);
        assert!(short.fix.unwrap().contains("Service Quotas"));
    }

    #[test]
    fn a_lost_grant_is_given_back_by_table_or_column() {
        assert_eq!(regrant("r", "esr.export_file", "UPDATE"), "GRANT UPDATE ON esr.export_file TO r");
        assert_eq!(regrant("r", "tcs.person(status)", "UPDATE"), "GRANT UPDATE (status) ON tcs.person TO r");
    }

    #[test]
    fn the_report_counts_its_failures() {
        let report =
            Report::new(vec![Check::passed("stack", "a", "ok"), Check::failed("esr-export", "b", "no", "do this")]);
        assert_eq!(report.failed, 1);
    }
}
