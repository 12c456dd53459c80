//! End to end on the local cloud: template.yaml deployed to the local AWS emulator, the
//! functions run by `cargo lambda watch`, operated as schedules and operators do (`make test`
//! brings it up: infra/local/cloud.sh up test). Only the Lambda, SQS, EventBridge and S3 APIs
//! are used to drive it; the ledger, the index and the bucket say what happened.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use integration_tests::aws;
use serde_json::{json, Value};
use shared::db::Database;
use tokio::sync::Mutex;
use tokio_postgres::Client;

/// The tests share one deployed stack and database: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

struct Cloud {
    env: BTreeMap<String, String>,
    outputs: Value,
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    eventbridge: aws_sdk_eventbridge::Client,
    db: shared::db::Session,
}

impl Cloud {
    async fn connect() -> Cloud {
        let env = integration_tests::cloud_env();
        let outputs: Value = serde_json::from_str(&std::fs::read_to_string(&env["TIS_SYNC_OUTPUTS"]).unwrap()).unwrap();
        let config = aws::config_at(&env["TIS_SYNC_MINISTACK_URL"]).await;
        let db = Database::from_url(&env["DATABASE_URL"]).unwrap().connect("tis-sync-test:cloud").await.unwrap();
        Cloud {
            lambda: aws_sdk_lambda::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
            ),
            eventbridge: aws_sdk_eventbridge::Client::new(&config),
            env,
            outputs,
            db,
        }
    }

    fn c(&self) -> &Client {
        &self.db.client
    }

    fn output(&self, key: &str) -> String {
        self.outputs[key].as_str().unwrap_or_else(|| panic!("output {key}")).to_string()
    }

    /// Invokes `<stack>-<name>` through the Lambda API; answers (function error?, payload).
    async fn invoke(&self, name: &str, payload: Value, asynchronously: bool) -> (Option<String>, Value) {
        let answer = self
            .lambda
            .invoke()
            .function_name(format!("{}-{name}", self.env["TIS_SYNC_STACK"]))
            .invocation_type(if asynchronously { InvocationType::Event } else { InvocationType::RequestResponse })
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .unwrap();
        let body = answer.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
        (answer.function_error().map(String::from), serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn seed(&self, persons: i64) {
        let database = Database::from_url(&self.env["DATABASE_URL"]).unwrap();
        let mut session = database.connect("tis-sync-test:seed").await.unwrap();
        seed::seed(&mut session.client, persons, 11).await.unwrap();
    }

    /// Ledger rows for the date: (job, trigger, status).
    async fn runs(&self, as_of: &str) -> Vec<(String, String, String)> {
        self.c()
            .query(
                "SELECT job, trigger, status FROM sync.job_run WHERE as_of = $1::text::date ORDER BY started_at",
                &[&as_of],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    /// A queue of the test's own, receiving what a rule on the job bus matches.
    async fn capture(&self, pattern: Value) -> String {
        let name = format!("cloud-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let queue = aws::queue(&self.sqs, &name).await;
        let arn = aws::queue_arn(&self.sqs, &queue).await;
        aws::route_to_queue(&self.eventbridge, &self.output("JobEventBusName"), &name, &pattern, &arn).await;
        queue
    }
}

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn row(job: &str, trigger: &str, status: &str) -> (String, String, String) {
    (job.into(), trigger.into(), status.into())
}

#[tokio::test]
async fn the_nightly_graph_runs_to_completion_through_eventbridge_alone() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    cloud.seed(150).await;
    // A night of this month (a schedule's date more than 31 days old is refused as stale), and
    // no other test's date.
    let night = (chrono::Utc::now().date_naive() - chrono::Duration::days(2)).to_string();
    // Only the heads are invoked, with their schedules' input; everything else follows events.
    for head in sync_core::graph::heads() {
        let at = head.schedule.expect("a head has a schedule").at;
        let payload = json!({"trigger": "schedule", "scheduledTime": format!("{night}T{at}:00Z")});
        let (error, _) = cloud.invoke(head.job.as_str(), payload, true).await;
        assert_eq!(error, None);
    }
    let jobs = sync_core::graph::GRAPH.len();
    let runs = eventually("every job to succeed for the night", Duration::from_secs(120), || async {
        let runs = cloud.runs(&night).await;
        let succeeded = runs.iter().filter(|(_, _, s)| s == "succeeded").count();
        (succeeded >= jobs).then_some(runs)
    })
    .await;
    let succeeded: Vec<_> = runs.iter().filter(|(_, _, s)| s == "succeeded").cloned().collect();
    let mut expected = vec![
        row("person-owner-rebuild", "schedule", "succeeded"),
        row("person-placement-employing-body-trust", "schedule", "succeeded"),
        row("post-employing-body-trust", "schedule", "succeeded"),
        row("person-record-status", "schedule", "succeeded"),
        row("post-funding-status", "schedule", "succeeded"),
        row("reval-current-pm-sync", "schedule", "succeeded"),
        row("reval-current-placement-sync", "schedule", "succeeded"),
        row("person-placement-training-body-trust", "follow-up", "succeeded"),
        row("post-training-body-trust", "follow-up", "succeeded"),
        row("person-elasticsearch-sync", "follow-up", "succeeded"),
        row("post-elasticsearch-sync", "follow-up", "succeeded"),
    ];
    let mut got = succeeded.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "each job succeeded once: {runs:?}");
    // Every other index run was deferred while it waited for its predecessors.
    assert!(runs
        .iter()
        .filter(|(job, _, _)| job.ends_with("-elasticsearch-sync"))
        .all(|(_, _, status)| status == "succeeded" || status == "deferred"));
    // Each index behind its alias holds every person TCS's person query selects (those with
    // contact details), every post.
    let persons = seed::persons_with_contact_details(150, 11) as i64;
    for (alias, expected) in [("persons", persons), ("posts", 35)] {
        let url = format!("{}/{alias}/_count", cloud.env["OPENSEARCH_URL"]);
        let count = eventually("the index count", Duration::from_secs(10), || async {
            let body = tokio::task::spawn_blocking({
                let url = url.clone();
                move || std::process::Command::new("curl").args(["-s", &url]).output().unwrap().stdout
            })
            .await
            .unwrap();
            serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["count"].as_i64())
        })
        .await;
        assert_eq!(count, expected, "{alias}");
    }
    // Each index run said how far it was, the last time with everything sent.
    let log =
        std::fs::read_to_string(std::path::Path::new(&cloud.env["TIS_SYNC_OUTPUTS"]).with_file_name("functions.log"))
            .unwrap();
    for (job, documents) in [("person-elasticsearch-sync", persons), ("post-elasticsearch-sync", 35)] {
        let done = log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|l| {
            l["job"] == job
                && l["asOf"] == night.as_str()
                && l["documents_sent"] == documents
                && l["documents_total"] == documents
                && l["seconds_left"] == 0
                && l["per_second"].is_u64()
        });
        assert!(done, "{job} logged its progress to the end");
    }
}

