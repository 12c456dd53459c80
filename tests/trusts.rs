//! The four trust jobs on real Postgres: hand-computed outputs, the union of a pair, atomic
//! replacement of each job's own part.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use integration_tests::fixtures::*;
use integration_tests::{date, kill_when_blocked, TestDb};
use shared::runner::RunRequest;
use sync_core::JobName;
use tokio_postgres::Client;

async fn run(db: &TestDb, job: JobName) {
    let mut request = RunRequest::manual(job);
    request.as_of = date("2024-08-04");
    request.follow_ups = false;
    db.runner().run(request).await.unwrap_or_else(|e| panic!("{job} succeeds: {e}"));
}

async fn pairs(c: &Client, sql: &str) -> BTreeSet<(i64, i64)> {
    c.query(sql, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
}

async fn person_pairs(c: &Client, source: Option<&str>) -> BTreeSet<(i64, i64)> {
    match source {
        Some(s) => pairs(c, &format!("SELECT person_id, trust_id FROM tcs.person_trust WHERE source = '{s}'")).await,
        None => pairs(c, "SELECT DISTINCT person_id, trust_id FROM tcs.person_trust").await,
    }
}

async fn post_pairs(c: &Client, source: Option<&str>) -> BTreeSet<(i64, i64)> {
    match source {
        Some(s) => pairs(c, &format!("SELECT post_id, trust_id FROM tcs.post_trust WHERE source = '{s}'")).await,
        None => pairs(c, "SELECT DISTINCT post_id, trust_id FROM tcs.post_trust").await,
    }
}

fn set(items: &[(i64, i64)]) -> BTreeSet<(i64, i64)> {
    items.iter().copied().collect()
}

/// Persons 1..=4; posts: 10 (employing 100, training 200), 11 (both 101), 12 (employing NULL,
/// training 202), 13 (employing 103, training NULL), 14 (no placements: employing 104, training 204).
async fn trust_fixture(c: &Client) {
    for id in 1..=4 {
        person(c, id).await;
    }
    post(c, 10, Some("X"), Some(100), Some(200)).await;
    post(c, 11, Some("X"), Some(101), Some(101)).await;
    post(c, 12, Some("X"), None, Some(202)).await;
    post(c, 13, Some("X"), Some(103), None).await;
    post(c, 14, Some("X"), Some(104), Some(204)).await;
    // Person 1: past, current and future placements; person 2: a DRAFT one and one on a post
    // that is both bodies; person 3: NULL bodies on either side; person 4: none.
    placement(c, 1, Some(1), Some(10), Some("2015-01-01"), Some("2015-12-31"), "APPROVED").await;
    placement(c, 2, Some(1), Some(11), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 3, Some(1), Some(13), Some("2030-01-01"), Some("2030-12-31"), "APPROVED").await;
    placement(c, 4, Some(2), Some(10), Some("2024-06-01"), Some("2025-06-01"), "DRAFT").await;
    placement(c, 5, Some(2), Some(11), None, None, "APPROVED").await;
    placement(c, 6, Some(3), Some(12), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 7, Some(3), Some(13), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    // Orphans: a trainee that does not exist, a post that does not exist, no post, no trainee.
    placement(c, 8, Some(99), Some(10), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 9, Some(4), Some(999), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 10, Some(4), None, Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 11, None, Some(10), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
}

#[tokio::test]
async fn person_trust_links_every_placement_and_ends_as_the_union_of_both_bodies() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    trust_fixture(c).await;

    run(&db, JobName::PersonPlacementEmployingBodyTrust).await;
    let employing = set(&[(1, 100), (1, 101), (1, 103), (2, 100), (2, 101), (3, 103)]);
    assert_eq!(person_pairs(c, Some("employing-body")).await, employing);
    assert_eq!(person_pairs(c, Some("training-body")).await, set(&[]));

    run(&db, JobName::PersonPlacementTrainingBodyTrust).await;
    let training = set(&[(1, 200), (1, 101), (2, 200), (2, 101), (3, 202)]);
    assert_eq!(person_pairs(c, Some("training-body")).await, training);
    assert_eq!(
        person_pairs(c, Some("employing-body")).await,
        employing,
        "the training job left the employing part alone"
    );
    let union: BTreeSet<_> = employing.union(&training).copied().collect();
    assert_eq!(person_pairs(c, None).await, union);

    // Re-running the employing job alone keeps the training part.
    run(&db, JobName::PersonPlacementEmployingBodyTrust).await;
    assert_eq!(person_pairs(c, None).await, union);
}

#[tokio::test]
async fn post_trust_links_every_post_with_or_without_placements() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    trust_fixture(c).await;

    run(&db, JobName::PostEmployingBodyTrust).await;
    run(&db, JobName::PostTrainingBodyTrust).await;

    assert_eq!(post_pairs(c, Some("employing-body")).await, set(&[(10, 100), (11, 101), (13, 103), (14, 104)]));
    assert_eq!(post_pairs(c, Some("training-body")).await, set(&[(10, 200), (11, 101), (12, 202), (14, 204)]));
    assert_eq!(
        post_pairs(c, None).await,
        set(&[(10, 100), (10, 200), (11, 101), (12, 202), (13, 103), (14, 104), (14, 204)])
    );
}

#[tokio::test]
async fn a_rerun_follows_changes_in_its_own_part_only() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    trust_fixture(c).await;
    for job in [JobName::PersonPlacementEmployingBodyTrust, JobName::PersonPlacementTrainingBodyTrust] {
        run(&db, job).await;
    }
    // Post 10 changes both bodies; only the employing job runs again.
    c.execute("UPDATE tcs.post SET employing_body_id = 150, training_body_id = 250 WHERE id = 10", &[]).await.unwrap();
    run(&db, JobName::PersonPlacementEmployingBodyTrust).await;
    assert_eq!(
        person_pairs(c, Some("employing-body")).await,
        set(&[(1, 150), (1, 101), (1, 103), (2, 150), (2, 101), (3, 103)])
    );
    assert!(person_pairs(c, Some("training-body")).await.contains(&(1, 200)), "not the training job's business yet");
}

