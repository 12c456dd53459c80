//! The `tis-sync` binary: machine output on stdout, one clear error line on stderr and a
//! non-zero exit for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

use integration_tests::TestDb;
use serde_json::Value;

/// The workspace's built `tis-sync` (make test builds every binary before testing).
fn tis_sync() -> Command {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // deps/
    dir.pop(); // debug/
    let binary: PathBuf = dir.join("tis-sync");
    assert!(binary.exists(), "{} is missing: build the workspace first (make test does)", binary.display());
    let mut command = Command::new(binary);
    command.env_remove("EVENT_BUS_NAME").env("RUST_LOG", "warn");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error")).collect()
}

#[tokio::test]
async fn migrate_seed_run_status_work_end_to_end() {
    let db = TestDb::new().await;
    let (out, stdout, stderr) = run(tis_sync().args(["migrate", "--tcs-fixture"]).env("DATABASE_URL", &db.url));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["applied"], serde_json::json!([]));

    let (out, stdout, stderr) =
        run(tis_sync().args(["seed", "--persons", "120", "--seed", "5"]).env("DATABASE_URL", &db.url));
    assert!(out.status.success(), "{stderr}");
    let seeded: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(seeded["persons"], 120);

    let (out, stdout, stderr) = run(tis_sync()
        .args(["run", "person-owner-rebuild", "--as-of", "2024-08-04", "--allow-distant-as-of", "--no-follow-ups"])
        .env("DATABASE_URL", &db.url));
    assert!(out.status.success(), "{stderr}");
    let ran: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ran["runs"][0]["status"], "succeeded");
    assert_eq!(ran["runs"][0]["asOf"], "2024-08-04");
    assert_eq!(ran["runs"][0]["rows"], 120);

    let (out, stdout, stderr) = run(tis_sync().arg("status").env("DATABASE_URL", &db.url));
    assert!(out.status.success(), "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["jobs"][0]["job"], "person-owner-rebuild");
    assert_eq!(status["jobs"][0]["lastRun"]["status"], "succeeded");
    assert_eq!(status["jobs"][0]["runningNow"], false);
    assert!(stderr.contains("person-owner-rebuild"), "a table for humans on stderr: {stderr}");
    let header = stderr.lines().next().unwrap();
    for column in ["started (UTC)", "ms", "last success (UTC)", "live as of"] {
        assert!(header.contains(column), "the table shows {column}: {header}");
    }
    let owner = stderr.lines().find(|l| l.starts_with("person-owner-rebuild")).unwrap();
    let finished = status["jobs"][0]["lastSuccess"]["finishedAt"].as_str().unwrap();
    assert!(owner.contains(&finished[..19].replace('T', " ")), "last success {finished}: {owner}");
    assert!(owner.contains("2024-08-04"), "live as of: {owner}");

    // The history: newest first, one job's or every job's, as many as asked.
    let (out, _, stderr) = run(tis_sync()
        .args(["run", "person-owner-rebuild", "--as-of", "2024-08-05", "--allow-distant-as-of", "--no-follow-ups"])
        .env("DATABASE_URL", &db.url));
    assert!(out.status.success(), "{stderr}");
    let runs = |args: &[&str]| {
        let (out, stdout, stderr) = run(tis_sync().arg("runs").args(args).env("DATABASE_URL", &db.url));
        assert!(out.status.success(), "{stderr}");
        let runs: Value = serde_json::from_str(&stdout).unwrap();
        (runs["runs"].as_array().unwrap().clone(), stderr)
    };
    let (all, table) = runs(&[]);
    let as_of: Vec<&str> = all.iter().map(|r| r["asOf"].as_str().unwrap()).collect();
    assert_eq!(as_of, ["2024-08-05", "2024-08-04"], "newest first");
    assert!(all.iter().all(|r| r["job"] == "person-owner-rebuild" && r["status"] == "succeeded"));
    assert_eq!(table.lines().count(), 3, "a header and a line per run: {table}");
    let (last, _) = runs(&["person-owner-rebuild", "--last", "1"]);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["asOf"], "2024-08-05");
    let (none, _) = runs(&["post-funding-status"]);
    assert!(none.is_empty(), "{none:?}");
    let (out, _, stderr) = run(tis_sync().args(["runs", "--last", "0"]).env("DATABASE_URL", &db.url));
    assert!(!out.status.success());
    assert!(error_lines(&stderr)[0].contains("--last"), "{stderr}");
}

