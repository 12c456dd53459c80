//! The job graph in the runner: follow-ups run in order after a job (and not when suppressed),
//! and the index's fan-in: deferred while a predecessor runs or has not succeeded for the
//! as-of date, run once when the last one has.

use integration_tests::{date, wait_until_blocked, TestDb};
use shared::runner::{Outcome, RunRequest};
use sync_core::graph;
use sync_core::JobName::{self, *};
use sync_core::RunStatus;
use sync_core::Trigger;
use tis_sync::InProcessRunner;
use tokio_postgres::Client;

const AS_OF: &str = "2024-08-04";

async fn ledger(c: &Client) -> Vec<(String, String, String)> {
    c.query("SELECT job, trigger, status FROM sync.job_run ORDER BY started_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn row(job: JobName, trigger: &str, status: &str) -> (String, String, String) {
    (job.to_string(), trigger.to_string(), status.to_string())
}

fn follow_up(job: JobName, after: &str) -> RunRequest {
    RunRequest {
        job,
        trigger: Trigger::FollowUp,
        as_of: date(AS_OF),
        follow_ups: true,
        delivery_key: Some(format!("after:{after}")),
        // The fan-in is what these test: the claimed predecessor run is not checked here (the
        // function tests check it).
        after: None,
        correlation_id: None,
        deadline: None,
    }
}

fn manual(job: JobName) -> RunRequest {
    let mut request = RunRequest::manual(job);
    request.as_of = date(AS_OF);
    request
}

async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    seed::seed(&mut db.client().await.client, 60, 4).await.unwrap();
    db
}

#[tokio::test]
async fn re_running_the_employing_job_runs_the_training_job_after_it() {
    let db = seeded().await;
    let c = db.client().await;
    let runner = InProcessRunner::new(db.runner());
    // As an operator re-running it, follow-ups on (the index defers: no owner rebuild today).
    let report = runner.run(&[PersonPlacementEmployingBodyTrust], date(AS_OF), true).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        ledger(&c.client).await,
        vec![
            row(PersonPlacementEmployingBodyTrust, "manual", "succeeded"),
            row(PersonPlacementTrainingBodyTrust, "follow-up", "succeeded"),
            row(PersonElasticsearchSync, "follow-up", "deferred"),
        ]
    );
    assert_eq!(report.runs[0].triggered, vec![PersonPlacementTrainingBodyTrust, PersonElasticsearchSync]);
    // Run here, once: the CLI invents no delivery for them (in AWS the rule's event is one).
    let keys: i64 = c
        .client
        .query_one("SELECT count(delivery_key) FROM sync.job_run WHERE trigger = 'follow-up'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 0);
}

#[tokio::test]
async fn with_follow_ups_off_only_the_job_runs() {
    let db = seeded().await;
    let c = db.client().await;
    let runner = InProcessRunner::new(db.runner());
    let report = runner.run(&[PersonPlacementEmployingBodyTrust], date(AS_OF), false).await;
    assert!(report.all_succeeded());
    assert!(report.runs[0].triggered.is_empty());
    assert_eq!(ledger(&c.client).await, vec![row(PersonPlacementEmployingBodyTrust, "manual", "succeeded")]);
}

#[tokio::test]
async fn the_whole_nightly_graph_runs_in_dependency_order_and_the_index_once() {
    let db = seeded().await;
    let c = db.client().await;
    let (reval, _, _) = integration_tests::reval_queue().await;
    let runner = InProcessRunner::new(integration_tests::with_search(&db, db.runner().with_reval_feed(reval)));
    let heads: Vec<JobName> = graph::heads().iter().map(|n| n.job).collect();
    let report = runner.run(&heads, date(AS_OF), true).await;
    assert!(report.all_succeeded(), "{:?}", report.failed);
    assert_eq!(
        ledger(&c.client).await,
        vec![
            row(PersonOwnerRebuild, "manual", "succeeded"),
            row(PersonPlacementEmployingBodyTrust, "manual", "succeeded"),
            row(PersonPlacementTrainingBodyTrust, "follow-up", "succeeded"),
            row(PostEmployingBodyTrust, "manual", "succeeded"),
            row(PostTrainingBodyTrust, "follow-up", "succeeded"),
            row(PersonRecordStatus, "manual", "succeeded"),
            row(PostFundingStatus, "manual", "succeeded"),
            row(RevalCurrentPmSync, "manual", "succeeded"),
            row(RevalCurrentPlacementSync, "manual", "succeeded"),
            row(PersonElasticsearchSync, "follow-up", "succeeded"),
            row(PostElasticsearchSync, "follow-up", "succeeded"),
        ]
    );
}