#[tokio::test]
async fn a_killed_trust_run_leaves_the_previous_rows() {
    let db = TestDb::new().await;
    let observer = db.client().await;
    let blocker = db.client().await;
    trust_fixture(&observer.client).await;
    run(&db, JobName::PostEmployingBodyTrust).await;
    let before = post_pairs(&observer.client, None).await;
    observer.client.execute("UPDATE tcs.post SET employing_body_id = 999", &[]).await.unwrap();

    blocker.client.batch_execute("BEGIN; LOCK TABLE tcs.post_trust IN EXCLUSIVE MODE").await.unwrap();
    let runner = db.runner();
    let job = tokio::spawn(async move { runner.run(RunRequest::manual(JobName::PostEmployingBodyTrust)).await });
    for _ in 0..3 {
        kill_when_blocked(&observer.client, "tis-sync:post-employing-body-trust:work").await;
    }
    assert!(job.await.unwrap().is_err());
    blocker.client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(post_pairs(&observer.client, None).await, before);
}

#[tokio::test]
async fn readers_never_see_a_missing_part_while_the_jobs_run() {
    let db = TestDb::new().await;
    seed::seed(&mut db.client().await.client, 1500, 9).await.unwrap();
    for job in [JobName::PersonPlacementEmployingBodyTrust, JobName::PersonPlacementTrainingBodyTrust] {
        run(&db, job).await;
    }
    let reader = db.client().await;
    let expected: i64 = reader
        .client
        .query_one("SELECT count(*) FROM (SELECT DISTINCT person_id, trust_id FROM tcs.person_trust) d", &[])
        .await
        .unwrap()
        .get(0);
    assert!(expected > 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let reading = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = reader
                    .client
                    .query_one(
                        "SELECT count(*) FROM (SELECT DISTINCT person_id, trust_id FROM tcs.person_trust) d",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                seen.push(n);
            }
            seen
        })
    };
    for _ in 0..3 {
        for job in [JobName::PersonPlacementEmployingBodyTrust, JobName::PersonPlacementTrainingBodyTrust] {
            run(&db, job).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen = reading.await.unwrap();
    assert!(seen.len() > 5, "the reader read during the runs");
    assert!(
        seen.iter().all(|n| *n == expected),
        "a reader saw {:?}, expected always {expected}",
        seen.iter().filter(|n| **n != expected).collect::<Vec<_>>()
    );
}