#[tokio::test]
async fn a_failed_job_publishes_job_failed_and_starts_no_follow_up() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    cloud.seed(40).await;
    let failures = cloud.capture(json!({"source": ["tis.sync"], "detail-type": ["Job Failed"]})).await;
    cloud.c().batch_execute("ALTER TABLE tcs.post_trust RENAME TO post_trust_away").await.unwrap();
    let (error, answer) =
        cloud.invoke("post-employing-body-trust", json!({"asOf": "2024-08-05", "allowDistantAsOf": true}), false).await;
    cloud.c().batch_execute("ALTER TABLE tcs.post_trust_away RENAME TO post_trust").await.unwrap();
    assert!(error.is_some(), "the invocation failed: {answer}");
    // The emulator wraps the function's error answer in its own; the function's errorType is inside.
    let text = answer.to_string();
    assert!(answer["errorType"] == "JobFailed" || text.contains(r#"\"errorType\":\"JobFailed\""#), "{answer}");
    let events = aws::drain(&cloud.sqs, &failures, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["job"], "post-employing-body-trust");
    assert!(events[0]["detail"]["error"].as_str().unwrap().contains("post_trust"), "{}", events[0]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = cloud.runs("2024-08-05").await;
    assert_eq!(runs.last(), Some(&row("post-employing-body-trust", "manual", "failed")));
    assert!(runs.iter().all(|(job, _, _)| job == "post-employing-body-trust"), "no follow-up ran: {runs:?}");
}

#[tokio::test]
async fn a_poison_esr_command_ends_in_the_dlq_while_good_ones_are_exported() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    let queue = cloud.output("EsrCommandQueueUrl");
    let dlq = cloud.output("EsrCommandDeadLetterQueueUrl");
    // Test-only: retries after 2 s instead of the template's 6 minutes.
    cloud
        .sqs
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .unwrap();
    cloud
        .c()
        .execute(
            "INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_number, start_date, applicant)
             VALUES (990001, 1, 'WES', 'W/1', '2024-08-10', '{\"lastName\": \"Cloud\"}')
             ON CONFLICT (id) DO NOTHING",
            &[],
        )
        .await
        .unwrap();
    let poison = "{\"deanery\": \"WES\", \"date\": \"not-a-date\"}";
    let batch = [
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id("good")
            .message_body(json!({"deanery": "WES", "date": "2024-08-06", "kind": "app"}).to_string())
            .build()
            .unwrap(),
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder().id("poison").message_body(poison).build().unwrap(),
    ];
    cloud.sqs.send_message_batch().queue_url(&queue).set_entries(Some(batch.to_vec())).send().await.unwrap();

    let file: String = eventually("the good command's file", Duration::from_secs(60), || async {
        cloud
            .c()
            .query_opt("SELECT file_name FROM esr.export_file WHERE deanery = 'WES' AND run_date = '2024-08-06'", &[])
            .await
            .unwrap()
            .map(|r| r.get(0))
    })
    .await;
    let bucket = cloud.output("EsrExportBucketName");
    let object = cloud.s3.get_object().bucket(&bucket).key(format!("exports/{file}")).send().await.unwrap();
    let content = String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(content.contains("|Cloud|"), "{content}");
    let dead = eventually("the poison command in the DLQ", Duration::from_secs(90), || async {
        let messages = aws::drain_raw(&cloud.sqs, &dlq, 0).await;
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(dead, vec![poison.to_string()]);
}

#[tokio::test]
async fn a_deployed_schedule_really_fires() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    // The test cloud dispatches ESR app files every minute (EsrAppFilesSchedule): the schedule
    // invokes the dispatch function, whose commands go through the queue to the exporter.
    let deaneries: i64 = eventually("a file for every active deanery today", Duration::from_secs(150), || async {
        let n: i64 = cloud
            .c()
            .query_one(
                "SELECT count(DISTINCT deanery) FROM esr.export_file WHERE kind = 'app' AND run_date = current_date",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (n == 13).then_some(n)
    })
    .await;
    assert_eq!(deaneries, 13);
}

/// Every JSON line a run logs in Lambda carries the runtime's request id and X-Ray trace id
/// beside the run's own fields, all at the top level (what Logs Insights queries by).
#[tokio::test]
async fn every_log_line_of_a_run_carries_the_request_and_trace_ids() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    cloud.seed(20).await;
    let (error, answer) =
        cloud.invoke("post-employing-body-trust", json!({"asOf": "2024-08-06", "allowDistantAsOf": true}), false).await;
    assert!(error.is_none(), "{answer}");
    let run_id = answer["runId"].as_str().expect("the answer names its run").to_string();
    // cargo lambda watch writes what the functions print to the cloud's functions.log.
    let log = std::path::Path::new(&cloud.env["TIS_SYNC_OUTPUTS"]).with_file_name("functions.log");
    let lines: Vec<Value> = eventually("the run's log lines", Duration::from_secs(10), || {
        let log = log.clone();
        let run_id = run_id.clone();
        async move {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|l| l["runId"] == run_id.as_str())
                .collect();
            (lines.iter().any(|l| l["message"] == "run succeeded")).then_some(lines)
        }
    })
    .await;
    assert!(lines.len() >= 2, "{lines:?}");
    let request_id = lines[0]["requestId"].as_str().expect("requestId at the top level").to_string();
    assert!(!request_id.is_empty());
    for line in &lines {
        assert_eq!(line["requestId"], request_id.as_str(), "one request: {line}");
        assert!(line["xrayTraceId"].as_str().is_some_and(|t| t.starts_with("Root=1-")), "{line}");
        assert_eq!(line["job"], "post-employing-body-trust", "{line}");
        assert_eq!(line["asOf"], "2024-08-06", "{line}");
        assert_eq!(line["trigger"], "manual", "{line}");
        assert!(line.get("correlationId").is_some(), "{line}");
        assert!(line["level"].is_string() && line["message"].is_string(), "{line}");
    }
}

/// `tis-sync invoke FUNCTION --event FILE` against the local cloud: the answer, or the error.
fn invoke_event(cloud: &Cloud, function: &str, file: &std::path::Path) -> Value {
    let binary = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("tis-sync");
    let output = std::process::Command::new(binary)
        .args(["invoke", function, "--event"])
        .arg(file)
        .envs(&cloud.env)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{function} {}: {stderr}", file.display());
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{function}: the answer is JSON ({e})"))
}

/// Every file in events/ (the runbook's console actions) replayed through its function with
/// `tis-sync invoke`, each answer checked, and no file left out.
#[tokio::test]
async fn every_console_event_in_events_replays_through_its_function() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    cloud.seed(30).await;
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"));
    let files: std::collections::BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .flat_map(|dir| std::fs::read_dir(dir.unwrap().path()).into_iter().flatten())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(files.len() >= 12, "{files:?}");
    let unreplayed = std::cell::RefCell::new(files);
    let replayed =
        |file: &str| assert!(unreplayed.borrow_mut().remove(file), "events/{file} exists and is replayed once");
    let replay = |function: &str, file: &str| {
        replayed(file);
        invoke_event(&cloud, function, &root.join(file))
    };
    let today = chrono::Utc::now().date_naive().to_string();
    // A job without follow-ups, so nothing else starts.
    const FEED: &str = "reval-current-pm-sync";

    let run = replay(FEED, "job/today.json");
    assert_eq!((run["status"].as_str(), run["asOf"].as_str()), (Some("succeeded"), Some(today.as_str())), "{run}");
    let run = replay(FEED, "job/as-of.json");
    assert_eq!((run["status"].as_str(), run["asOf"].as_str()), (Some("succeeded"), Some("2024-07-01")), "{run}");
    // The template's schedule input as it stands: Scheduler puts the time in; from the console
    // the placeholder stays, and the run is today's.
    let run = replay(FEED, "job/schedule.json");
    assert_eq!(run["trigger"], "schedule", "{run}");
    assert_eq!(run["asOf"], today.as_str(), "{run}");
    assert!(matches!(run["status"].as_str(), Some("succeeded" | "duplicate")), "{run}");
    let paused = replay(FEED, "job/pause.json");
    assert_eq!(
        (paused["paused"].as_bool(), paused["pause"]["reason"].as_str()),
        (Some(true), Some("TCS data fix until Monday"))
    );
    let resumed = replay(FEED, "job/resume.json");
    assert_eq!(resumed["paused"], false, "{resumed}");
    // A job with a follow-up: the file asks for the job alone.
    let run = replay("post-employing-body-trust", "job/job-only.json");
    assert_eq!((run["status"].as_str(), run["followUps"].as_bool()), (Some("succeeded"), Some(false)), "{run}");
    assert_eq!(run["triggered"], json!([]), "{run}");

    // The envelope a rule delivers, naming a real run of the predecessor (as RUNBOOK.md, "Run a job out of schedule", says).
    // Its rule delivers the same envelope first: the replay is then the same delivery, which
    // is answered with the run that took it, never run twice.
    let (error, predecessor) =
        cloud.invoke("post-employing-body-trust", json!({"asOf": "2024-07-01", "allowDistantAsOf": true}), false).await;
    assert!(error.is_none(), "{predecessor}");
    let predecessor_started = predecessor["startedAt"].as_str().unwrap().to_string();
    let delivered: uuid::Uuid = eventually("the rule's follow-up run", Duration::from_secs(60), || async {
        let row = cloud
            .c()
            .query_opt(
                "SELECT run_id FROM sync.job_run WHERE job = 'post-training-body-trust' AND as_of = '2024-07-01'
                   AND trigger = 'follow-up' AND status = 'succeeded' AND started_at > $1::text::timestamptz",
                &[&predecessor_started],
            )
            .await
            .unwrap();
        row.map(|r| r.get(0))
    })
    .await;
    let mut envelope: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("job/job-succeeded.json")).unwrap()).unwrap();
    envelope["detail"]["runId"] = predecessor["runId"].clone();
    let real = std::env::temp_dir().join(format!("job-succeeded-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&real, envelope.to_string()).unwrap();
    replayed("job/job-succeeded.json");
    let run = invoke_event(&cloud, "post-training-body-trust", &real);
    std::fs::remove_file(&real).unwrap();
    assert_eq!(
        (run["status"].as_str(), run["trigger"].as_str(), run["asOf"].as_str()),
        (Some("duplicate"), Some("follow-up"), Some("2024-07-01")),
        "{run}"
    );
    assert_eq!(run["runId"], delivered.to_string(), "the run that took the delivery: {run}");

    let sent = replay("esr-export-dispatch", "esr-export-dispatch/one-deanery.json");
    assert_eq!(sent["commands"].as_array().map(Vec::len), Some(1), "{sent}");
    assert_eq!(
        (sent["commands"][0]["deanery"].as_str(), sent["commands"][0]["force"].as_bool()),
        (Some("LDN"), Some(false))
    );
    let sent = replay("esr-export-dispatch", "esr-export-dispatch/forced.json");
    assert_eq!(sent["commands"][0]["force"], true, "{sent}");
    let forced_command =
        sent["commands"][0]["commandId"].as_str().expect("a forced command has an identity").to_string();

    // The watchdog's round with every job paused: it reports them and starts nothing.
    for job in sync_core::JobName::ALL {
        shared::ledger::pause(cloud.c(), job, "the events replay").await.unwrap();
    }
    for file in ["sync-watchdog/today.json", "sync-watchdog/as-of.json"] {
        let report = replay("sync-watchdog", file);
        let states: Vec<&str> =
            report["jobs"].as_array().unwrap().iter().map(|j| j["state"].as_str().unwrap()).collect();
        assert_eq!(states, vec!["paused"; sync_core::JobName::ALL.len()], "{file}: {report}");
    }
    for job in sync_core::JobName::ALL {
        shared::ledger::resume(cloud.c(), job).await.unwrap();
    }

    // The deployed migrate function, as the owner: the TCS tables check out, nothing is pending.
    let migrated = replay("sync-migrate", "sync-migrate/migrate.json");
    assert_eq!(
        (migrated["applied"].clone(), migrated["tcsTablesChecked"].as_u64()),
        (json!([]), Some(sync_core::tcs::TABLES.len() as u64)),
        "{migrated}"
    );
    let (error, answer) = cloud.invoke("sync-migrate", json!({"tcsFixture": true}), false).await;
    assert!(error.is_some(), "the fixture is refused in the cloud: {answer}");
    // The local runtime wraps the function's own error (errorType, errorMessage) in its message.
    let refusal = answer["errorMessage"].as_str().unwrap_or_default();
    assert!(refusal.contains("InvalidInput") && refusal.contains("sync-migrate takes {}"), "{answer}");

    let status = replay("sync-status", "sync-status/status.json");
    assert_eq!(status["jobs"].as_array().map(Vec::len), Some(sync_core::JobName::ALL.len()), "{status}");
    assert!(unreplayed.borrow().is_empty(), "events not replayed by this test: {:?}", unreplayed.borrow());

    // What the events set going finishes before the next test: the day's LDN file and the
    // forced one are made, and no run (the follow-up's own follow-up) is left running.
    eventually("the day's LDN file of 2024-07-01 and the forced one", Duration::from_secs(60), || async {
        let row = cloud
            .c()
            .query_one(
                "SELECT count(*) FILTER (WHERE NOT forced), count(*) FILTER (WHERE command_id = $1)
                 FROM esr.export_file WHERE deanery = 'LDN' AND run_date = '2024-07-01' AND kind = 'app'",
                &[&forced_command],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0) == 1 && row.get::<_, i64>(1) == 1).then_some(())
    })
    .await;
    eventually("no run left running", Duration::from_secs(60), || async {
        let running: i64 = cloud
            .c()
            .query_one("SELECT count(*) FROM sync.job_run WHERE status = 'running'", &[])
            .await
            .unwrap()
            .get(0);
        (running == 0).then_some(())
    })
    .await;
}