#[tokio::test]
async fn seeding_is_reproducible_for_a_seed() {
    let db = TestDb::new().await;
    let fingerprint = || async {
        let c = db.client().await;
        let row = c
            .client
            .query_one(
                "SELECT (SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM tcs.placement p),
                        (SELECT md5(string_agg(m::text, ',' ORDER BY uuid)) FROM tcs.programme_membership m)",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, String>(0), row.get::<_, String>(1))
    };
    for seed in ["5", "5"] {
        let (out, _, stderr) =
            run(tis_sync().args(["seed", "--persons", "80", "--seed", seed]).env("DATABASE_URL", &db.url));
        assert!(out.status.success(), "{stderr}");
    }
    let first = fingerprint().await;
    run(tis_sync().args(["seed", "--persons", "80", "--seed", "5"]).env("DATABASE_URL", &db.url));
    assert_eq!(fingerprint().await, first, "same seed, same data");
    run(tis_sync().args(["seed", "--persons", "80", "--seed", "6"]).env("DATABASE_URL", &db.url));
    assert_ne!(fingerprint().await, first, "another seed, other data");
}

/// clap refuses an unknown job or kind, with the list, before anything runs; `--help` lists them.
#[tokio::test]
async fn an_unknown_job_or_kind_is_refused_with_the_list_and_help_lists_them() {
    let db = TestDb::new().await;
    let (out, stdout, stderr) = run(tis_sync().args(["run", "person-owner"]).env("DATABASE_URL", &db.url));
    assert!(!out.status.success());
    assert!(stdout.is_empty());
    assert_eq!(error_lines(&stderr), ["error: invalid value 'person-owner' for '<JOB>'"], "{stderr}");
    let listed = format!("[possible values: {}]", sync_core::JobName::ALL.map(|j| j.as_str()).join(", "));
    assert!(stderr.contains(&listed), "{stderr}");
    let (out, _, stderr) =
        run(tis_sync().args(["esr", "export", "--deanery", "KSS", "--kind", "dnc"]).env("DATABASE_URL", &db.url));
    assert!(!out.status.success());
    assert_eq!(error_lines(&stderr), ["error: invalid value 'dnc' for '--kind <KIND>'"], "{stderr}");
    assert!(stderr.contains("[possible values: app, notification]"), "{stderr}");
    for help in [vec!["run", "--help"], vec!["pause", "--help"], vec!["resume", "--help"]] {
        let (out, stdout, _) = run(tis_sync().args(&help));
        assert!(out.status.success());
        assert!(stdout.contains(&listed), "{help:?}: {stdout}");
    }
    let (_, stdout, _) = run(tis_sync().args(["esr", "dispatch", "--help"]));
    assert!(stdout.contains("[possible values: app, notification]"), "{stdout}");
    let c = db.client().await;
    let runs: i64 = c.client.query_one("SELECT count(*) FROM sync.job_run", &[]).await.unwrap().get(0);
    assert_eq!(runs, 0, "nothing ran");
}

#[tokio::test]
async fn a_bad_date_is_one_clear_line_and_a_failure() {
    let db = TestDb::new().await;
    let (out, _, stderr) =
        run(tis_sync().args(["run", "person-owner-rebuild", "--as-of", "2024-8-40"]).env("DATABASE_URL", &db.url));
    assert!(!out.status.success());
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("--as-of '2024-8-40' is not a date"), "{stderr}");
    let c = db.client().await;
    let runs: i64 = c.client.query_one("SELECT count(*) FROM sync.job_run", &[]).await.unwrap().get(0);
    assert_eq!(runs, 0, "nothing ran");
}

#[tokio::test]
async fn an_unreachable_database_is_one_clear_line_and_a_failure() {
    let (out, stdout, stderr) = run(tis_sync()
        .arg("status")
        .env("DATABASE_URL", "postgres://nobody:x@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2"));
    assert!(!out.status.success());
    assert!(stdout.is_empty());
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("connecting to database nowhere at 127.0.0.1:1"), "{stderr}");
    assert!(!lines[0].contains(":x@"), "no password in the message: {stderr}");
}