#[tokio::test]
async fn a_failed_job_does_not_run_what_follows_it() {
    let db = seeded().await;
    let c = db.client().await;
    c.client.batch_execute("ALTER TABLE tcs.post_trust RENAME TO post_trust_gone").await.unwrap();
    let runner = InProcessRunner::new(db.runner());
    let report = runner.run(&[PostEmployingBodyTrust], date(AS_OF), true).await;
    assert_eq!(report.failed.len(), 1);
    assert!(report.runs.is_empty(), "a failure starts nothing: {:?}", report.runs);
    assert_eq!(ledger(&c.client).await, vec![row(PostEmployingBodyTrust, "manual", "failed")]);
}

#[tokio::test]
async fn the_index_defers_until_its_last_predecessor_succeeds_then_runs_once() {
    let db = seeded().await;
    let c = db.client().await;
    let runner = integration_tests::with_search(&db, db.runner());

    // Nothing has run for the date: deferred, naming what it waits for.
    let deferred = runner.run(follow_up(PersonElasticsearchSync, "a")).await.unwrap();
    assert_eq!(deferred.status, Outcome::Deferred);
    assert!(
        deferred.warnings[0].contains("person-owner-rebuild (no successful run for 2024-08-04)"),
        "{:?}",
        deferred.warnings
    );

    runner.run(manual(PersonOwnerRebuild)).await.unwrap();
    runner.run(manual(PersonRecordStatus)).await.unwrap();
    runner.run(manual(PersonPlacementEmployingBodyTrust)).await.unwrap();
    // After the employing job: the training job has not run yet.
    let deferred = runner.run(follow_up(PersonElasticsearchSync, "b")).await.unwrap();
    assert_eq!(deferred.status, Outcome::Deferred);
    assert!(deferred.warnings[0].contains("person-placement-training-body-trust"), "{:?}", deferred.warnings);
    assert!(!deferred.warnings[0].contains("person-owner-rebuild"), "{:?}", deferred.warnings);

    // A predecessor running now also defers it.
    let blocker = db.client().await;
    blocker.client.batch_execute("BEGIN; LOCK TABLE tcs.person_trust IN EXCLUSIVE MODE").await.unwrap();
    let training = {
        let runner = db.runner();
        tokio::spawn(async move { runner.run(manual(PersonPlacementTrainingBodyTrust)).await })
    };
    wait_until_blocked(&c.client, "tis-sync:person-placement-training-body-trust:work").await;
    let deferred = runner.run(follow_up(PersonElasticsearchSync, "c")).await.unwrap();
    assert_eq!(deferred.status, Outcome::Deferred);
    assert!(
        deferred.warnings[0].contains("person-placement-training-body-trust (running now)"),
        "{:?}",
        deferred.warnings
    );
    blocker.client.batch_execute("ROLLBACK").await.unwrap();
    let training = training.await.unwrap().unwrap();

    // The last predecessor's success triggers it: it runs.
    let ran = runner.run(follow_up(PersonElasticsearchSync, &training.run_id.to_string())).await.unwrap();
    assert_eq!(ran.status, Outcome::Succeeded);
    // A late trigger from an earlier predecessor finds it up to date: it does not run again.
    let late = runner.run(follow_up(PersonElasticsearchSync, "employing-late")).await.unwrap();
    assert_eq!(late.status, Outcome::Duplicate);
    assert_eq!(late.run_id, ran.run_id);

    let index_runs: Vec<String> = ledger(&c.client)
        .await
        .into_iter()
        .filter(|(job, _, _)| job == PersonElasticsearchSync.as_str())
        .map(|(_, _, status)| status)
        .collect();
    assert_eq!(index_runs, ["deferred", "deferred", "deferred", "succeeded"]);
    let status = shared::ledger::status(&c.client).await.unwrap();
    let index = status.iter().find(|s| s.job == PersonElasticsearchSync).unwrap();
    assert_eq!(index.last_success.as_ref().unwrap().status, RunStatus::Succeeded);
}

#[tokio::test]
async fn started_by_hand_the_index_runs_and_warns_about_predecessors() {
    let db = seeded().await;
    let runner = integration_tests::with_search(&db, db.runner());
    let summary = runner.run(manual(PersonElasticsearchSync)).await.unwrap();
    assert_eq!(summary.status, Outcome::Succeeded);
    let by_hand: Vec<&String> = summary.warnings.iter().filter(|w| w.starts_with("started by hand although")).collect();
    assert_eq!(by_hand.len(), 4, "{:?}", summary.warnings);
    // The rest says the run was for another date than today.
    assert_eq!(summary.warnings.len(), 5, "{:?}", summary.warnings);
    assert!(summary.warnings.iter().any(|w| w.starts_with(&format!("as of {AS_OF}, not today"))));
}