/// `tis-sync preflight` against the local cloud: (succeeded, stdout, stderr).
fn preflight(cloud: &Cloud) -> (bool, String, String) {
    let binary = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("tis-sync");
    let output =
        std::process::Command::new(binary).arg("preflight").envs(&cloud.env).env("RUST_LOG", "warn").output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// sync-preflight invoked as the console does (`{}`): its report, passed or failed (as its
/// error), or what it answered instead.
async fn preflight_report(cloud: &Cloud) -> Result<sync_core::preflight::Report, Value> {
    let (error, answer) = cloud.invoke("sync-preflight", json!({}), false).await;
    let report = match error {
        None => answer,
        Some(_) => {
            let error = shared::error::function_error(answer);
            if error["errorType"] != shared::error::PREFLIGHT_FAILED {
                return Err(error);
            }
            serde_json::from_str(error["errorMessage"].as_str().unwrap_or_default()).map_err(|_| error)?
        }
    };
    serde_json::from_value(report.clone()).map_err(|_| report)
}

/// The deployed stack passes its preflight, and the report covers every function from inside
/// it and the stack's own checks.
#[tokio::test]
async fn the_preflight_passes_on_the_stack_as_deployed_and_checks_every_function_from_inside() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    let (succeeded, stdout, stderr) = preflight(&cloud);
    assert!(succeeded, "{stderr}");
    let report: sync_core::preflight::Report = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.failed, 0);
    let scopes: std::collections::BTreeSet<&str> = report.checks.iter().map(|c| c.scope.as_str()).collect();
    for function in sync_core::Function::ALL {
        assert!(scopes.contains(function.name()), "{} checked: {scopes:?}", function.name());
        let what = |w: &str| report.checks.iter().any(|c| c.scope == function.name() && c.what == w);
        assert!(what("database"), "{} reaches the database", function.name());
        if function.database_role().is_some() {
            assert!(what("database grants"), "{} holds its grants", function.name());
        }
    }
    for what in ["schedules", "account concurrency", "TCS tables"] {
        assert!(report.checks.iter().any(|c| c.scope == "stack" && c.what == what), "{what}");
    }
    assert!(stderr.contains("ok"), "the table of checks is shown: {stderr}");
}