#[tokio::test]
async fn missing_database_settings_are_named() {
    let (out, _, stderr) =
        run(tis_sync().arg("status").env_remove("DATABASE_URL").env_remove("DATABASE_SECRET_PREFIX"));
    assert!(!out.status.success());
    assert_eq!(error_lines(&stderr).len(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[tokio::test]
async fn an_unknown_deanery_or_bad_date_for_an_export_is_one_clear_line() {
    let db = TestDb::new().await;
    let esr = |args: &[&str]| {
        let mut command = tis_sync();
        command
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("ESR_EXPORT_BUCKET", "unused")
            .env("AWS_REGION", "eu-west-2")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        run(&mut command)
    };
    let (out, _, stderr) = esr(&["esr", "export", "--deanery", "XYZ"]);
    assert!(!out.status.success());
    assert_eq!(error_lines(&stderr), ["error: invalid input: unknown deanery XYZ"], "{stderr}");
    let (out, _, stderr) = esr(&["esr", "export", "--deanery", "LDN", "--date", "2021-07-31"]);
    assert!(!out.status.success());
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("--date 2021-07-31 is") && lines[0].contains("--allow-distant-date"), "{stderr}");
    let (out, _, stderr) = esr(&["esr", "export", "--deanery", "LDN", "--date", "2021-13-01"]);
    assert!(!out.status.success());
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("'2021-13-01' is not a date"), "{stderr}");
    let c = db.client().await;
    let files: i64 = c.client.query_one("SELECT count(*) FROM esr.export_file", &[]).await.unwrap().get(0);
    assert_eq!(files, 0, "nothing was written");
}

/// `tis-sync graph` is what scripts read instead of a copy of the graph: it must be the graph.
#[tokio::test]
async fn the_graph_command_prints_the_job_graph_without_a_database() {
    let (out, stdout, stderr) = run(tis_sync().arg("graph").env_remove("DATABASE_URL"));
    assert!(out.status.success(), "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let jobs = printed["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), sync_core::graph::GRAPH.len());
    for (node, printed) in sync_core::graph::GRAPH.iter().zip(jobs) {
        assert_eq!(printed["job"], node.job.as_str());
        assert_eq!(printed["schedule"]["at"].as_str(), node.schedule.map(|s| s.at));
        let follow_ups: Vec<&str> = node.follow_ups.iter().map(|j| j.as_str()).collect();
        assert_eq!(printed["followUps"], serde_json::json!(follow_ups));
    }
}

