//! The runner on real Postgres: atomic output, killed runs, one run at a time, the lock never
//! outliving a run, bounded retries, repeated deliveries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use integration_tests::{date, kill_when_blocked, terminate, wait_until_blocked, TestDb};
use shared::runner::{Outcome, RunRequest};
use shared::Error;
use sync_core::JobName;
use sync_core::Trigger;
use tokio_postgres::Client;

const JOB: JobName = JobName::PersonOwnerRebuild;
const WORK: &str = "tis-sync:person-owner-rebuild:work";

fn request(as_of: &str) -> RunRequest {
    let mut request = RunRequest::manual(JOB);
    request.as_of = date(as_of);
    request.follow_ups = false;
    request
}

async fn seeded(persons: i64) -> TestDb {
    let db = TestDb::new().await;
    let mut session = db.client().await;
    seed::seed(&mut session.client, persons, 3).await.unwrap();
    db
}

async fn owners(c: &Client) -> Vec<(i64, Option<String>, Option<String>)> {
    c.query("SELECT id, owner, rule FROM tcs.person_owner ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn ledger(c: &Client) -> Vec<(String, Option<String>, i32)> {
    c.query("SELECT status, error, attempts FROM sync.job_run ORDER BY started_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Holds a lock that lets readers read but makes the job's writes wait, so a test can act while
/// the job is mid-transaction. Released on rollback.
async fn block_writes(c: &Client) {
    c.batch_execute("BEGIN; LOCK TABLE tcs.person_owner IN EXCLUSIVE MODE").await.unwrap();
}

#[tokio::test]
async fn a_run_killed_on_every_attempt_fails_and_leaves_the_previous_rows() {
    let db = seeded(300).await;
    let observer = db.client().await;
    let blocker = db.client().await;
    db.runner().run(request("2024-08-04")).await.unwrap();
    let before = owners(&observer.client).await;
    assert_eq!(before.len(), 300);

    block_writes(&blocker.client).await;
    let runner = db.runner();
    let run = tokio::spawn(async move { runner.run(request("2019-01-01")).await });
    // quick_retries allows 3 attempts: kill the work connection mid-transaction each time.
    for _ in 0..3 {
        kill_when_blocked(&observer.client, WORK).await;
    }
    let result = run.await.unwrap();
    blocker.client.batch_execute("ROLLBACK").await.unwrap();

    let error = result.expect_err("the run fails once its attempts are used up");
    assert!(matches!(error, Error::JobFailed { .. }), "{error}");
    assert!(error.to_string().contains("terminating connection"), "{error}");
    assert_eq!(owners(&observer.client).await, before, "the previous rows are intact");
    let runs = ledger(&observer.client).await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].0, "failed");
    assert!(runs[1].1.as_deref().unwrap_or("").contains("terminating connection"));
    assert_eq!(runs[1].2, 3, "three attempts were made");

    // The lock did not outlive the failed run.
    let next = db.runner().run(request("2019-01-01")).await.expect("a new run can start");
    assert_eq!(next.status, Outcome::Succeeded);
    assert_ne!(owners(&observer.client).await, before, "the new as-of date changes owners");
}

#[tokio::test]
async fn a_lost_connection_is_retried_and_the_run_succeeds() {
    let db = seeded(200).await;
    let observer = db.client().await;
    let blocker = db.client().await;
    block_writes(&blocker.client).await;
    let runner = db.runner();
    let run = tokio::spawn(async move { runner.run(request("2024-08-04")).await });
    kill_when_blocked(&observer.client, WORK).await;
    wait_until_blocked(&observer.client, WORK).await; // the second attempt
    blocker.client.batch_execute("ROLLBACK").await.unwrap();

    let summary = run.await.unwrap().expect("the retry succeeds");
    assert_eq!(summary.attempts, 2);
    assert_eq!(summary.rows, 200);
    assert_eq!(owners(&observer.client).await.len(), 200);
}

#[tokio::test]
async fn readers_never_see_an_empty_or_partial_table_during_rebuilds() {
    let db = seeded(3000).await;
    db.runner().run(request("2024-08-04")).await.unwrap();
    let reader = db.client().await;
    let stop = Arc::new(AtomicBool::new(false));
    let reading = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut counts = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let row = reader
                    .client
                    .query_one("SELECT count(*), count(*) FILTER (WHERE rule IS NOT NULL) FROM tcs.person_owner", &[])
                    .await
                    .unwrap();
                counts.push((row.get::<_, i64>(0), row.get::<_, i64>(1)));
            }
            counts
        })
    };
    let mut with_rule = std::collections::HashSet::new();
    for as_of in ["2010-01-01", "2024-08-04", "2040-01-01", "2024-08-04"] {
        db.runner().run(request(as_of)).await.unwrap();
        let c = db.client().await;
        let n: i64 = c
            .client
            .query_one("SELECT count(*) FROM tcs.person_owner WHERE rule IS NOT NULL", &[])
            .await
            .unwrap()
            .get(0);
        with_rule.insert(n);
    }
    stop.store(true, Ordering::Relaxed);
    let counts = reading.await.unwrap();
    assert!(counts.len() > 10, "the reader read during the rebuilds ({} reads)", counts.len());
    assert!(counts.iter().all(|(n, _)| *n == 3000), "a reader saw a missing row");
    // Every count of rows-with-a-rule the reader saw is one a committed rebuild produced.
    assert!(counts.iter().all(|(_, r)| with_rule.contains(r)), "a reader saw a half-applied rebuild");
}