/// A running function's secret deleted: the deployed preflight fails, and the function's own
/// checks (what it answers sync-preflight's probe with; the emulator cuts a relayed error at 512
/// bytes, so they are read here in-process) name the secret and how to make it. A function
/// that starts cold without its secret fails init instead: the preflight's row for it is
/// "starts", pointing at its log, which names the secret.
#[tokio::test]
async fn the_preflight_names_a_missing_secret_and_how_to_make_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    // Every function started with its secret (as in an account after the deploy's first night).
    assert_eq!(preflight_report(&cloud).await.unwrap().failed, 0);
    let secrets = aws_sdk_secretsmanager::Client::new(&aws::config_at(&cloud.env["TIS_SYNC_MINISTACK_URL"]).await);
    let id = format!("{}esr-intake", cloud.env["DATABASE_SECRET_PREFIX"]);
    let value = secrets.get_secret_value().secret_id(&id).send().await.unwrap().secret_string().unwrap().to_string();
    secrets.delete_secret().secret_id(&id).force_delete_without_recovery(true).send().await.unwrap();

    let (succeeded, _, stderr) = preflight(&cloud);
    let context = crate::preflight::context_of(&[], None).await;
    let checks = shared::preflight::function_checks(&context, sync_core::Function::EsrIntake).await;
    secrets.create_secret().name(&id).secret_string(value).send().await.unwrap();

    assert!(!succeeded, "{stderr}");
    assert!(stderr.contains("PreflightFailed"), "{stderr}");
    let secret = checks.iter().find(|c| c.what == "secret").unwrap();
    assert!(!secret.passed && secret.detail.contains(&id), "{secret:?}");
    assert!(secret.fix.as_deref().unwrap().contains("tis-sync logins"), "{secret:?}");
    assert_eq!(preflight_report(&cloud).await.unwrap().failed, 0, "passes again once the secret is back");
}

