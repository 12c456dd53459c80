//! Operations: the watchdog on hand-made ledgers, the status answer on a known ledger, and the
//! EMF metrics lines of a successful and a failed run.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use integration_tests::{date, TestDb};
use serde_json::{json, Value};
use shared::emf::MetricsSink;
use shared::events::EventPublisher;
use shared::runner::RunRequest;
use shared::watchdog::{Watchdog, WatchdogReport};
use sync_core::JobName::{self, *};
use tis_sync::InProcessRunner;
use tokio_postgres::Client;

const AS_OF: &str = "2024-08-04";

fn seven_am() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-08-04T07:00:00Z").unwrap().with_timezone(&Utc)
}

async fn ledger_row(c: &Client, job: JobName, as_of: &str, status: &str, error: Option<&str>) {
    c.execute(
        "INSERT INTO sync.job_run (run_id, job, trigger, as_of, follow_ups, status, started_at, finished_at, rows, error)
         VALUES (gen_random_uuid(), $1, 'schedule', $2::text::date, true, $3, now() - interval '6 hours', now() - interval '6 hours', 10, $4)",
        &[&job.as_str(), &as_of, &status, &error],
    )
    .await
    .unwrap();
}

async fn all_succeeded_except(c: &Client, except: &[JobName]) {
    for job in JobName::ALL {
        if !except.contains(&job) {
            ledger_row(c, job, AS_OF, "succeeded", None).await;
        }
    }
}

async fn runs_since_setup(c: &Client) -> Vec<(String, String, String)> {
    c.query(
        "SELECT job, trigger, status FROM sync.job_run WHERE started_at > now() - interval '1 hour' ORDER BY started_at",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

async fn watch(db: &TestDb) -> WatchdogReport {
    let catch_up = InProcessRunner::new(integration_tests::with_search(db, db.runner()));
    let events = EventPublisher::disabled();
    let watchdog = Watchdog {
        db: &db.database,
        events: &events,
        catch_up: &catch_up,
        metrics: None,
        dispatches: Default::default(),
        jobs: sync_core::JobName::ALL.to_vec(),
    };
    watchdog.check(date(AS_OF), seven_am()).await.unwrap()
}

/// A run of `job` started `minutes` ago and holding the job's lock, as the runner holds it (its
/// session named after it); answers the session and the run id.
async fn hold_as_a_run(db: &TestDb, job: JobName, minutes: i32) -> (shared::db::Session, uuid::Uuid) {
    let holder = db.client().await;
    let run_id: uuid::Uuid = holder
        .client
        .query_one(
            "INSERT INTO sync.job_run (run_id, job, trigger, as_of, follow_ups, status, started_at)
             VALUES (gen_random_uuid(), $1, 'schedule', $2::text::date, true, 'running', now() - make_interval(mins => $3))
             RETURNING run_id",
            &[&job.as_str(), &AS_OF, &minutes],
        )
        .await
        .unwrap()
        .get(0);
    let name = shared::ledger::holder_name(run_id);
    holder.client.batch_execute(&format!("SET application_name = '{name}'")).await.unwrap();
    holder
        .client
        .execute("SELECT pg_advisory_lock(hashtextextended('tis-sync job ' || $1, 0))", &[&job.as_str()])
        .await
        .unwrap();
    (holder, run_id)
}

fn states(report: &WatchdogReport) -> Vec<(JobName, &'static str)> {
    report.jobs.iter().map(|c| (c.job, c.state)).collect()
}

async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    seed::seed(&mut db.client().await.client, 30, 3).await.unwrap();
    db
}

#[tokio::test]
async fn nothing_missing_means_no_action() {
    let db = seeded().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[]).await;
    let report = watch(&db).await;
    assert!(report.jobs.iter().all(|j| j.state == "ok" && j.action.is_none()), "{:?}", report.jobs);
    assert!(runs_since_setup(&c.client).await.is_empty(), "nothing was started");
    assert!(report.summary.starts_with("2024-08-04: 0 job(s) missed"), "{}", report.summary);
}

