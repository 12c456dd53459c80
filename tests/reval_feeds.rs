//! The revalidation feeds on real Postgres and a real queue of the local AWS: exactly the ids
//! whose programme or placement changed, in messages of at most 1,000 received from the queue;
//! a missed night sent by the next run; a send that fails part-way fails the run, and its retry
//! sends every id again. The same to TIS's RabbitMQ, read as TCS reads it, with publisher
//! confirms and a verified certificate.

use std::collections::BTreeSet;

use integration_tests::fixtures::*;
use integration_tests::{aws, date, rabbitmq, reval_queue, TestDb};
use serde_json::json;
use shared::runner::{Outcome, RunRequest, RunSummary};
use sync_core::reval::MAX_IDS_PER_MESSAGE;
use sync_core::{JobName, RunStatus, Trigger};
use tokio_postgres::Client;

const AS_OF: &str = "2024-08-07";

fn request(job: JobName, as_of: &str) -> RunRequest {
    let mut request = RunRequest::manual(job);
    request.as_of = date(as_of);
    request.follow_ups = false;
    request
}

/// Memberships for persons `from..=to` starting (or ending) on `day`, one each.
async fn memberships(c: &Client, from: i64, to: i64, column: &str, day: &str) {
    c.execute(
        "INSERT INTO tcs.person (id, status) SELECT g, 'CURRENT' FROM generate_series($1::bigint, $2::bigint) g
         ON CONFLICT DO NOTHING",
        &[&from, &to],
    )
    .await
    .unwrap();
    c.execute(
        &format!(
            "INSERT INTO tcs.programme_membership (uuid, person_id, programme_id, {column}, programme_membership_type)
             SELECT gen_random_uuid(), g, 1, $3::text::date, 'SUBSTANTIVE' FROM generate_series($1::bigint, $2::bigint) g"
        ),
        &[&from, &to, &day],
    )
    .await
    .unwrap();
}

/// Every message received from the queue: each a JSON array of at most 1,000 id strings.
async fn received(sqs: &aws_sdk_sqs::Client, url: &str, expected_messages: usize) -> Vec<Vec<i64>> {
    let bodies = aws::drain_raw(sqs, url, expected_messages).await;
    bodies
        .iter()
        .map(|body| {
            let ids: Vec<String> = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert!(ids.len() <= MAX_IDS_PER_MESSAGE, "a message of {} ids", ids.len());
            ids.iter().map(|id| id.parse().unwrap()).collect()
        })
        .collect()
}

fn all(messages: &[Vec<i64>]) -> Vec<i64> {
    let mut ids: Vec<i64> = messages.iter().flatten().copied().collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_programme_feed_sends_exactly_the_changed_persons_in_messages_of_at_most_1000() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    // Changed on 2024-08-07: 1..=1200 start today, 1201..=2300 ended yesterday, 2301 has both.
    memberships(c, 1, 1200, "programme_start_date", AS_OF).await;
    memberships(c, 1201, 2301, "programme_end_date", "2024-08-06").await;
    memberships(c, 2301, 2301, "programme_start_date", AS_OF).await;
    // Not changed: starting yesterday, ending today, starting tomorrow, NULL dates.
    memberships(c, 3001, 3010, "programme_start_date", "2024-08-06").await;
    memberships(c, 3011, 3020, "programme_end_date", AS_OF).await;
    memberships(c, 3021, 3030, "programme_start_date", "2024-08-08").await;
    person(c, 3031).await;
    membership(c, 1, 3031, 1, None, None).await;
    let (queue, url, sqs) = reval_queue().await;

    let summary = db.runner().with_reval_feed(queue).run(request(JobName::RevalCurrentPmSync, AS_OF)).await.unwrap();
    assert_eq!(summary.status, Outcome::Succeeded);
    assert_eq!(summary.rows, 2301);
    assert_eq!(summary.detail, json!({"dates": [AS_OF], "messages": 3}));

    let messages = received(&sqs, &url, 3).await;
    let mut sizes: Vec<usize> = messages.iter().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(sizes, vec![301, 1000, 1000]);
    assert_eq!(all(&messages), (1..=2301).collect::<Vec<i64>>(), "each changed person once, nobody else");
}

