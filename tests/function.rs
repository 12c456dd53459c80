//! The job function's handler answers the input shapes of contract.md (console, schedule,
//! follow-up, pause and resume) and rejects bad input with an error naming the problem; what
//! Lambda does and a local emulator does not (a run killed at its timeout, then its payload
//! delivered again; the invocation's deadline) is replayed here exactly.

use functions::{handle, JobAnswer};
use integration_tests::{date, wait_until_blocked, TestDb};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use shared::runner::{Outcome, RunRequest, RunSummary, Runner};
use sync_core::JobName;
use sync_core::Trigger;

const JOB: JobName = JobName::PersonOwnerRebuild;

pub(crate) fn event(payload: Value) -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.request_id = "req-1".into();
    LambdaEvent::new(payload, context)
}

/// Handles the event as a run and answers its summary.
pub(crate) async fn run(runner: &Runner, job: JobName, payload: Value) -> RunSummary {
    handle(runner, job, event(payload)).await.unwrap().run().expect("a run's summary")
}

/// A date `days` before today, as text: schedules' dates must be within the 31-day guard.
fn days_ago(days: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days)).to_string()
}

pub(crate) async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    seed::seed(&mut db.client().await.client, 40, 1).await.unwrap();
    db
}

#[tokio::test]
async fn console_event_runs_the_job_for_today_and_answers_a_summary() {
    let db = seeded().await;
    let summary = run(&db.runner(), JOB, json!({})).await;
    assert_eq!(summary.status, Outcome::Succeeded);
    assert_eq!(summary.trigger, Trigger::Manual);
    assert_eq!(summary.as_of, chrono::Utc::now().date_naive());
    assert_eq!(summary.rows, 40);
    let answer = serde_json::to_value(&summary).unwrap();
    for field in ["job", "runId", "status", "rows", "durationMs", "triggered"] {
        assert!(answer.get(field).is_some(), "the answer has {field}: {answer}");
    }
    assert_eq!(answer["job"], "person-owner-rebuild");
    // The invocation's request id correlates the run's logs and events.
    let c = db.client().await;
    let correlation: String = c.client.query_one("SELECT correlation_id FROM sync.job_run", &[]).await.unwrap().get(0);
    assert_eq!(correlation, "req-1");
}

#[tokio::test]
async fn console_event_with_as_of_and_no_follow_ups() {
    let db = seeded().await;
    let as_of = chrono::Utc::now().date_naive() - chrono::Duration::days(3);
    let summary = run(&db.runner(), JOB, json!({"asOf": as_of, "followUps": false})).await;
    assert_eq!(summary.as_of, as_of);
    assert!(!summary.follow_ups);
    assert!(
        summary.warnings.iter().any(|w| w.starts_with(&format!("as of {as_of}, not today"))),
        "a run for another date says so: {:?}",
        summary.warnings
    );
}

#[tokio::test]
async fn a_date_more_than_31_days_away_runs_only_when_the_input_says_so() {
    let db = seeded().await;
    let error = handle(&db.runner(), JOB, event(json!({"asOf": "2024-08-04"}))).await.unwrap_err();
    let diagnostic: Diagnostic = error.into();
    assert_eq!(diagnostic.error_type, "InvalidInput");
    assert!(diagnostic.error_message.contains("\"allowDistantAsOf\": true"), "{}", diagnostic.error_message);
    let c = db.client().await;
    let runs: i64 = c.client.query_one("SELECT count(*) FROM sync.job_run", &[]).await.unwrap().get(0);
    assert_eq!(runs, 0, "nothing ran");
    let summary = run(&db.runner(), JOB, json!({"asOf": "2024-08-04", "allowDistantAsOf": true})).await;
    assert_eq!(summary.as_of.to_string(), "2024-08-04");
}