#[tokio::test]
async fn a_second_run_is_refused_while_one_runs_and_the_lock_goes_with_the_run() {
    let db = seeded(100).await;
    let observer = db.client().await;
    let blocker = db.client().await;
    block_writes(&blocker.client).await;
    let runner = db.runner();
    let first = tokio::spawn(async move { runner.run(request("2024-08-04")).await });
    wait_until_blocked(&observer.client, WORK).await;

    let refused = db.runner().run(request("2024-08-04")).await.expect_err("the second run is refused");
    let first_run_id: uuid::Uuid = observer
        .client
        .query_one("SELECT run_id FROM sync.job_run WHERE status = 'running'", &[])
        .await
        .unwrap()
        .get(0);
    let message = refused.to_string();
    assert!(matches!(refused, Error::AlreadyRunning { .. }), "{message}");
    assert!(message.contains("already running since"), "{message}");
    assert!(message.contains(&format!("(run id {first_run_id})")), "{message}");
    let status = shared::ledger::status(&observer.client).await.unwrap();
    assert!(status[0].running_now);

    blocker.client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().run_id, first_run_id);
    let status = shared::ledger::status(&observer.client).await.unwrap();
    assert!(!status[0].running_now, "the lock went with the run");
    db.runner().run(request("2024-08-04")).await.expect("a later run starts");
    // Only the two runs that ran are in the ledger: the refused one wrote nothing.
    assert_eq!(ledger(&observer.client).await.len(), 2);
}