#[tokio::test]
async fn a_head_job_that_never_ran_is_started_with_its_follow_ups() {
    let db = seeded().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[PostEmployingBodyTrust, PostTrainingBodyTrust]).await;
    let report = watch(&db).await;
    let missed: Vec<_> = states(&report).into_iter().filter(|(_, s)| *s == "missed").collect();
    assert_eq!(missed, vec![(PostEmployingBodyTrust, "missed"), (PostTrainingBodyTrust, "missed")]);
    let head = report.jobs.iter().find(|j| j.job == PostEmployingBodyTrust).unwrap();
    assert!(head.action.as_deref().unwrap().starts_with("started again"), "{head:?}");
    let follower = report.jobs.iter().find(|j| j.job == PostTrainingBodyTrust).unwrap();
    assert!(follower.action.as_deref().unwrap().contains("follows post-employing-body-trust"), "{follower:?}");
    assert_eq!(
        runs_since_setup(&c.client).await,
        vec![
            ("post-employing-body-trust".into(), "catch-up".into(), "succeeded".into()),
            ("post-training-body-trust".into(), "follow-up".into(), "succeeded".into()),
            ("post-elasticsearch-sync".into(), "follow-up".into(), "succeeded".into()),
        ]
    );
}

#[tokio::test]
async fn a_job_running_now_is_left_alone() {
    let db = seeded().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[PersonOwnerRebuild]).await;
    let _holder = hold_as_a_run(&db, PersonOwnerRebuild, 1).await;
    let report = watch(&db).await;
    assert!(states(&report).contains(&(PersonOwnerRebuild, "running")));
    assert_eq!(
        runs_since_setup(&c.client).await,
        [("person-owner-rebuild".into(), "schedule".into(), "running".into())],
        "nothing was started beside the run"
    );
}

#[tokio::test]
async fn a_failed_job_is_run_again_and_its_follow_ups_after_it() {
    let db = seeded().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[PersonOwnerRebuild, PersonElasticsearchSync]).await;
    ledger_row(&c.client, PersonOwnerRebuild, AS_OF, "failed", Some("connection lost")).await;
    let report = watch(&db).await;
    let owner = report.jobs.iter().find(|j| j.job == PersonOwnerRebuild).unwrap();
    assert_eq!(owner.state, "missed");
    assert!(owner.reason.as_deref().unwrap().contains("failed: connection lost"), "{owner:?}");
    assert_eq!(
        runs_since_setup(&c.client).await,
        vec![
            ("person-owner-rebuild".into(), "catch-up".into(), "succeeded".into()),
            ("person-elasticsearch-sync".into(), "follow-up".into(), "succeeded".into()),
        ]
    );
}

async fn esr_file(c: &Client, deanery: &str, run_date: &str, created: &str, sequence: i64) -> String {
    let name = format!("DE_{deanery}_APP_{}_{sequence:08}.DAT", run_date.replace('-', ""));
    c.execute(
        "INSERT INTO esr.export_file (deanery, kind, run_date, sequence, file_name, content, record_ids, placement_ids, created_at)
         VALUES ($1, 'app', $2::text::date, $3, $4, '', '{}', '{}', $5::text::timestamptz)",
        &[&deanery, &run_date, &sequence, &name, &created],
    )
    .await
    .unwrap();
    name
}

async fn waiting_record(c: &Client, id: i64, deanery: &str, start: &str, created: &str) {
    c.execute(
        "INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_number, start_date, created_at)
         VALUES ($1, $1, $2, 'P1', $3::text::date, $4::text::timestamptz)",
        &[&id, &deanery, &start, &created],
    )
    .await
    .unwrap();
}

