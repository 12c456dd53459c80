//! person-record-status and post-funding-status on real Postgres: hand-computed statuses, only
//! changed rows written (amended_date bumped on those alone), soft-deleted persons left alone, a
//! missed night put right by the next run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use integration_tests::fixtures::*;
use integration_tests::{date, TestDb};
use shared::runner::{Outcome, RunRequest, RunSummary};
use sync_core::JobName;
use tokio_postgres::Client;

async fn run(db: &TestDb, job: JobName, as_of: &str) -> RunSummary {
    let mut request = RunRequest::manual(job);
    request.as_of = date(as_of);
    request.follow_ups = false;
    let summary = db.runner().run(request).await.unwrap_or_else(|e| panic!("{job} succeeds: {e}"));
    assert_eq!(summary.status, Outcome::Succeeded);
    summary
}

async fn statuses(c: &Client) -> BTreeMap<i64, (Option<String>, Option<DateTime<Utc>>)> {
    let rows = c.query("SELECT id, status, amended_date FROM tcs.person ORDER BY id", &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect()
}

fn status(map: &BTreeMap<i64, (Option<String>, Option<DateTime<Utc>>)>, id: i64) -> &str {
    map[&id].0.as_deref().unwrap_or("NULL")
}

/// Persons, as of 2024-08-04: 1 a membership starting today; 2 one that ended yesterday; 3 one
/// spanning today; 4 NULL dates only; 5 none at all (a trainer or an admin, whose status users
/// set by hand); 6 CURRENT but its current membership was deleted, a past one left (the old
/// defect, TIS21-3311); 7 soft-deleted (DELETE) with a current membership; 8 a past and a
/// current one.
async fn record_status_fixture(c: &Client) {
    for id in 1..=8 {
        person(c, id).await;
    }
    c.execute("UPDATE tcs.person SET status = 'INACTIVE' WHERE id IN (1, 3)", &[]).await.unwrap();
    c.execute("UPDATE tcs.person SET status = 'DELETE' WHERE id = 7", &[]).await.unwrap();
    c.execute("UPDATE tcs.person SET amended_date = '2020-01-01T00:00:00Z'", &[]).await.unwrap();
    programme(c, 1, Some("X")).await;
    membership(c, 1, 1, 1, Some("2024-08-04"), Some("2025-08-03")).await;
    membership(c, 2, 2, 1, Some("2023-08-04"), Some("2024-08-03")).await;
    membership(c, 3, 3, 1, Some("2023-01-01"), Some("2026-01-01")).await;
    membership(c, 6, 6, 1, Some("2015-01-01"), Some("2016-01-01")).await;
    membership(c, 4, 4, 1, None, None).await;
    membership(c, 5, 4, 1, Some("2024-01-01"), None).await;
    membership(c, 7, 7, 1, Some("2023-01-01"), Some("2026-01-01")).await;
    membership(c, 8, 8, 1, Some("2010-01-01"), Some("2012-01-01")).await;
    membership(c, 9, 8, 1, Some("2024-08-01"), Some("2024-08-04")).await;
}

#[tokio::test]
async fn record_statuses_are_computed_for_every_person_and_only_changed_rows_are_written() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    record_status_fixture(c).await;
    let before = statuses(c).await;
    let summary = run(&db, JobName::PersonRecordStatus, "2024-08-04").await;
    let after = statuses(c).await;
    let expected = [
        (1, "CURRENT"),
        (2, "INACTIVE"),
        (3, "CURRENT"),
        (4, "INACTIVE"),
        (5, "CURRENT"),
        (6, "INACTIVE"),
        (7, "DELETE"),
        (8, "CURRENT"),
    ];
    for (id, want) in expected {
        assert_eq!(status(&after, id), want, "person {id}");
    }
    // Changed: 1 and 3 (to CURRENT), 2, 4 and 6 (to INACTIVE); 5, 7 and 8 untouched.
    for id in 1..=8 {
        let changed = before[&id].0 != after[&id].0;
        assert_eq!(after[&id].1 != before[&id].1, changed, "person {id}: amended_date bumped exactly when changed");
    }
    assert_eq!(summary.rows, 6, "every person with a programme membership, but the soft-deleted one");
    assert_eq!(summary.detail["nowCurrent"], 2);
    assert_eq!(summary.detail["nowInactive"], 3);

    // The same night again changes nothing.
    let again = run(&db, JobName::PersonRecordStatus, "2024-08-04").await;
    assert_eq!((again.detail["nowCurrent"].as_i64(), again.detail["nowInactive"].as_i64()), (Some(0), Some(0)));
    assert_eq!(statuses(c).await, after);
}

#[tokio::test]
async fn a_missed_night_is_caught_up_by_the_next_run() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    record_status_fixture(c).await;
    run(&db, JobName::PersonRecordStatus, "2024-08-04").await;
    // Nights of 05 and 06 missed: person 8's membership ended on the 4th, person 2 starts a new
    // one on the 5th. The run of the 7th sees both.
    membership(c, 10, 2, 1, Some("2024-08-05"), Some("2025-08-04")).await;
    run(&db, JobName::PersonRecordStatus, "2024-08-07").await;
    let after = statuses(c).await;
    assert_eq!(status(&after, 8), "INACTIVE");
    assert_eq!(status(&after, 2), "CURRENT");
}