#[tokio::test]
async fn losing_the_control_connection_stops_the_run_and_frees_the_job() {
    let db = seeded(100).await;
    let observer = db.client().await;
    let blocker = db.client().await;
    db.runner().run(request("2024-08-04")).await.unwrap();
    let before = owners(&observer.client).await;
    block_writes(&blocker.client).await;
    let runner = db.runner();
    let run = tokio::spawn(async move { runner.run(request("2015-01-01")).await });
    wait_until_blocked(&observer.client, WORK).await;
    // The control connection, named after its run once it holds the lock.
    let running: uuid::Uuid = observer
        .client
        .query_one("SELECT run_id FROM sync.job_run WHERE status = 'running'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(terminate(&observer.client, &shared::ledger::holder_name(running)).await, 1);

    let error = run.await.unwrap().expect_err("the run stops");
    assert!(error.to_string().contains("lost its control connection"), "{error}");
    blocker.client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(owners(&observer.client).await, before);
    let runs = ledger(&observer.client).await;
    assert_eq!(runs.last().unwrap().0, "failed");
    db.runner().run(request("2024-08-04")).await.expect("the job is free again");
}

#[tokio::test]
async fn a_run_left_running_by_a_dead_process_is_not_running_and_is_closed_by_the_next_run() {
    let db = seeded(50).await;
    let c = db.client().await;
    c.client
        .execute(
            "INSERT INTO sync.job_run (run_id, job, trigger, as_of, follow_ups, status)
             VALUES (gen_random_uuid(), 'person-owner-rebuild', 'schedule', '2024-08-04', true, 'running')",
            &[],
        )
        .await
        .unwrap();
    let status = shared::ledger::status(&c.client).await.unwrap();
    assert_eq!(status[0].last_run.as_ref().unwrap().status, sync_core::RunStatus::Abandoned);
    assert!(!status[0].running_now, "nobody holds the lock, so it is not running");

    db.runner().run(request("2024-08-04")).await.expect("the dead run does not block");
    let runs = ledger(&c.client).await;
    assert_eq!(runs[0].0, "abandoned");
    assert!(runs[0].1.as_deref().unwrap().contains("abandoned"));
    assert_eq!(runs[1].0, "succeeded");
}

#[tokio::test]
async fn a_repeated_schedule_delivery_does_not_run_the_job_twice() {
    let db = seeded(50).await;
    let c = db.client().await;
    let scheduled = RunRequest {
        job: JOB,
        trigger: Trigger::Schedule,
        as_of: date("2024-08-04"),
        follow_ups: true,
        delivery_key: Some("schedule:2024-08-04T00:05:00+00:00".into()),
        after: None,
        correlation_id: None,
        deadline: None,
    };
    let first = db.runner().run(scheduled.clone()).await.unwrap();
    assert_eq!(first.status, Outcome::Succeeded);
    let again = db.runner().run(scheduled.clone()).await.unwrap();
    assert_eq!(again.status, Outcome::Duplicate);
    assert_eq!(again.run_id, first.run_id);
    assert_eq!(ledger(&c.client).await.len(), 1);

    // Another scheduled time is another delivery.
    let mut next_night = scheduled.clone();
    next_night.delivery_key = Some("schedule:2024-08-05T00:05:00+00:00".into());
    next_night.as_of = date("2024-08-05");
    assert_eq!(db.runner().run(next_night).await.unwrap().status, Outcome::Succeeded);
    assert_eq!(ledger(&c.client).await.len(), 2);
}

#[tokio::test]
async fn a_delivery_whose_run_failed_is_run_again_when_retried() {
    let db = seeded(50).await;
    let c = db.client().await;
    let scheduled = RunRequest {
        job: JOB,
        trigger: Trigger::Schedule,
        as_of: date("2024-08-04"),
        follow_ups: true,
        delivery_key: Some("schedule:2024-08-04T00:05:00+00:00".into()),
        after: None,
        correlation_id: None,
        deadline: None,
    };
    // Make the job fail for a non-transient reason: its output table is missing a column.
    c.client.batch_execute("ALTER TABLE tcs.person_owner RENAME COLUMN rule TO rule_gone").await.unwrap();
    let error = db.runner().run(scheduled.clone()).await.expect_err("the run fails");
    assert!(error.to_string().contains("rule"), "{error}");
    assert_eq!(ledger(&c.client).await[0].2, 1, "a permanent error is not retried");
    c.client.batch_execute("ALTER TABLE tcs.person_owner RENAME COLUMN rule_gone TO rule").await.unwrap();

    let retried = db.runner().run(scheduled).await.unwrap();
    assert_eq!(retried.status, Outcome::Succeeded);
    let statuses: Vec<String> = ledger(&c.client).await.into_iter().map(|r| r.0).collect();
    assert_eq!(statuses, ["failed", "succeeded"]);
}

/// Holds person-owner-rebuild's lock from a session of the test named `name`, as a CLI run, an
/// operator's psql or a lingering backend would.
async fn hold_the_lock(c: &Client, name: &str) {
    c.batch_execute(&format!("SET application_name = '{name}'")).await.unwrap();
    c.execute("SELECT pg_advisory_lock(hashtextextended('tis-sync job ' || $1, 0))", &[&JOB.as_str()]).await.unwrap();
}

/// A run's process died (its row stays `running`) while some other session holds the job's
/// lock: Lambda's retry of the delivery must not be answered "duplicate" with nothing run. It is
/// refused naming the holder (Lambda retries it again), and runs once the holder lets go.
#[tokio::test]
async fn a_dead_runs_retry_is_not_a_duplicate_because_someone_else_holds_the_lock() {
    let db = seeded(50).await;
    let c = db.client().await;
    let key = "schedule:2024-08-04T00:05:00+00:00";
    c.client
        .execute(
            "INSERT INTO sync.job_run (run_id, job, trigger, as_of, follow_ups, status, delivery_key)
             VALUES (gen_random_uuid(), $1, 'schedule', '2024-08-04', true, 'running', $2)",
            &[&JOB.as_str(), &key],
        )
        .await
        .unwrap();
    let holder = db.client().await;
    hold_the_lock(&holder.client, "psql-operator").await;
    let scheduled = RunRequest { delivery_key: Some(key.into()), trigger: Trigger::Schedule, ..request("2024-08-04") };

    let refused = db.runner().run(scheduled.clone()).await.expect_err("not a duplicate: the dead run never finished");
    assert!(matches!(refused, Error::LockHeld { .. }), "{refused}");
    assert!(refused.to_string().contains("session 'psql-operator'"), "names the holder: {refused}");
    drop(holder);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ran = db.runner().run(scheduled).await.unwrap();
    assert_eq!(ran.status, Outcome::Succeeded);
    let statuses: Vec<String> = ledger(&c.client).await.into_iter().map(|r| r.0).collect();
    assert_eq!(statuses, ["abandoned", "succeeded"]);
}

/// A database connection that stops answering (a network black hole: no reset, no reply; TCP
/// may take minutes to notice) must not hold a run past its invocation: the work is stopped at
/// the deadline, the outcome recorded on a new connection before the invocation ends, the old
/// sessions ended (so the job's lock and the work's rows are free), the previous output kept.
#[tokio::test]
async fn a_black_holed_connection_never_holds_a_run_past_its_invocation() {
    let db = seeded(100).await;
    let observer = db.client().await;
    let blocker = db.client().await;
    db.runner().run(request("2024-08-04")).await.unwrap();
    let before = owners(&observer.client).await;
    let port = db.database.config().get_ports()[0];
    let proxy = integration_tests::black_hole::BlackHoleProxy::start(format!("127.0.0.1:{port}")).await;
    let through =
        shared::db::Database::from_url(&db.url.replace(&format!(":{port}/"), &format!(":{}/", proxy.port))).unwrap();
    let runner = shared::runner::Runner::new(through, shared::events::EventPublisher::disabled())
        .with_retry_policy(integration_tests::quick_retries());
    block_writes(&blocker.client).await;
    // 30 s: a margin of 1.5 s after the stop for recording on a new connection.
    let invocation = std::time::Duration::from_secs(30);
    let mut late = request("2015-01-01");
    late.deadline = Some(shared::deadline::Deadline::within(invocation));
    let started = std::time::Instant::now();
    let run = tokio::spawn(async move { runner.run(late).await });
    wait_until_blocked(&observer.client, WORK).await;
    proxy.black_hole();

    let outcome = tokio::time::timeout(invocation * 3, run).await.expect("the run ended on its own").unwrap();
    let took = started.elapsed();
    let error = outcome.expect_err("the run failed");
    assert!(took < invocation, "it ended after {took:?}, past its {invocation:?} invocation");
    assert!(error.to_string().contains("deadline"), "{error}");
    let runs = ledger(&observer.client).await;
    assert_eq!(runs.last().unwrap().0, "failed", "the failure is recorded: {runs:?}");
    blocker.client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(owners(&observer.client).await, before, "the previous output stands");
    db.runner().run(request("2024-08-04")).await.expect("the job's lock and rows are free");
}