/// The invariant (docs/esr-export.md "Invariants"): every record waiting is ahead of a scheduled
/// run that will take it, or reported, with the run date to re-send. At 07:00 on 4 August the
/// latest run due is 3 August's; 4 August's will take start dates from the 6th.
#[tokio::test]
async fn every_esr_record_waiting_is_ahead_of_a_run_that_will_take_it_or_reported() {
    let db = TestDb::new().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[]).await;
    // LDN: 3 August's command was lost (no file); its record starting on the 5th never went.
    esr_file(&c.client, "LDN", "2024-08-02", "2024-08-02T13:01:00Z", 1).await;
    waiting_record(&c.client, 1, "LDN", "2024-08-05", "2024-08-01T10:00:00Z").await;
    // MER: an operator re-sent today's export instead of yesterday's: the re-send's window starts
    // on the 6th, so the record starting on the 5th is still left behind.
    esr_file(&c.client, "MER", "2024-08-02", "2024-08-02T13:01:00Z", 2).await;
    esr_file(&c.client, "MER", "2024-08-04", "2024-08-04T06:30:00Z", 3).await;
    waiting_record(&c.client, 2, "MER", "2024-08-05", "2024-08-01T10:00:00Z").await;
    // SEV: a record that arrived after its last chance (after 3 August's file, starting on the
    // 4th), and one switched back to TO_EXPORT after that file though created long before,
    // starting on the 20th: 4 August's run takes it, so it is not reported.
    esr_file(&c.client, "SEV", "2024-08-03", "2024-08-03T13:01:00Z", 4).await;
    waiting_record(&c.client, 3, "SEV", "2024-08-04", "2024-08-03T18:00:00Z").await;
    waiting_record(&c.client, 4, "SEV", "2024-08-20", "2024-07-01T10:00:00Z").await;
    c.client
        .execute("UPDATE esr.generated_app_record SET updated_at = '2024-08-03T18:00:00Z' WHERE id = 4", &[])
        .await
        .unwrap();
    // Ahead: starting on the 6th (4 August's run is its last chance) and next year.
    waiting_record(&c.client, 5, "LDN", "2024-08-06", "2024-08-01T10:00:00Z").await;
    waiting_record(&c.client, 6, "LDN", "2025-08-10", "2024-08-01T10:00:00Z").await;

    let report = watch(&db).await;
    let found: Vec<(&str, i64, String, String)> = report
        .esr_overdue
        .iter()
        .map(|o| (o.deanery.as_str(), o.records, o.earliest_start_date.to_string(), o.resend_run_date.to_string()))
        .collect();
    assert_eq!(
        found,
        [
            ("LDN", 1, "2024-08-05".into(), "2024-08-03".into()),
            ("MER", 1, "2024-08-05".into(), "2024-08-03".into()),
            ("SEV", 1, "2024-08-04".into(), "2024-08-02".into()),
        ]
    );
    assert!(report.esr_overdue.iter().all(|o| o.kind == sync_core::esr::Kind::App));
    assert!(report.summary.contains("3 record(s) overdue"), "{}", report.summary);
    let missing_app: Vec<&str> = report
        .esr_missing_files
        .iter()
        .filter(|m| m.kind == sync_core::esr::Kind::App)
        .map(|m| m.deanery.as_str())
        .collect();
    assert_eq!(missing_app.len(), 12, "{missing_app:?}");
    assert!(!missing_app.contains(&"SEV"));
    assert!(report.esr_missing_files.iter().all(|m| m.run_date.to_string() == "2024-08-03"));
}

/// The watchdog's ESR query is bounded by the records waiting, not by the records ever exported:
/// at 200,000 exported records its plan reads the waiting records' partial index only.
#[tokio::test]
async fn the_watchdogs_esr_query_reads_only_the_waiting_records_however_many_were_exported() {
    let db = TestDb::new().await;
    let c = db.client().await;
    c.client
        .batch_execute(
            "INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_number, start_date, status, export_file)
             SELECT g, g, (ARRAY['LDN','MER','SEV','KSS'])[1 + g % 4], 'P' || g % 500, DATE '2020-01-01' + g % 1500,
                    'EXPORTED', 'DE_LDN_APP_' || g / 40
             FROM generate_series(1, 200000) g;
             INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_number, start_date)
             SELECT g, g, 'LDN', 'P1', DATE '2024-08-01' + g % 30 FROM generate_series(200001, 200200) g;
             ANALYZE esr.generated_app_record;",
        )
        .await
        .unwrap();
    let sql = shared::watchdog::overdue_records_sql(sync_core::esr::Kind::App);
    let plan: Value =
        c.client.query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[&date("2024-08-06")]).await.unwrap().get(0);
    let text = plan.to_string();
    assert!(!text.contains("\"Seq Scan\""), "a full scan of the records: {text}");
    assert!(!text.contains("SubPlan"), "a query per record: {text}");
    assert!(text.contains("generated_app_record_waiting"), "the waiting records' index: {text}");
    let overdue =
        shared::watchdog::overdue_records(&c.client, sync_core::esr::Kind::App, date("2024-08-03")).await.unwrap();
    let starting_before_the_6th = (200_001..=200_200).filter(|g| g % 30 < 5).count() as i64;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].records, starting_before_the_6th, "the 1st to the 5th of August are left behind");
}