/// A placement for the placement feed: (id, trainee, from, to).
type Placement<'a> = (i64, Option<i64>, Option<&'a str>, Option<&'a str>);

async fn placements(c: &Client, rows: &[Placement<'_>]) {
    for (id, trainee, from, to) in rows {
        placement(c, *id, *trainee, Some(1), *from, *to, "APPROVED").await;
    }
}

#[tokio::test]
async fn the_placement_feed_sends_the_trainees_whose_placement_started_today_or_ended_yesterday() {
    let db = TestDb::new().await;
    let session = db.client().await;
    placements(
        &session.client,
        &[
            (1, Some(11), Some(AS_OF), Some("2025-08-06")),
            (2, Some(12), Some("2023-08-07"), Some("2024-08-06")),
            // 13 both ends and starts: sent once.
            (3, Some(13), Some("2023-08-07"), Some("2024-08-06")),
            (4, Some(13), Some(AS_OF), Some("2025-02-04")),
            (5, Some(14), Some("2024-08-06"), Some("2025-08-06")),
            (6, Some(15), Some("2023-08-07"), Some(AS_OF)),
            (7, Some(16), None, None),
            (8, None, Some(AS_OF), Some("2025-08-06")),
            (9, Some(17), Some("2024-02-07"), Some("2024-08-07")),
        ],
    )
    .await;
    let (queue, url, sqs) = reval_queue().await;
    let summary =
        db.runner().with_reval_feed(queue).run(request(JobName::RevalCurrentPlacementSync, AS_OF)).await.unwrap();
    assert_eq!(summary.rows, 3);
    assert_eq!(all(&received(&sqs, &url, 1).await), vec![11, 12, 13]);
}

#[tokio::test]
async fn a_missed_night_is_sent_by_the_next_run_and_the_run_names_the_dates_it_covered() {
    let db = TestDb::new().await;
    let session = db.client().await;
    let c = &session.client;
    memberships(c, 1, 5, "programme_start_date", "2024-08-05").await;
    memberships(c, 6, 10, "programme_start_date", "2024-08-06").await;
    memberships(c, 11, 15, "programme_end_date", "2024-08-06").await; // changed on 2024-08-07
    memberships(c, 16, 20, "programme_start_date", AS_OF).await;
    let (queue, url, sqs) = reval_queue().await;
    let runner = db.runner().with_reval_feed(queue);

    runner.run(request(JobName::RevalCurrentPmSync, "2024-08-05")).await.unwrap();
    assert_eq!(all(&received(&sqs, &url, 1).await), (1..=5).collect::<Vec<i64>>());
    // 2024-08-06 is missed; the run of 2024-08-07 sends both nights, and not 2024-08-05 again.
    let summary: RunSummary = runner.run(request(JobName::RevalCurrentPmSync, AS_OF)).await.unwrap();
    assert_eq!(summary.detail["dates"], json!(["2024-08-06", AS_OF]));
    assert_eq!(all(&received(&sqs, &url, 1).await), (6..=20).collect::<Vec<i64>>());
}

#[tokio::test]
async fn a_send_failing_part_way_fails_the_run_and_its_retry_sends_every_id() {
    use aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize;
    let db = TestDb::new().await;
    let session = db.client().await;
    // 15,000 persons start today: 15 messages in two batches. A message of 1,000 four-digit ids
    // is about 7,000 bytes, of five-digit ids about 8,000: a queue taking at most 7,500 bytes
    // accepts the first batch and rejects the second, as SQS does, entry by entry.
    memberships(&session.client, 1, 15_000, "programme_start_date", AS_OF).await;
    let (queue, url, sqs) = reval_queue().await;
    sqs.set_queue_attributes().queue_url(&url).attributes(MaximumMessageSize, "7500").send().await.unwrap();
    let runner = db.runner().with_reval_feed(queue);
    let mut scheduled = request(JobName::RevalCurrentPmSync, AS_OF);
    scheduled.trigger = Trigger::Schedule;
    scheduled.delivery_key = Some("schedule:2024-08-07T01:39:00Z".into());

    let error = runner.run(scheduled.clone()).await.unwrap_err().to_string();
    assert!(error.contains("not accepted after 3 attempts") && error.contains("7500"), "{error}");
    let first = received(&sqs, &url, 10).await;
    assert_eq!(all(&first), (1..=10_000).collect::<Vec<i64>>(), "the first batch was sent");
    assert_eq!(ledger_statuses(&session.client).await, vec![RunStatus::Failed]);

    // Lambda's retry delivers the same event again: the failed delivery runs again, in full.
    sqs.set_queue_attributes().queue_url(&url).attributes(MaximumMessageSize, "262144").send().await.unwrap();
    let retried = runner.run(scheduled).await.unwrap();
    assert_eq!(retried.status, Outcome::Succeeded);
    assert_eq!(retried.detail["dates"], json!([AS_OF]), "the failed run moved nothing on");
    let second = received(&sqs, &url, 15).await;
    assert_eq!(all(&second), (1..=15_000).collect::<Vec<i64>>(), "every id, the first batch's again");
    let sent: BTreeSet<i64> = first.iter().chain(&second).flatten().copied().collect();
    assert_eq!(sent.len(), 15_000);
    assert_eq!(ledger_statuses(&session.client).await, vec![RunStatus::Failed, RunStatus::Succeeded]);
}

async fn ledger_statuses(c: &Client) -> Vec<RunStatus> {
    let rows = c.query("SELECT status FROM sync.job_run ORDER BY started_at", &[]).await.unwrap();
    rows.iter().map(|r| r.get::<_, String>(0).parse().unwrap()).collect()
}

// ---- To TIS's RabbitMQ, where TCS reads the feed (docs/revalidation-feeds.md).

/// TCS's `RevalidationMessageListener` takes `List<String>` through Spring AMQP's
/// `Jackson2JsonMessageConverter`, which converts only a message whose content type contains
/// "json" (otherwise it hands the listener raw bytes, and the listener fails), in the charset of
/// its content encoding; each id then goes through `Long.valueOf`.
fn as_tcs_reads(delivery: &lapin::message::Delivery) -> Vec<i64> {
    let properties = &delivery.properties;
    let content_type = properties.content_type().as_ref().map(|t| t.to_string()).unwrap_or_default();
    assert!(content_type.contains("json"), "content type {content_type:?}: TCS's converter would refuse it");
    assert_eq!(properties.content_encoding().as_ref().map(|e| e.to_string()).as_deref(), Some("UTF-8"));
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent: the broker keeps it across a restart");
    let ids: Vec<String> = serde_json::from_slice(&delivery.data).expect("a JSON array of strings");
    assert!(ids.len() <= MAX_IDS_PER_MESSAGE, "a message of {} ids", ids.len());
    ids.iter().map(|id| id.parse().unwrap_or_else(|e| panic!("Long.valueOf({id:?}): {e}"))).collect()
}

#[tokio::test]
async fn tcs_reads_the_programme_feed_from_its_rabbitmq_queue_as_its_listener_would() {
    use sync_core::reval::{EXCHANGE, ROUTING_KEY, TCS_QUEUE};
    let db = TestDb::new().await;
    let session = db.client().await;
    memberships(&session.client, 1, 1500, "programme_start_date", AS_OF).await;
    // The only test on TIS's own names (in the tests' vhost): what an earlier run left is gone.
    rabbitmq::drain(rabbitmq::TCS, TCS_QUEUE).await;

    let summary = db
        .runner()
        .with_reval_feed(rabbitmq::feed(EXCHANGE, ROUTING_KEY))
        .run(request(JobName::RevalCurrentPmSync, AS_OF))
        .await
        .unwrap();
    assert_eq!((summary.status, summary.rows), (Outcome::Succeeded, 1500));
    assert_eq!(summary.detail["messages"], 2);

    // Read as TCS reads it: its own login, its queue, bound by TIS to the exchange and key.
    let deliveries = rabbitmq::drain(rabbitmq::TCS, TCS_QUEUE).await;
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!((delivery.exchange.as_str(), delivery.routing_key.as_str()), (EXCHANGE, ROUTING_KEY));
    }
    let messages: Vec<Vec<i64>> = deliveries.iter().map(as_tcs_reads).collect();
    assert_eq!(all(&messages), (1..=1500).collect::<Vec<i64>>(), "each changed person once, nobody else");
}