#[tokio::test]
async fn schedule_event_runs_once_per_scheduled_time() {
    let db = seeded().await;
    let night = days_ago(1);
    let input = json!({"trigger": "schedule", "scheduledTime": format!("{night}T00:05:00Z")});
    let first = run(&db.runner(), JOB, input.clone()).await;
    assert_eq!(first.status, Outcome::Succeeded);
    assert_eq!(first.trigger, Trigger::Schedule);
    assert_eq!(first.as_of.to_string(), night);
    let repeated = run(&db.runner(), JOB, input).await;
    assert_eq!(repeated.status, Outcome::Duplicate);
    assert_eq!(repeated.run_id, first.run_id);
}

/// A Lambda timeout (or a crash) ends the process mid-run: its ledger row stays `running`, its
/// advisory lock goes with its connection. Lambda then delivers the same payload again.
#[tokio::test]
async fn a_run_killed_by_its_timeout_is_run_again_when_lambda_redelivers_its_payload() {
    let db = seeded().await;
    let c = db.client().await;
    let night = days_ago(2);
    c.client
        .execute(
            "INSERT INTO sync.job_run (run_id, job, trigger, as_of, follow_ups, delivery_key, status)
             VALUES (gen_random_uuid(), 'person-owner-rebuild', 'schedule', $1::text::date, true,
                     'schedule:' || $1 || 'T00:05:00+00:00', 'running')",
            &[&night],
        )
        .await
        .unwrap();
    let status = shared::ledger::status(&c.client).await.unwrap();
    let shown = status.iter().find(|s| s.job == JOB).unwrap();
    assert_eq!(shown.last_run.as_ref().unwrap().status, sync_core::RunStatus::Abandoned, "status says so");

    let input = json!({"trigger": "schedule", "scheduledTime": format!("{night}T00:05:00Z")});
    let summary = run(&db.runner(), JOB, input.clone()).await;
    assert_eq!(summary.status, Outcome::Succeeded, "the redelivery runs: {summary:?}");
    assert!(summary.follow_ups, "with its follow-ups: {summary:?}");
    assert_eq!(summary.triggered, vec![], "which nothing here starts: there is no bus to publish them on");
    let rows: Vec<(String, Option<String>)> = c
        .client
        .query("SELECT status, error FROM sync.job_run ORDER BY started_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows[0].0, "abandoned");
    assert!(rows[0].1.as_deref().unwrap().contains("Lambda's timeout"), "{rows:?}");
    assert_eq!(rows[1].0, "succeeded");
    // And a further delivery of the same payload is now a duplicate of the run that did it.
    let again = run(&db.runner(), JOB, input).await;
    assert_eq!((again.status, again.run_id), (Outcome::Duplicate, summary.run_id));
}

/// A run that cannot finish before the invocation's deadline stops itself, is recorded failed
/// with a `deadline` error, answers the error (so Lambda's retry and on-failure destination
/// apply) and leaves the previous output in place.
#[tokio::test]
async fn a_run_reaching_its_deadline_is_recorded_failed_and_leaves_the_previous_output() {
    let db = seeded().await;
    run(&db.runner(), JOB, json!({"followUps": false})).await;
    let observer = db.client().await;
    let before: i64 = observer.client.query_one("SELECT count(*) FROM tcs.person_owner", &[]).await.unwrap().get(0);
    // Someone holds the table: the job's write waits, as on a slow night.
    let blocker = db.client().await;
    blocker.client.batch_execute("BEGIN; LOCK TABLE tcs.person_owner IN EXCLUSIVE MODE").await.unwrap();
    let mut context = Context::default();
    context.request_id = "req-deadline".into();
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(4);
    context.deadline = deadline.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let runner = db.runner();
    let invocation = handle(&runner, JOB, LambdaEvent::new(json!({"followUps": false}), context));
    let (answer, _) =
        tokio::join!(invocation, wait_until_blocked(&observer.client, "tis-sync:person-owner-rebuild:work"));
    let answered_at = std::time::SystemTime::now();
    let diagnostic: Diagnostic = answer.unwrap_err().into();
    assert_eq!(diagnostic.error_type, "JobFailed");
    assert!(
        diagnostic.error_message.contains("deadline: person-owner-rebuild stopped"),
        "{}",
        diagnostic.error_message
    );
    assert!(answered_at < deadline, "it answered before Lambda would have killed it");
    let (status, error): (String, String) = {
        let row = observer
            .client
            .query_one("SELECT status, error FROM sync.job_run ORDER BY started_at DESC LIMIT 1", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(status, "failed");
    assert!(error.starts_with("deadline:"), "{error}");
    blocker.client.batch_execute("ROLLBACK").await.unwrap();
    let after: i64 = observer.client.query_one("SELECT count(*) FROM tcs.person_owner", &[]).await.unwrap().get(0);
    assert_eq!(after, before, "the previous output is intact");
}

#[tokio::test]
async fn a_paused_job_is_not_started_by_its_schedule_or_a_follow_up_but_runs_by_hand() {
    let db = seeded().await;
    let runner = db.runner();
    let paused = handle(&runner, JOB, event(json!({"pause": "TCS data fix"}))).await.unwrap();
    let JobAnswer::Pause(state) = paused else { panic!("a pause answers the pause") };
    assert!(state.paused);
    assert_eq!(state.pause.unwrap().reason, "TCS data fix");

    let scheduled =
        run(&runner, JOB, json!({"trigger": "schedule", "scheduledTime": format!("{}T00:05:00Z", days_ago(2))})).await;
    assert_eq!(scheduled.status, Outcome::Deferred);
    assert!(scheduled.warnings[0].contains("paused since") && scheduled.warnings[0].contains("TCS data fix"));
    let c = db.client().await;
    let owners: i64 = c.client.query_one("SELECT count(*) FROM tcs.person_owner", &[]).await.unwrap().get(0);
    assert_eq!(owners, 0, "nothing ran");

    let by_hand = run(&runner, JOB, json!({"followUps": false})).await;
    assert_eq!(by_hand.status, Outcome::Succeeded);
    assert!(by_hand.warnings.iter().any(|w| w.contains("started by hand")), "{:?}", by_hand.warnings);

    let resumed = handle(&runner, JOB, event(json!({"resume": true}))).await.unwrap();
    let JobAnswer::Pause(state) = resumed else { panic!("a resume answers the pause it ended") };
    assert!(!state.paused);
    let again =
        run(&runner, JOB, json!({"trigger": "schedule", "scheduledTime": format!("{}T00:05:00Z", days_ago(1))})).await;
    assert_eq!(again.status, Outcome::Succeeded);
}

fn job_succeeded(job: JobName, run_id: &str, as_of: &str) -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "Job Succeeded", "source": "tis.sync",
        "account": "000000000000", "time": "2024-08-04T00:09:30Z", "region": "eu-west-2", "resources": [],
        "detail": {
            "job": job, "runId": run_id, "trigger": "schedule", "asOf": as_of, "followUps": true,
            "startedAt": "2024-08-04T00:09:00Z", "finishedAt": "2024-08-04T00:09:30Z",
            "durationMs": 30000, "rows": 40
        }
    })
}