/// A watchdog stuck on a lock fails within its statement timeout, and writes no heartbeat.
#[tokio::test]
async fn a_stuck_watchdog_fails_within_its_statement_timeout_and_writes_no_heartbeat() {
    let db = TestDb::new().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[]).await;
    let mut holder = db.client().await;
    let lock = holder.client.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE esr.generated_app_record IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let started = std::time::Instant::now();
    let (report, lines) = watch_with_metrics(&db).await;
    let waited = started.elapsed();
    lock.rollback().await.unwrap();
    let error = report.unwrap_err().to_string();
    assert!(error.contains("statement timeout"), "{error}");
    assert!(error.contains("left behind"), "names what it was doing: {error}");
    let timeout = std::time::Duration::from_millis(shared::watchdog::STATEMENT_TIMEOUT_MS.into());
    assert!(waited >= timeout && waited < timeout * 3, "gave up after {waited:?}");
    assert!(lines.iter().all(|l| l.get("WatchdogReported").is_none()), "no heartbeat: {lines:?}");
}

#[tokio::test]
async fn the_status_answer_on_a_known_ledger() {
    let db = TestDb::new().await;
    let c = db.client().await;
    ledger_row(&c.client, PersonOwnerRebuild, "2024-08-03", "succeeded", None).await;
    ledger_row(&c.client, PersonOwnerRebuild, AS_OF, "failed", Some("boom")).await;
    let today = Utc::now().date_naive().to_string();
    esr_file(&c.client, "LDN", &today, &Utc::now().to_rfc3339(), 9).await;
    waiting_record(&c.client, 1, "LDN", "2030-01-01", "2024-08-01T00:00:00Z").await;

    let status = shared::status::status(&c.client, Utc::now().date_naive(), Some(2), None).await.unwrap();
    let answer = serde_json::to_value(&status).unwrap();
    let owner = &answer["jobs"][0];
    assert_eq!(owner["job"], "person-owner-rebuild");
    assert_eq!(owner["lastRun"]["status"], "failed");
    assert_eq!(owner["lastRun"]["error"], "boom");
    assert_eq!(owner["lastRun"]["asOf"], AS_OF);
    assert_eq!(owner["lastSuccess"]["asOf"], "2024-08-03");
    assert_eq!(owner["runningNow"], false);
    assert_eq!(answer["jobs"][5]["lastRun"], Value::Null, "a job that never ran");
    let deaneries = answer["esr"]["deaneries"].as_array().unwrap();
    assert_eq!(deaneries.len(), 13);
    let london = deaneries.iter().find(|d| d["deanery"] == "LDN").unwrap();
    assert_eq!(london["appFile"][0], format!("DE_LDN_APP_{}_00000009.DAT", today.replace('-', "")));
    assert_eq!(london["appWaiting"], 1);
    assert_eq!(london["notificationFile"], Value::Null);
    assert_eq!(answer["esr"]["deadLetterDepth"], 2);
}

/// The watchdog's check at 07:00 with its EMF lines kept: its answer and the lines it wrote.
async fn watch_with_metrics(db: &TestDb) -> (shared::Result<WatchdogReport>, Vec<Value>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let catch_up = InProcessRunner::new(db.runner());
    let events = EventPublisher::disabled();
    let sink = MetricsSink::Buffer(buffer.clone());
    let watchdog = Watchdog {
        db: &db.database,
        events: &events,
        catch_up: &catch_up,
        metrics: Some(&sink),
        dispatches: Default::default(),
        jobs: sync_core::JobName::ALL.to_vec(),
    };
    let report = watchdog.check(date(AS_OF), seven_am()).await;
    (report, emf_lines(&buffer))
}

