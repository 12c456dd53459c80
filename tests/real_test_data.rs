//! TIS-SYNC's and TIS-TCS's own public test data, converted to this project's tables, with the
//! expectations of the tests that use it (docs/differences.md says where this project's answer
//! deliberately differs). Facts about how the real system behaves, kept as tests of these jobs.
//! TIS-SYNC's tests take "today" from the clock; here the as-of date is fixed and their dates
//! are relative to it.

use chrono::{Duration, NaiveDate};
use integration_tests::fixtures::*;
use integration_tests::{aws, reval_queue, TestDb};
use shared::runner::{Outcome, RunRequest};
use sync_core::JobName;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 8, 7).unwrap()
}

fn request(job: JobName) -> RunRequest {
    let mut request = RunRequest::manual(job);
    request.as_of = today();
    request.follow_ups = false;
    request
}

/// TIS-SYNC RevalCurrentPmSyncJobIntegrationTest: personRows.sql (persons 1, 2, 3),
/// programmes.sql (programme 1) and programmeMemberships.sql (1 starts today and ends in a
/// month; 2 started a month ago and ended yesterday; 3 started a month ago and ends in a
/// month). The test expects one message holding exactly "1" and "2".
#[tokio::test]
async fn the_programme_feed_sends_what_tis_syncs_own_test_expects() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    for id in 1..=3 {
        person(c, id).await;
    }
    programme(c, 1, None).await;
    let (t, month) = (today(), Duration::days(30));
    let day = |d: NaiveDate| d.to_string();
    membership(c, 1, 1, 1, Some(&day(t)), Some(&day(t + month))).await;
    membership(c, 2, 2, 1, Some(&day(t - month)), Some(&day(t - Duration::days(1)))).await;
    membership(c, 3, 3, 1, Some(&day(t - month)), Some(&day(t + month))).await;
    let (queue, url, sqs) = reval_queue().await;

    let summary = db.runner().with_reval_feed(queue).run(request(JobName::RevalCurrentPmSync)).await.unwrap();
    assert_eq!(summary.status, Outcome::Succeeded);
    let messages = aws::drain_raw(&sqs, &url, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let mut ids: Vec<String> = serde_json::from_str(&messages[0]).unwrap();
    ids.sort();
    assert_eq!(ids, ["1", "2"]);
}

/// TIS-SYNC PostFundingStatusSyncJobTest: post 1, CURRENT, with the fundings of each scenario
/// (end dates relative to today; TIS-SYNC's query only looks at fundings with a start date, so
/// each has one). INACTIVE only when every funding has ended, yesterday or before.
#[tokio::test]
async fn post_funding_status_gives_tis_syncs_answer_in_each_of_its_scenarios() {
    let t = today();
    let yesterday = Some(t - Duration::days(1));
    let scenarios: [(&str, Vec<Option<NaiveDate>>, &str); 7] = [
        ("multiple fundings, all ending yesterday", vec![yesterday, yesterday], "INACTIVE"),
        ("multiple fundings, both end dates null", vec![None, None], "CURRENT"),
        ("a single funding ending yesterday", vec![yesterday], "INACTIVE"),
        ("a single funding, end date empty", vec![None], "CURRENT"),
        ("one ending yesterday, the other a month ago", vec![yesterday, Some(t - Duration::days(30))], "INACTIVE"),
        ("one ending yesterday, the other in a month", vec![yesterday, Some(t + Duration::days(30))], "CURRENT"),
        ("one ending yesterday, the other empty", vec![yesterday, None], "CURRENT"),
    ];
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    for (n, (_, ends, _)) in scenarios.iter().enumerate() {
        let post_id = n as i64 + 1;
        post(c, post_id, None, None, None).await;
        c.execute("UPDATE tcs.post SET funding_status = 'CURRENT' WHERE id = $1", &[&post_id]).await.unwrap();
        for (k, end) in ends.iter().enumerate() {
            c.execute(
                "INSERT INTO tcs.post_funding (id, post_id, start_date, end_date, funding_type) VALUES ($1, $2, $3, $4, 'Tariff')",
                &[&(post_id * 1000 + k as i64), &post_id, &(t - Duration::days(365)), end],
            )
            .await
            .unwrap();
        }
    }
    let summary = db.runner().run(request(JobName::PostFundingStatus)).await.unwrap();
    assert_eq!(summary.status, Outcome::Succeeded);
    for (n, (scenario, _, expected)) in scenarios.iter().enumerate() {
        let status: Option<String> =
            c.query_one("SELECT funding_status FROM tcs.post WHERE id = $1", &[&(n as i64 + 1)]).await.unwrap().get(0);
        assert_eq!(status.as_deref(), Some(*expected), "{scenario}");
    }
}
