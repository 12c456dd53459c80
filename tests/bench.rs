//! The benchmark cannot rot: a small-scale run completes and writes its report (its times are
//! not asserted: they are measurements, not pass marks).

use std::process::Command;

use integration_tests::{admin_url, aws, search_server};

#[test]
fn a_small_scale_benchmark_run_completes_and_writes_its_report() {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    dir.pop();
    let binary = dir.join("tis-sync-bench");
    let out = dir.join("bench-small");
    let status = Command::new(&binary)
        .args(["--scale", "small", "--runs", "2", "--legacy-rows", "1000", "--out"])
        .arg(&out)
        .env("TIS_SYNC_TEST_DATABASE_URL", admin_url())
        .env("OPENSEARCH_URL", search_server::url())
        .env("TIS_SYNC_MINISTACK_URL", aws::endpoint())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["jobs"].as_array().unwrap().len(), 9);
    for job in report["jobs"].as_array().unwrap() {
        assert!(job["rows"].as_u64().unwrap() > 0, "{job}");
        assert!(job["floor_ms"].as_u64().is_some() && job["legacy_ms"].as_u64().is_some(), "{job}");
        if job["job"].as_str().unwrap().starts_with("reval-") {
            // The feeds write no table: there is nothing for a reader to watch.
            assert!(job["reader_polls"].is_null(), "{job}");
            continue;
        }
        // The table was complete before the watched run: a reader never sees fewer rows.
        assert!(job["reader_polls"].as_u64().unwrap() > 0, "{job}");
        assert_eq!(job["reader_min_rows"].as_u64(), job["rows"].as_u64(), "{job}");
    }
    // Every function, the one binary told which it is, started and asked for its first event.
    for function in report["functions"].as_array().unwrap() {
        assert!(function["init_ms"].as_u64().is_some(), "{function}");
    }
    let indexes = report["indexes"].as_array().unwrap();
    assert_eq!(indexes[0]["job"], "person-elasticsearch-sync");
    // A document per person TCS's person query selects: those with contact details.
    assert_eq!(indexes[0]["documents"], seed::persons_with_contact_details(3000, 1), "a document per person");
    assert_eq!(indexes[1]["job"], "post-elasticsearch-sync");
    assert_eq!(indexes[1]["documents"], 700, "a document per post (3,000 persons have 700 posts)");
    assert_eq!(report["esr_burst"]["records_exported"], 39000, "every burst record exported");
    assert_eq!(report["esr_burst"]["exported_twice"], 0);
    // Ten times the incident (at this scale 1,000 records a deanery), twice: each record once.
    let tenfold = &report["esr_burst_tenfold"];
    assert_eq!((tenfold["rounds"].as_u64(), tenfold["round_ms"].as_array().map(Vec::len)), (Some(2), Some(2)));
    assert_eq!(tenfold["records_exported"], 26000, "{tenfold}");
    assert_eq!(tenfold["records_in_files"], 26000, "{tenfold}");
    assert_eq!((tenfold["exported_twice"].as_u64(), tenfold["failed"].as_u64()), (Some(0), Some(0)), "{tenfold}");
    assert!(tenfold["exporter_peak_rss_mb"].as_f64().unwrap() > 0.0, "each exporter's memory is measured");
    // Each index job against the bulk sink: the sink was sent every document, and the server
    // took the very same requests again without the job.
    let ceilings = report["index_ceilings"].as_array().unwrap();
    for (ceiling, (job, documents)) in ceilings.iter().zip([
        ("person-elasticsearch-sync", seed::persons_with_contact_details(3000, 1)),
        ("post-elasticsearch-sync", 700),
    ]) {
        assert_eq!(ceiling["job"], job);
        assert_eq!(ceiling["received"]["documents"], documents, "{ceiling}");
        assert!(ceiling["received"]["bytes"].as_u64().unwrap() > 100 * documents, "{ceiling}");
        assert!(ceiling["received"]["requests"].as_u64().unwrap() >= 1, "{ceiling}");
        assert_eq!(ceiling["stand_in"]["documents"], documents, "{ceiling}");
        assert_eq!(ceiling["stand_in"]["requests"], ceiling["received"]["requests"], "{ceiling}");
        assert!(ceiling["ratio_to_stand_in"].as_f64().unwrap() > 0.0, "{ceiling}");
        assert!(ceiling["query_ms"].is_u64(), "{ceiling}");
    }
    assert_eq!(ceilings.len(), 2);
    // The intake through its handler from a real queue, the per-message connection it replaced,
    // and the bare upserts: each took every message.
    for way in ["handler", "connection_per_message", "floor"] {
        let measured = &report["esr_intake"][way];
        assert_eq!(measured["messages"], 200, "{way}: {measured}");
        assert!(measured["per_second"].as_f64().unwrap() > 0.0, "{way}: {measured}");
    }
    assert!(report["night_budget_ms"].as_u64().unwrap() > 0);
    for job in report["jobs"].as_array().unwrap() {
        assert_eq!(job["ratios_to_floor"].as_array().map(Vec::len), Some(1), "a ratio per run after the first: {job}");
    }
    assert_eq!(report["functions"].as_array().unwrap().len(), sync_core::Function::ALL.len());
    // Every target of performance.md is judged in the report, whatever this run's figures.
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 12);
    let judged = |t: &serde_json::Value| t["met"].is_boolean();
    assert!(targets.iter().filter(|t| !judged(t)).all(|t| t["target"].as_str().unwrap().contains("bootstrap")));
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("| person-owner-rebuild |"), "{markdown}");
    assert!(markdown.contains("## Targets (performance.md)"), "{markdown}");
    let sink_line = format!(
        "| person-elasticsearch-sync against a bulk sink: {} documents",
        seed::persons_with_contact_details(3000, 1)
    );
    assert!(markdown.contains(&sink_line), "{markdown}");
    assert!(markdown.contains("| the night against its budget"), "{markdown}");
}