/// Every table of what follows what (RUNBOOK.md's, docs/jobs.md's) is `tis-sync graph --format
/// markdown`, verbatim, under its marker.
#[test]
fn every_table_of_the_jobs_is_the_graph_commands_output() {
    let (out, table, stderr) = run(tis_sync().args(["graph", "--format", "markdown"]).env_remove("DATABASE_URL"));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(table.lines().count(), sync_core::graph::GRAPH.len() + 2, "a header, its rule and a row per job");
    let marker = "<!-- tis-sync graph --format markdown -->\n";
    for document in ["RUNBOOK.md", "docs/jobs.md"] {
        let text = std::fs::read_to_string(format!("{}/../{document}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let start =
            text.find(marker).unwrap_or_else(|| panic!("{document} marks its table of the jobs")) + marker.len();
        let held: String =
            text[start..].lines().take_while(|line| line.starts_with('|')).map(|line| format!("{line}\n")).collect();
        assert_eq!(
            held, table,
            "{document}'s table is out of date: paste `tis-sync graph --format markdown` under the marker"
        );
    }
}

/// The README's diagram of the job graph is `tis-sync graph --format mermaid`, verbatim, and the
/// DOT form draws the same graph.
#[test]
fn the_readme_diagram_is_the_graph_commands_output() {
    let (out, mermaid, stderr) = run(tis_sync().args(["graph", "--format", "mermaid"]).env_remove("DATABASE_URL"));
    assert!(out.status.success(), "{stderr}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let begin = "<!-- tis-sync graph --format mermaid -->\n```mermaid\n";
    let start = readme.find(begin).expect("the README marks its job-graph diagram") + begin.len();
    let drawn = &readme[start..start + readme[start..].find("```").expect("the diagram ends")];
    assert_eq!(
        drawn, mermaid,
        "the README's job graph is out of date: paste `tis-sync graph --format mermaid` under the marker"
    );
    let (out, dot, _) = run(tis_sync().args(["graph", "--format", "dot"]).env_remove("DATABASE_URL"));
    assert!(out.status.success());
    assert!(dot.starts_with("digraph jobs {") && dot.trim_end().ends_with('}'), "{dot}");
    let edges: usize = sync_core::graph::GRAPH.iter().map(|n| n.follow_ups.len()).sum();
    assert_eq!(dot.matches(" -> ").count(), edges + sync_core::graph::heads().len(), "{dot}");
}

/// The cutover step (RUNBOOK.md, "Cutover from the Java service"): the file numbers continue
/// from the old exporter's counter, once; a number already taken, or a lower one, is refused
/// with the numbers in the message, and nothing changes.
#[tokio::test]
async fn the_file_numbers_continue_from_the_old_exporters_and_never_go_backwards() {
    let db = TestDb::new().await;
    let sequence = |kind: &str, from: &str| {
        run(tis_sync().args(["esr", "sequence", "--kind", kind, "--continue-from", from]).env("DATABASE_URL", &db.url))
    };
    let (out, stdout, stderr) = sequence("app", "3801");
    assert!(out.status.success(), "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((answer["previousLast"].as_i64(), answer["next"].as_i64()), (Some(0), Some(3801)));
    let (out, _, stderr) = sequence("app", "3800");
    assert!(!out.status.success());
    assert_eq!(
        error_lines(&stderr),
        ["error: invalid input: the app files are numbered up to 3800 already: the next is 3801, and continuing from 3800 would go backwards"]
    );
    let (out, _, _) = sequence("notification", "12");
    assert!(out.status.success());
    let c = db.client().await;
    let counters: Vec<(String, i64)> = c
        .client
        .query("SELECT kind, last_sequence FROM esr.file_counter ORDER BY kind", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(counters, [("app".to_string(), 3800), ("notification".to_string(), 11)]);
}

/// The JSON documents of `text`, in order (each starts on a line of its own with `{`).
fn json_documents(text: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line == "{" {
            current = Some(String::new());
        }
        if let Some(document) = current.as_mut() {
            document.push_str(line);
            document.push('\n');
            if line == "}" {
                documents.push(serde_json::from_str(document).unwrap());
                current = None;
            }
        }
    }
    documents
}

#[tokio::test]
async fn opensearch_access_prints_the_domains_policy_and_roles_for_the_deployed_names() {
    let domain = "arn:aws:es:eu-west-2:111122223333:domain/tis";
    let arn = |f: &str| format!("arn:aws:iam::111122223333:role/stage-{f}-Role");
    let mut command = tis_sync();
    command.args(["opensearch-access", "--domain-arn", domain, "--function-prefix", "stage-"]);
    command.args(["--persons-alias", "persons-stage"]);
    for function in ["person-elasticsearch-sync", "post-elasticsearch-sync", "sync-status"] {
        command.args(["--role", &format!("{function}={}", arn(function))]);
    }
    let (output, stdout, stderr) = run(&mut command);
    assert!(output.status.success(), "{stderr}");
    let documents = json_documents(&stdout);
    // The policy, then a role and its mapping for each of the three.
    assert_eq!(documents.len(), 7, "{stdout}");
    let statements = documents[0]["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 3);
    for statement in statements {
        assert_eq!(statement["Resource"], format!("{domain}/*"));
        assert_eq!(statement["Effect"], "Allow");
    }
    assert_eq!(statements[2]["Principal"]["AWS"], arn("sync-status"));
    assert_eq!(statements[2]["Action"], serde_json::json!(["es:ESHttpGet"]));
    assert!(stdout.contains("PUT _plugins/_security/api/roles/stage-person-elasticsearch-sync\n"), "{stdout}");
    assert_eq!(documents[1]["index_permissions"][0]["index_patterns"], serde_json::json!(["persons-stage-*"]));
    assert_eq!(documents[2]["backend_roles"], serde_json::json!([arn("person-elasticsearch-sync")]));

    // A function of the domain left out is named, and nothing is printed.
    let mut missing = tis_sync();
    missing.args(["opensearch-access", "--domain-arn", domain, "--function-prefix", "stage-"]);
    missing.args(["--role", &format!("sync-status={}", arn("sync-status"))]);
    let (output, stdout, stderr) = run(&mut missing);
    assert!(!output.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        error_lines(&stderr),
        ["error: invalid input: --role person-elasticsearch-sync=ARN is missing"],
        "{stderr}"
    );
}