/// Publisher confirms with `mandatory`: a message the broker cannot route to a queue (nobody
/// bound one for the routing key) fails the run instead of vanishing; once a queue is bound, the
/// run's retry sends everything.
#[tokio::test]
async fn a_feed_the_broker_cannot_route_fails_the_run_and_its_retry_sends_every_id() {
    use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    let db = TestDb::new().await;
    let session = db.client().await;
    memberships(&session.client, 1, 30, "programme_start_date", AS_OF).await;
    let name = format!("reval.exchange.{}", uuid::Uuid::new_v4().simple());
    let admin = rabbitmq::connect(rabbitmq::ADMIN).await;
    let channel = admin.create_channel().await.unwrap();
    let declare = ExchangeDeclareOptions { auto_delete: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(name.as_str().into(), lapin::ExchangeKind::Direct, declare, FieldTable::default())
        .await
        .unwrap();
    let runner = db.runner().with_reval_feed(rabbitmq::feed(&name, "reval.trainee.update"));

    let error = runner.run(request(JobName::RevalCurrentPmSync, AS_OF)).await.unwrap_err().to_string();
    assert!(error.contains("no queue is bound") && error.contains(&name) && error.contains("312"), "{error}");
    assert_eq!(ledger_statuses(&session.client).await, vec![RunStatus::Failed]);

    let queue = format!("{name}.tcs");
    let exclusive = QueueDeclareOptions { exclusive: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.as_str().into(), exclusive, FieldTable::default()).await.unwrap();
    channel
        .queue_bind(
            queue.as_str().into(),
            name.as_str().into(),
            "reval.trainee.update".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let retried = runner.run(request(JobName::RevalCurrentPmSync, AS_OF)).await.unwrap();
    assert_eq!(retried.status, Outcome::Succeeded);
    let mut received = Vec::new();
    while let Some(message) =
        channel.basic_get(queue.as_str().into(), lapin::options::BasicGetOptions { no_ack: true }).await.unwrap()
    {
        received.push(as_tcs_reads(&message.delivery));
    }
    assert_eq!(all(&received), (1..=30).collect::<Vec<i64>>());
    admin.close(200, "done".into()).await.unwrap();
}

/// The broker's certificate is verified: signed by a CA the function was not given (the local
/// CA is in no platform store), the connection is refused and nothing is sent.
#[tokio::test]
async fn a_broker_whose_certificate_cannot_be_verified_is_refused() {
    use sync_core::reval::{EXCHANGE, ROUTING_KEY};
    let db = TestDb::new().await;
    let session = db.client().await;
    memberships(&session.client, 1, 3, "programme_start_date", AS_OF).await;
    let unverified = shared::broker::Broker::new(
        &rabbitmq::url(rabbitmq::PUBLISHER),
        None,
        None,
        EXCHANGE.into(),
        ROUTING_KEY.into(),
    )
    .unwrap();
    let error = db
        .runner()
        .with_reval_feed(shared::jobs::reval_feed::RevalFeed::Broker(Box::new(unverified)))
        .run(request(JobName::RevalCurrentPmSync, AS_OF))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(ledger_statuses(&session.client).await, vec![RunStatus::Failed]);
}