const FOLLOW_UP: JobName = JobName::PersonPlacementTrainingBodyTrust;
const PREDECESSOR: JobName = JobName::PersonPlacementEmployingBodyTrust;

async fn predecessor_run(runner: &Runner, as_of: &str) -> RunSummary {
    let mut request = RunRequest::manual(PREDECESSOR);
    request.as_of = date(as_of);
    runner.run(request).await.unwrap()
}

#[tokio::test]
async fn follow_up_event_runs_for_the_predecessors_date() {
    let db = seeded().await;
    let runner = db.runner();
    let predecessor = predecessor_run(&runner, "2024-08-03").await;
    let envelope = job_succeeded(PREDECESSOR, &predecessor.run_id.to_string(), "2024-08-03");
    let summary = run(&runner, FOLLOW_UP, envelope.clone()).await;
    assert_eq!(summary.trigger, Trigger::FollowUp);
    assert_eq!(summary.as_of.to_string(), "2024-08-03");
    // EventBridge delivers at least once: the same event again is not a second run.
    let again = run(&runner, FOLLOW_UP, envelope).await;
    assert_eq!(again.status, Outcome::Duplicate);
}

/// Anything that can put an event on the bus could send a `Job Succeeded`: it is acted on only
/// when the ledger has that run, succeeded, of a real predecessor, for the same date.
#[tokio::test]
async fn a_forged_or_stray_follow_up_event_is_rejected_naming_what_did_not_match() {
    let db = seeded().await;
    let runner = db.runner();
    let real = predecessor_run(&runner, "2024-08-03").await.run_id.to_string();
    let owner = {
        let mut request = RunRequest::manual(JobName::PersonOwnerRebuild);
        request.as_of = date("2024-08-03");
        runner.run(request).await.unwrap().run_id.to_string()
    };
    // The predecessor succeeded twice for the 2nd: the first run's event is stale.
    let superseded = predecessor_run(&runner, "2024-08-02").await.run_id.to_string();
    predecessor_run(&runner, "2024-08-02").await;
    let c = db.client().await;
    let runs_before: i64 = c.client.query_one("SELECT count(*) FROM sync.job_run", &[]).await.unwrap().get(0);
    for (envelope, expected) in [
        (
            job_succeeded(PREDECESSOR, "0b5e1c1e-8f51-4c47-a2de-6f4f8c2a9d10", "2024-08-03"),
            "the run ledger has no run 0b5e1c1e",
        ),
        (job_succeeded(PREDECESSOR, &real, "2024-08-04"), "was as of 2024-08-03, the event says 2024-08-04"),
        (
            job_succeeded(PREDECESSOR, &owner, "2024-08-03"),
            "is a run of person-owner-rebuild, not of person-placement-employing-body-trust",
        ),
        (
            job_succeeded(JobName::PostEmployingBodyTrust, &real, "2024-08-03"),
            "post-employing-body-trust is not a predecessor",
        ),
    ] {
        let error = handle(&runner, FOLLOW_UP, event(envelope)).await.unwrap_err();
        let diagnostic: Diagnostic = error.into();
        assert_eq!(diagnostic.error_type, "InvalidInput");
        assert!(
            diagnostic.error_message.contains("follow-up event rejected, nothing ran"),
            "{}",
            diagnostic.error_message
        );
        assert!(diagnostic.error_message.contains(expected), "{expected}: {}", diagnostic.error_message);
    }
    let runs_after: i64 = c.client.query_one("SELECT count(*) FROM sync.job_run", &[]).await.unwrap().get(0);
    assert_eq!(runs_after, runs_before, "nothing ran or was recorded");

    // A stale event (its run has been superseded by the predecessor's next success) is no
    // forgery: it is deferred, saying why, and nothing runs from it (its successor's event
    // starts the job), with no error for Lambda to retry or alarm on.
    let stale = run(&runner, FOLLOW_UP, job_succeeded(PREDECESSOR, &superseded, "2024-08-02")).await;
    assert_eq!(stale.status, Outcome::Deferred);
    assert!(stale.warnings.iter().any(|w| w.contains("is no longer its live output")), "{:?}", stale.warnings);
    let ran: i64 = c
        .client
        .query_one("SELECT count(*) FROM sync.job_run WHERE job = $1 AND status <> 'deferred'", &[&FOLLOW_UP.as_str()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ran, 0, "the follow-up never ran");
}

#[tokio::test]
async fn bad_input_is_rejected_with_an_error_naming_the_problem_and_nothing_runs() {
    let db = seeded().await;
    for (input, expected) in [
        (json!({"asOf": "2024-02-30"}), "asOf '2024-02-30' is not a date"),
        (json!({"followUps": "false"}), "invalid type: string \"false\", expected a boolean"),
        (json!({"asOf": 20240804}), "invalid type: integer `20240804`, expected a string"),
        (json!({"asof": "2024-08-04"}), "unknown field `asof`"),
        (json!([1, 2]), "must be a JSON object"),
    ] {
        let error = handle(&db.runner(), JOB, event(input.clone())).await.unwrap_err();
        let diagnostic: Diagnostic = error.into();
        assert_eq!(diagnostic.error_type, "InvalidInput", "{input}");
        assert!(diagnostic.error_message.contains(expected), "{input}: {}", diagnostic.error_message);
    }
    let c = db.client().await;
    let runs: i64 = c.client.query_one("SELECT count(*) FROM sync.job_run", &[]).await.unwrap().get(0);
    assert_eq!(runs, 0);
}

/// The secret is read at init; rotating the password while the function stays warm must not
/// break it: the refused password makes it read the secret again and connect, also while the
/// rotation is under way (the database's password changed, the secret not yet).
#[tokio::test]
async fn a_warm_function_keeps_working_when_its_database_password_is_rotated() {
    let db = seeded().await;
    let admin = db.client().await;
    let role = format!("rotated_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    admin
        .client
        .batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'first-password'; GRANT tis_sync TO {role}"))
        .await
        .unwrap();
    let config = integration_tests::aws::config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let secret = |password: &str| {
        json!({"host": "127.0.0.1", "port": db.database.config().get_ports()[0], "username": role,
               "password": password, "dbname": db.name})
        .to_string()
    };
    let arn = secrets
        .create_secret()
        .name(format!("{role}-database"))
        .secret_string(secret("first-password"))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    // What the function builds at init: the database from the secret, TLS required and
    // verified against PGSSLROOTCERT (the local CA), as in AWS.
    let local_ca = shared::config::database_ca(&shared::config::environment);
    let source = shared::config::DatabaseSource::Secret(arn.clone());
    let database = shared::db::Database::from_source(&source, Some(&config), local_ca.as_deref()).await.unwrap();
    let runner = Runner::new(database.clone(), shared::events::EventPublisher::disabled());
    assert_eq!(run(&runner, JOB, json!({"followUps": false})).await.status, Outcome::Succeeded);
    let session = database.connect("tis-sync-test:tls").await.unwrap();
    let tls: bool =
        session.client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0);
    assert!(tls, "the secret's connection uses TLS");
    drop(session);

    // Rotation: the password changes in the database and in the secret.
    admin.client.batch_execute(&format!("ALTER ROLE {role} PASSWORD 'second-password'")).await.unwrap();
    secrets.put_secret_value().secret_id(&arn).secret_string(secret("second-password")).send().await.unwrap();
    let after = run(&runner, JOB, json!({"followUps": false})).await;
    assert_eq!(after.status, Outcome::Succeeded, "the warm function carried on");

    // Mid-rotation: Secrets Manager sets the database's password (setSecret) before the secret's
    // current version holds it (finishSecret): a run in between must wait for the secret.
    admin.client.batch_execute(&format!("ALTER ROLE {role} PASSWORD 'third-password'")).await.unwrap();
    let finish_rotation = async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        secrets.put_secret_value().secret_id(&arn).secret_string(secret("third-password")).send().await.unwrap();
    };
    let (during, ()) = tokio::join!(run(&runner, JOB, json!({"followUps": false})), finish_rotation);
    assert_eq!(during.status, Outcome::Succeeded, "the run waited for the rotation to finish");

    // A password the secret does not hold either is still an error, named, without the password.
    admin.client.batch_execute(&format!("ALTER ROLE {role} PASSWORD 'fourth-password'")).await.unwrap();
    let error = handle(&runner, JOB, event(json!({"followUps": false}))).await.unwrap_err().to_string();
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(!error.contains("third-password") && !error.contains("fourth-password"), "{error}");
    admin.client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.ok();
}
