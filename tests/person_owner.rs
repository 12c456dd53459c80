//! person-owner-rebuild computes exactly the cascade of jobs.md, on real Postgres.

use integration_tests::fixtures::*;
use integration_tests::{date, TestDb};
use shared::runner::RunRequest;
use sync_core::JobName;
use sync_core::Trigger;
use tokio_postgres::Client;

const AS_OF: &str = "2024-08-04";

async fn rebuild(db: &TestDb, as_of: &str) {
    let mut request = RunRequest::manual(JobName::PersonOwnerRebuild);
    request.as_of = date(as_of);
    request.follow_ups = false;
    db.runner().run(request).await.expect("the rebuild succeeds");
}

async fn owner_of(c: &Client, person: i64) -> (Option<String>, Option<String>) {
    let row = c
        .query_one("SELECT owner, rule FROM tcs.person_owner WHERE id = $1", &[&person])
        .await
        .unwrap_or_else(|e| panic!("person {person} has exactly one person_owner row: {e}"));
    (row.get(0), row.get(1))
}

fn is(owner: &str, rule: &str) -> (Option<String>, Option<String>) {
    (Some(owner.to_string()), Some(rule.to_string()))
}

/// Programmes 1..=4 owned by A..D, posts 11..=14 owned by E..H.
async fn owners_fixture(c: &Client) {
    for (id, owner) in [(1, "A"), (2, "B"), (3, "C"), (4, "D")] {
        programme(c, id, Some(owner)).await;
    }
    for (id, owner) in [(11, "E"), (12, "F"), (13, "G"), (14, "H")] {
        post(c, id, Some(owner), None, None).await;
    }
    programme(c, 9, None).await;
    post(c, 19, None, None, None).await;
}

#[tokio::test]
async fn rules_apply_in_priority_order_p1_p2_p5_p6_p7_p8() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    for person_id in 1..=6 {
        person(c, person_id).await;
    }
    // Person 1 has a candidate for every rule: P1 wins.
    membership(c, 1, 1, 1, Some("2024-01-01"), Some("2024-12-31")).await; // current (A)
    placement(c, 1, Some(1), Some(11), Some("2024-02-01"), Some("2024-09-01"), "APPROVED").await; // current (E)
    membership(c, 2, 1, 2, Some("2025-01-01"), Some("2026-01-01")).await; // future (B)
    placement(c, 2, Some(1), Some(12), Some("2025-02-01"), Some("2025-09-01"), "APPROVED").await; // future (F)
    membership(c, 3, 1, 3, Some("2020-01-01"), Some("2021-01-01")).await; // past (C)
    placement(c, 3, Some(1), Some(13), Some("2020-02-01"), Some("2020-09-01"), "APPROVED").await; // past (G)
                                                                                                  // Person 2: no current membership: the current placement (P2).
    placement(c, 4, Some(2), Some(11), Some("2024-02-01"), Some("2024-09-01"), "APPROVED").await;
    membership(c, 4, 2, 2, Some("2025-01-01"), Some("2026-01-01")).await;
    // Person 3: nothing current: the future membership (P5) before the future placement.
    membership(c, 5, 3, 2, Some("2025-01-01"), Some("2026-01-01")).await;
    placement(c, 5, Some(3), Some(12), Some("2024-09-01"), Some("2025-09-01"), "APPROVED").await;
    membership(c, 6, 3, 3, Some("2020-01-01"), Some("2021-01-01")).await;
    // Person 4: future placement (P6) before a past membership.
    placement(c, 6, Some(4), Some(12), Some("2025-02-01"), Some("2025-09-01"), "APPROVED").await;
    membership(c, 7, 4, 3, Some("2020-01-01"), Some("2021-01-01")).await;
    // Person 5: past membership (P7) before past placement.
    membership(c, 8, 5, 3, Some("2020-01-01"), Some("2021-01-01")).await;
    placement(c, 7, Some(5), Some(14), Some("2022-02-01"), Some("2022-09-01"), "APPROVED").await;
    // Person 6: only a past placement (P8).
    placement(c, 8, Some(6), Some(14), Some("2022-02-01"), Some("2022-09-01"), "APPROVED").await;

    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, is("A", "P1"));
    assert_eq!(owner_of(c, 2).await, is("E", "P2"));
    assert_eq!(owner_of(c, 3).await, is("B", "P5"));
    assert_eq!(owner_of(c, 4).await, is("F", "P6"));
    assert_eq!(owner_of(c, 5).await, is("C", "P7"));
    assert_eq!(owner_of(c, 6).await, is("H", "P8"));
}