/// A grant revoked by hand since the migrations: the preflight names the role and the statement
/// that gives it back, and that statement, run, makes it pass.
#[tokio::test]
async fn the_preflight_names_a_revoked_grant_with_the_statement_that_restores_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cloud = Cloud::connect().await;
    let role = "tis_sync_person_owner_rebuild";
    let row = cloud
        .c()
        .query_one(
            "SELECT object, privilege FROM sync.role_grant
              WHERE role = $1 AND object LIKE 'tcs.%' AND object NOT LIKE '%(%' ORDER BY 1, 2 LIMIT 1",
            &[&role],
        )
        .await
        .unwrap();
    let (object, privilege): (String, String) = (row.get(0), row.get(1));
    cloud.c().batch_execute(&format!("REVOKE {privilege} ON {object} FROM {role}")).await.unwrap();

    let (succeeded, _, stderr) = preflight(&cloud);
    let report = preflight_report(&cloud).await;
    let regrant = sync_core::preflight::regrant(role, &object, &privilege);
    // Given back as the fix says, whatever the assertions find.
    cloud.c().batch_execute(&regrant).await.unwrap();

    assert!(!succeeded && stderr.contains("1 of") && stderr.contains(&regrant), "{stderr}");
    let report = report.unwrap();
    let failed = &report.checks;
    let restore = failed[0].fix.clone().unwrap_or_default();
    assert_eq!((failed.len(), report.failed), (1, 1), "{failed:#?}");
    assert_eq!((failed[0].scope.as_str(), failed[0].what.as_str()), ("person-owner-rebuild", "database grants"));
    assert!(restore.contains(&regrant), "the fix is the statement: {restore}");
    assert_eq!(preflight_report(&cloud).await.unwrap().failed, 0, "passes again once granted");
}