/// Posts, as of 2024-08-04: 10 every funding ended; 11 one open (NULL end); 12 one ending in
/// the future; 13 one ended and one with a NULL end; 14 none at all; 15 ended yesterday only; 16
/// one ending today (still funded today); 17 already INACTIVE and all ended.
async fn funding_fixture(c: &Client) {
    for id in 10..=17 {
        post(c, id, Some("X"), None, None).await;
    }
    c.execute("UPDATE tcs.post SET funding_status = 'CURRENT'", &[]).await.unwrap();
    c.execute("UPDATE tcs.post SET funding_status = 'INACTIVE' WHERE id = 17", &[]).await.unwrap();
    let fundings: [(i64, i64, Option<&str>, Option<&str>); 10] = [
        (1, 10, Some("2020-01-01"), Some("2021-01-01")),
        (2, 10, Some("2021-01-02"), Some("2022-01-01")),
        (3, 11, Some("2020-01-01"), None),
        (4, 12, Some("2020-01-01"), Some("2030-01-01")),
        (5, 13, Some("2020-01-01"), Some("2021-01-01")),
        (6, 13, None, None),
        (7, 15, None, Some("2024-08-03")),
        (8, 16, Some("2020-01-01"), Some("2024-08-04")),
        (9, 17, Some("2020-01-01"), Some("2021-01-01")),
        (10, 17, Some("2021-01-01"), Some("2022-01-01")),
    ];
    for (id, post, start, end) in fundings {
        c.execute(
            "INSERT INTO tcs.post_funding (id, post_id, start_date, end_date, funding_type)
             VALUES ($1, $2, $3::text::date, $4::text::date, 'TARIFF')",
            &[&id, &post, &start, &end],
        )
        .await
        .unwrap();
    }
}

async fn funding_statuses(c: &Client) -> BTreeMap<i64, Option<String>> {
    let rows = c.query("SELECT id, funding_status FROM tcs.post ORDER BY id", &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test]
async fn a_post_whose_fundings_all_ended_becomes_inactive_and_nothing_becomes_current() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    funding_fixture(c).await;
    let summary = run(&db, JobName::PostFundingStatus, "2024-08-04").await;
    let after = funding_statuses(c).await;
    let inactive: Vec<i64> =
        after.iter().filter(|(_, s)| s.as_deref() == Some("INACTIVE")).map(|(id, _)| *id).collect();
    assert_eq!(inactive, vec![10, 15, 17]);
    for id in [11, 12, 13, 14, 16] {
        assert_eq!(after[&id].as_deref(), Some("CURRENT"), "post {id} keeps its status");
    }
    assert_eq!(summary.detail["nowInactive"], 2, "10 and 15 changed; 17 was INACTIVE already");
    assert_eq!(summary.rows, 3);

    // A funding ending on the 4th is over on the 5th: a missed night or two are caught up.
    run(&db, JobName::PostFundingStatus, "2024-08-06").await;
    assert_eq!(funding_statuses(c).await[&16].as_deref(), Some("INACTIVE"));
}

/// A TCS user editing a person holds its row: the job updating statuses waits for it at most
/// its lock timeout, gives up, retries, and in the end fails having written nothing, rather
/// than wait (and keep the rows it already updated locked against TCS's edits) for as long as
/// the edit lasts.
#[tokio::test]
async fn a_status_job_never_waits_long_for_a_tcs_edit_and_writes_nothing_when_it_gives_up() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    record_status_fixture(c).await;
    let before = statuses(c).await;
    let mut editor = db.client().await;
    let edit = editor.client.transaction().await.unwrap();
    edit.execute("UPDATE tcs.person SET role = role WHERE id = 2", &[]).await.unwrap();

    let mut request = RunRequest::manual(JobName::PersonRecordStatus);
    request.as_of = date("2024-08-04");
    request.follow_ups = false;
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), db.runner().run(request)).await;
    edit.rollback().await.unwrap();
    let error = outcome.expect("the job gave up rather than wait for the edit").unwrap_err().to_string();
    assert!(error.contains("lock timeout"), "{error}");
    assert_eq!(statuses(c).await, before, "nothing written");
}

/// Trainers, educational supervisors and admins have no programme membership: TCS derives no
/// status for them (it recomputes only when a membership is saved or deleted) and users set it
/// by hand. The job leaves them as they are, whatever it is.
#[tokio::test]
async fn persons_without_any_programme_membership_keep_the_status_users_gave_them() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    for (id, given) in [(1i64, "CURRENT"), (2, "INACTIVE"), (3, "CURRENT")] {
        person(c, id).await;
        c.execute("UPDATE tcs.person SET status = $2, role = 'Educational Supervisor' WHERE id = $1", &[&id, &given])
            .await
            .unwrap();
    }
    // Person 3 is also a trainee, with a membership that has ended: it is evaluated.
    programme(c, 1, Some("X")).await;
    membership(c, 1, 3, 1, Some("2020-01-01"), Some("2021-01-01")).await;
    let before = statuses(c).await;
    let summary = run(&db, JobName::PersonRecordStatus, "2024-08-04").await;
    let after = statuses(c).await;
    assert_eq!(after[&1], before[&1], "a trainer stays CURRENT, amended_date untouched");
    assert_eq!(after[&2], before[&2]);
    assert_eq!(status(&after, 3), "INACTIVE");
    assert_eq!(summary.rows, 1);
}