fn emf_lines(buffer: &Arc<Mutex<Vec<u8>>>) -> Vec<Value> {
    let text = String::from_utf8(std::mem::take(&mut *buffer.lock().unwrap())).unwrap();
    text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

/// The EMF structure CloudWatch requires: `_aws.Timestamp`, one namespace, dimension sets that
/// name members present in the document, and a value for every declared metric.
fn assert_valid_emf(line: &Value) {
    let aws = &line["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some(), "{line}");
    let directive = &aws["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "TisSync", "{line}");
    for set in directive["Dimensions"].as_array().unwrap() {
        for dimension in set.as_array().unwrap() {
            assert!(line[dimension.as_str().unwrap()].is_string(), "dimension {dimension} has a value: {line}");
        }
    }
    for metric in directive["Metrics"].as_array().unwrap() {
        let name = metric["Name"].as_str().unwrap();
        assert!(line[name].is_number() || line[name].is_array(), "metric {name} has a value: {line}");
    }
}

fn metric_names(line: &Value) -> Vec<String> {
    let mut names: Vec<String> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_success_and_a_failure_write_valid_emf_metrics() {
    let db = TestDb::new().await;
    let c = db.client().await;
    seed::seed(&mut db.client().await.client, 25, 1).await.unwrap();
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let runner = db.runner().with_metrics(MetricsSink::Buffer(buffer.clone()));

    let mut request = RunRequest::manual(PersonOwnerRebuild);
    request.correlation_id = Some("night-42".into());
    let summary = runner.run(request).await.unwrap();
    let lines = emf_lines(&buffer);
    assert_eq!(lines.len(), 1);
    let success = &lines[0];
    assert_valid_emf(success);
    assert_eq!(success["Job"], "person-owner-rebuild");
    assert_eq!(metric_names(success), ["JobDuration", "JobRows", "JobSucceeded"]);
    assert_eq!(success["JobRows"], json!(25));
    assert_eq!(success["JobSucceeded"], json!(1));
    assert_eq!(success["RunId"], summary.run_id.to_string());
    assert_eq!((success["Trigger"].as_str(), success["CorrelationId"].as_str()), (Some("manual"), Some("night-42")));
    let units: Vec<&str> = success["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["Name"] == "JobDuration")
        .filter_map(|m| m["Unit"].as_str())
        .collect();
    assert_eq!(units, ["Milliseconds"]);

    c.client.batch_execute("ALTER TABLE tcs.post_trust RENAME TO gone").await.unwrap();
    runner.run(RunRequest::manual(PostEmployingBodyTrust)).await.unwrap_err();
    let lines = emf_lines(&buffer);
    // One document per dimension set: the job's, and every job's failures together (the
    // JobsFailed alarm's metric, with no dimension).
    assert_eq!(lines.len(), 2, "{lines:?}");
    let failure = lines.iter().find(|l| l["Job"].is_string()).expect("the job's line");
    assert_valid_emf(failure);
    assert_eq!(failure["Job"], "post-employing-body-trust");
    assert_eq!(metric_names(failure), ["JobDuration", "JobFailed"], "{failure}");
    assert_eq!(failure["JobFailed"], json!(1));
    let all = lines.iter().find(|l| l["Job"].is_null()).expect("the line of every job's failures");
    assert_valid_emf(all);
    assert_eq!(metric_names(all), ["JobsFailed"], "{all}");
    assert_eq!(all["JobsFailed"], json!(1));
}

#[tokio::test]
async fn a_stray_past_date_run_replacing_todays_output_is_put_right_by_the_watchdog() {
    let db = seeded().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[]).await;
    // An operator ran the owner job as of a month ago after today's run: that output is live now.
    c.client
        .execute(
            "INSERT INTO sync.job_run (run_id, job, trigger, as_of, follow_ups, status, started_at, finished_at, rows)
             VALUES (gen_random_uuid(), 'person-owner-rebuild', 'manual', '2024-07-01', false, 'succeeded',
                     now() - interval '2 hours', now() - interval '2 hours', 10)",
            &[],
        )
        .await
        .unwrap();
    let report = watch(&db).await;
    let owner = report.jobs.iter().find(|j| j.job == PersonOwnerRebuild).unwrap();
    assert_eq!(owner.state, "missed");
    assert!(owner.reason.as_deref().unwrap().contains("its live output is as of 2024-07-01"), "{owner:?}");
    assert!(owner.action.as_deref().unwrap().starts_with("started again"), "{owner:?}");
    assert_eq!(
        runs_since_setup(&c.client).await,
        vec![
            ("person-owner-rebuild".into(), "catch-up".into(), "succeeded".into()),
            ("person-elasticsearch-sync".into(), "follow-up".into(), "succeeded".into()),
        ]
    );
    let status = shared::ledger::status(&c.client).await.unwrap();
    assert_eq!(status[0].live_as_of, Some(date(AS_OF)), "today's output is live again");
}

#[tokio::test]
async fn a_paused_job_and_what_follows_it_are_left_alone_by_the_watchdog() {
    let db = seeded().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[PostEmployingBodyTrust, PostTrainingBodyTrust]).await;
    shared::ledger::pause(&c.client, PostEmployingBodyTrust, "TCS outage").await.unwrap();
    let report = watch(&db).await;
    assert!(states(&report).contains(&(PostEmployingBodyTrust, "paused")), "{:?}", report.jobs);
    assert!(states(&report).contains(&(PostTrainingBodyTrust, "held")), "{:?}", report.jobs);
    let paused = report.jobs.iter().find(|j| j.job == PostEmployingBodyTrust).unwrap();
    assert!(paused.reason.as_deref().unwrap().contains("TCS outage"), "{paused:?}");
    assert!(runs_since_setup(&c.client).await.is_empty(), "nothing was started");
    assert!(report.summary.contains("0 job(s) missed") && report.summary.contains("1 paused"), "{}", report.summary);
    let status = shared::ledger::status(&c.client).await.unwrap();
    let shown = status.iter().find(|s| s.job == PostEmployingBodyTrust).unwrap();
    assert_eq!(shown.paused.as_ref().map(|p| p.reason.as_str()), Some("TCS outage"), "status shows it");
}

#[tokio::test]
async fn a_paused_follow_up_is_not_started_by_its_predecessors_success() {
    let db = seeded().await;
    let c = db.client().await;
    shared::ledger::pause(&c.client, PostTrainingBodyTrust, "data fix").await.unwrap();
    let report = InProcessRunner::new(db.runner()).run(&[PostEmployingBodyTrust], date(AS_OF), true).await;
    let outcomes: Vec<(JobName, shared::runner::Outcome)> = report.runs.iter().map(|r| (r.job, r.status)).collect();
    assert_eq!(
        outcomes,
        vec![
            (PostEmployingBodyTrust, shared::runner::Outcome::Succeeded),
            (PostTrainingBodyTrust, shared::runner::Outcome::Deferred)
        ]
    );
    assert!(report.runs[1].warnings[0].contains("paused since"), "{:?}", report.runs[1].warnings);
    let training_rows: i64 = c
        .client
        .query_one("SELECT count(*) FROM tcs.post_trust WHERE source = 'training-body'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(training_rows, 0, "the paused job wrote nothing");
}

#[tokio::test]
async fn an_esr_file_recorded_but_not_uploaded_after_ten_minutes_is_a_finding() {
    let db = TestDb::new().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[]).await;
    let stranded = esr_file(&c.client, "LDN", "2024-08-04", "2024-08-04T06:45:00Z", 1).await;
    esr_file(&c.client, "MER", "2024-08-04", "2024-08-04T06:55:00Z", 2).await; // five minutes: still uploading
    let uploaded = esr_file(&c.client, "SEV", "2024-08-04", "2024-08-04T06:00:00Z", 3).await;
    c.client
        .execute("UPDATE esr.export_file SET uploaded_at = now() WHERE file_name = $1", &[&uploaded])
        .await
        .unwrap();
    let (report, lines) = watch_with_metrics(&db).await;
    let report = report.unwrap();
    let names: Vec<&str> = report.esr_not_uploaded.iter().map(|f| f.file_name.as_str()).collect();
    assert_eq!(names, [stranded.as_str()]);
    assert!(report.summary.contains("1 not uploaded"), "{}", report.summary);
    assert_eq!(lines[0]["EsrFilesNotUploaded"].as_f64(), Some(1.0), "the alarm's metric: {}", lines[0]);
    assert_eq!(lines[0]["WatchdogReported"].as_f64(), Some(1.0), "the heartbeat: {}", lines[0]);
}

/// At 07:00 a success whose Job Succeeded the bus never took is announced again, and what
/// follows it waits for that event instead of being started a second time by a catch-up.
#[tokio::test]
async fn the_watchdog_announces_a_success_the_bus_never_took_and_its_follow_ups_start_from_it() {
    let (eventbridge, bus, sqs, queue) =
        integration_tests::aws::bus_routed_to_a_queue(&json!({"source": ["tis.sync"]})).await;

    let db = TestDb::new().await;
    let c = db.client().await;
    // The night ran, but person-owner-rebuild's success was never announced, so the persons
    // index never started.
    all_succeeded_except(&c.client, &[PersonElasticsearchSync]).await;
    c.client
        .execute("UPDATE sync.job_run SET published_at = now() WHERE job <> 'person-owner-rebuild'", &[])
        .await
        .unwrap();
    let started = Mutex::new(Vec::new());
    struct Recording<'a>(&'a Mutex<Vec<JobName>>);
    impl shared::watchdog::CatchUp for Recording<'_> {
        async fn start(&self, job: JobName, _: chrono::NaiveDate) -> shared::Result<String> {
            self.0.lock().unwrap().push(job);
            Ok("recorded".into())
        }
    }
    let events = EventPublisher::new(eventbridge, bus);
    let watchdog = Watchdog {
        db: &db.database,
        events: &events,
        catch_up: &Recording(&started),
        metrics: None,
        dispatches: Default::default(),
        jobs: sync_core::JobName::ALL.to_vec(),
    };
    let report = watchdog.check(date(AS_OF), seven_am()).await.unwrap();

    let received = integration_tests::aws::drain(&sqs, &queue, 2).await;
    let succeeded: Vec<&str> = received
        .iter()
        .filter(|e| e["detail-type"] == "Job Succeeded")
        .map(|e| e["detail"]["job"].as_str().unwrap())
        .collect();
    assert_eq!(succeeded, ["person-owner-rebuild"], "announced again: {received:?}");
    assert!(started.lock().unwrap().is_empty(), "no catch-up beside the event: {:?}", started.lock().unwrap());
    let index = report.jobs.iter().find(|j| j.job == PersonElasticsearchSync).unwrap();
    assert_eq!(index.state, "missed");
    assert!(index.action.as_deref().unwrap().contains("announced just now"), "{index:?}");
    let unpublished: i64 =
        c.client.query_one("SELECT count(*) FROM sync.job_run WHERE published_at IS NULL", &[]).await.unwrap().get(0);
    assert_eq!(unpublished, 0);
}

/// A job's lock held past its function's timeout (a run that never let go, a lingering
/// session) means no run can start: the watchdog reports it stuck, naming the holder, rather
/// than "running" for ever; within the timeout it is running and left alone.
#[tokio::test]
async fn a_lock_held_past_the_functions_timeout_is_reported_stuck_with_its_holder() {
    let db = TestDb::new().await;
    let c = db.client().await;
    all_succeeded_except(&c.client, &[PersonOwnerRebuild, PostEmployingBodyTrust]).await;
    let holders =
        [hold_as_a_run(&db, PersonOwnerRebuild, 10).await, hold_as_a_run(&db, PostEmployingBodyTrust, 2).await];

    let report = watch(&db).await;
    let owner = report.jobs.iter().find(|j| j.job == PersonOwnerRebuild).unwrap();
    assert_eq!(owner.state, "stuck", "{owner:?}");
    let reason = owner.reason.as_deref().unwrap();
    assert!(reason.contains(&format!("run {}", holders[0].1)), "names the holding run: {reason}");
    assert!(reason.contains("past its function's 300 s timeout"), "{reason}");
    let trust = report.jobs.iter().find(|j| j.job == PostEmployingBodyTrust).unwrap();
    assert_eq!(trust.state, "running", "two minutes in: {trust:?}");
    assert!(report.summary.contains("1 job(s) missed (person-owner-rebuild)"), "{}", report.summary);
}