#[tokio::test]
async fn bounds_are_inclusive_on_the_as_of_date() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    for person_id in 1..=4 {
        person(c, person_id).await;
    }
    membership(c, 1, 1, 1, Some(AS_OF), Some("2025-01-01")).await; // starts on d
    membership(c, 2, 2, 2, Some("2023-01-01"), Some(AS_OF)).await; // ends on d
    placement(c, 1, Some(3), Some(11), Some(AS_OF), Some("2025-01-01"), "APPROVED").await;
    placement(c, 2, Some(4), Some(12), Some("2023-01-01"), Some(AS_OF), "APPROVED").await;

    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, is("A", "P1"));
    assert_eq!(owner_of(c, 2).await, is("B", "P1"));
    assert_eq!(owner_of(c, 3).await, is("E", "P2"));
    assert_eq!(owner_of(c, 4).await, is("F", "P2"));
}

#[tokio::test]
async fn each_rule_takes_the_earliest_start_or_the_latest_end() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    for person_id in 1..=4 {
        person(c, person_id).await;
    }
    // P1: the earliest-starting current membership, even if inserted later.
    membership(c, 1, 1, 1, Some("2024-03-01"), Some("2025-01-01")).await;
    membership(c, 2, 1, 2, Some("2023-09-01"), Some("2025-01-01")).await;
    // P6: the earliest future placement.
    placement(c, 1, Some(2), Some(11), Some("2026-01-01"), Some("2026-06-01"), "APPROVED").await;
    placement(c, 2, Some(2), Some(12), Some("2025-01-01"), Some("2025-06-01"), "APPROVED").await;
    // P7: the membership that ended last.
    membership(c, 3, 3, 1, Some("2019-01-01"), Some("2020-01-01")).await;
    membership(c, 4, 3, 3, Some("2019-01-01"), Some("2022-06-30")).await;
    // P8: the placement that ended last.
    placement(c, 3, Some(4), Some(13), Some("2019-01-01"), Some("2023-01-01"), "APPROVED").await;
    placement(c, 4, Some(4), Some(14), Some("2018-01-01"), Some("2021-01-01"), "APPROVED").await;

    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, is("B", "P1"));
    assert_eq!(owner_of(c, 2).await, is("F", "P6"));
    assert_eq!(owner_of(c, 3).await, is("C", "P7"));
    assert_eq!(owner_of(c, 4).await, is("G", "P8"));
}

#[tokio::test]
async fn a_null_owner_is_recorded_and_carries_the_cascade_on() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    for person_id in 1..=3 {
        person(c, person_id).await;
    }
    // Person 1: the current membership's programme has no owner; the future placement's has.
    membership(c, 1, 1, 9, Some("2024-01-01"), Some("2024-12-31")).await;
    placement(c, 1, Some(1), Some(12), Some("2025-01-01"), Some("2025-06-01"), "APPROVED").await;
    // Person 2: every candidate has a NULL owner: owner NULL, rule = the last rule with a candidate.
    membership(c, 2, 2, 9, Some("2024-01-01"), Some("2024-12-31")).await;
    placement(c, 2, Some(2), Some(19), Some("2020-01-01"), Some("2020-06-01"), "APPROVED").await;
    // Person 3: a rule looks at ONE candidate: the earliest current membership has no owner,
    // so P1 yields NULL even though a later current membership has one; P7 then decides.
    membership(c, 3, 3, 9, Some("2023-01-01"), Some("2024-12-31")).await;
    membership(c, 4, 3, 1, Some("2024-01-01"), Some("2024-12-31")).await;
    membership(c, 5, 3, 3, Some("2019-01-01"), Some("2020-01-01")).await;

    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, is("F", "P6"));
    assert_eq!(owner_of(c, 2).await, (None, Some("P8".to_string())));
    assert_eq!(owner_of(c, 3).await, is("C", "P7"));
}

#[tokio::test]
async fn rows_missing_the_date_a_condition_needs_never_match_it() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    for person_id in 1..=3 {
        person(c, person_id).await;
    }
    // Person 1: no end date: cannot be current (P1) or past (P7); start in the past: not P5.
    membership(c, 1, 1, 1, Some("2024-01-01"), None).await;
    // ...and a placement with no start date cannot be current (P2) or future (P6), its end is
    // in the future so not P8 either: nothing matches.
    placement(c, 1, Some(1), Some(11), None, Some("2025-01-01"), "APPROVED").await;
    // Person 2: no end date, but a future start: P5 needs only the start.
    membership(c, 2, 2, 2, Some("2025-01-01"), None).await;
    // Person 3: no start date, past end: P7 needs only the end.
    membership(c, 3, 3, 3, None, Some("2020-01-01")).await;

    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, (None, None));
    assert_eq!(owner_of(c, 2).await, is("B", "P5"));
    assert_eq!(owner_of(c, 3).await, is("C", "P7"));
}

#[tokio::test]
async fn draft_placements_count() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    person(c, 1).await;
    placement(c, 1, Some(1), Some(13), Some("2024-01-01"), Some("2024-12-31"), "DRAFT").await;

    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, is("G", "P2"));
}

#[tokio::test]
async fn ties_go_to_the_lowest_membership_uuid_and_the_lowest_placement_id() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    for person_id in 1..=2 {
        person(c, person_id).await;
    }
    membership(c, 2, 1, 2, Some("2024-01-01"), Some("2024-12-31")).await;
    membership(c, 1, 1, 1, Some("2024-01-01"), Some("2025-12-31")).await;
    placement(c, 5, Some(2), Some(12), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 3, Some(2), Some(11), Some("2024-01-01"), Some("2025-12-31"), "APPROVED").await;

    // Rebuilding twice from different physical orders gives the same answer.
    rebuild(&db, AS_OF).await;
    assert_eq!(owner_of(c, 1).await, is("A", "P1"));
    assert_eq!(owner_of(c, 2).await, is("E", "P2"));
    c.batch_execute(
        "CREATE TEMP TABLE pl AS SELECT * FROM tcs.placement; DELETE FROM tcs.placement;
         INSERT INTO tcs.placement SELECT * FROM pl ORDER BY id DESC;
         CREATE TEMP TABLE pm AS SELECT * FROM tcs.programme_membership; DELETE FROM tcs.programme_membership;
         INSERT INTO tcs.programme_membership SELECT * FROM pm ORDER BY uuid DESC;",
    )
    .await
    .unwrap();
    rebuild(&db, AS_OF).await;
    assert_eq!(owner_of(c, 1).await, is("A", "P1"));
    assert_eq!(owner_of(c, 2).await, is("E", "P2"));
}

#[tokio::test]
async fn every_person_gets_one_row_and_orphans_are_ignored() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    person(c, 1).await; // nothing at all
    person(c, 2).await;
    // A placement whose trainee does not exist, one whose post does not exist, one with no post.
    placement(c, 1, Some(99), Some(11), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 2, Some(2), Some(999), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 3, Some(2), None, Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    // A membership of a programme that does not exist.
    membership(c, 1, 2, 999, Some("2024-01-01"), Some("2024-12-31")).await;

    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, (None, None));
    assert_eq!(owner_of(c, 2).await, (None, None));
    let ids: Vec<i64> =
        c.query("SELECT id FROM tcs.person_owner ORDER BY id", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![1, 2]);
}

#[tokio::test]
async fn the_as_of_date_is_used_everywhere_and_recorded() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    person(c, 1).await;
    membership(c, 1, 1, 1, Some("2024-01-01"), Some("2024-12-31")).await;
    placement(c, 1, Some(1), Some(11), Some("2022-01-01"), Some("2022-12-31"), "APPROVED").await;

    rebuild(&db, "2021-06-01").await;
    assert_eq!(owner_of(c, 1).await, is("A", "P5"));
    rebuild(&db, "2022-06-01").await;
    assert_eq!(owner_of(c, 1).await, is("E", "P2"));
    rebuild(&db, "2024-06-01").await;
    assert_eq!(owner_of(c, 1).await, is("A", "P1"));
    rebuild(&db, "2025-06-01").await;
    assert_eq!(owner_of(c, 1).await, is("A", "P7"));

    let recorded: Vec<chrono::NaiveDate> = c
        .query("SELECT as_of FROM sync.job_run ORDER BY started_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, ["2021-06-01", "2022-06-01", "2024-06-01", "2025-06-01"].map(date));
}

#[tokio::test]
async fn a_rebuild_follows_changes_and_removes_persons_that_are_gone() {
    let db = TestDb::new().await;
    let c = &db.client().await.client;
    owners_fixture(c).await;
    person(c, 1).await;
    person(c, 2).await;
    membership(c, 1, 1, 1, Some("2024-01-01"), Some("2024-12-31")).await;
    rebuild(&db, AS_OF).await;
    assert_eq!(owner_of(c, 1).await, is("A", "P1"));

    c.batch_execute("UPDATE tcs.programme SET owner = 'A2' WHERE id = 1; DELETE FROM tcs.person WHERE id = 2")
        .await
        .unwrap();
    rebuild(&db, AS_OF).await;

    assert_eq!(owner_of(c, 1).await, is("A2", "P1"));
    let count: i64 = c.query_one("SELECT count(*) FROM tcs.person_owner", &[]).await.unwrap().get(0);
    assert_eq!(count, 1);
    let trigger: String =
        c.query_one("SELECT trigger FROM sync.job_run ORDER BY started_at DESC LIMIT 1", &[]).await.unwrap().get(0);
    assert_eq!(trigger, Trigger::Manual.as_str());
}
