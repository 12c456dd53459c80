//! The ESR exporter on real Postgres and the local AWS emulator (SQS, S3, EventBridge): the
//! window and cap, exactly-once files, the 2021 incident reproduced and survived, redelivery,
//! crash repair, transient failures, poison messages and the dead-letter queue, intake.

use std::collections::{BTreeMap, BTreeSet};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{Duration, NaiveDate};
use functions::{handle_dispatch, handle_export_commands};
use integration_tests::fault_proxy::{FaultProxy, Loss};
use integration_tests::{aws, kill_when_blocked, quick_retries, TestDb};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use shared::esr::dispatch::{DispatchRequest, Dispatcher};
use shared::esr::export::{Exporter, FileStore};
use shared::esr::intake::{self, IntakeMessage, IntakeOutcome};
use shared::events::EventPublisher;
use shared::retry::RetryPolicy;
use sync_core::esr::{Command, Kind};
use sync_core::event::DetailType;
use tokio_postgres::Client;

const DEANERIES: [&str; 13] =
    ["EMD", "KSS", "NTH", "WMD", "PEN", "NWN", "YHD", "EOE", "OXF", "WES", "LDN", "MER", "SEV"];

fn run_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 7, 31).unwrap()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

struct Esr {
    db: TestDb,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    bucket: String,
}

impl Esr {
    async fn new() -> Esr {
        let config = aws::config().await;
        let s3 =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
        let bucket = unique("esr-files");
        let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
            .build();
        s3.create_bucket().bucket(&bucket).create_bucket_configuration(location).send().await.unwrap();
        Esr { db: TestDb::new().await, s3, sqs: aws_sdk_sqs::Client::new(&config), bucket }
    }

    fn exporter(&self) -> Exporter {
        self.exporter_with(EventPublisher::disabled())
    }

    fn exporter_with(&self, events: EventPublisher) -> Exporter {
        let store = FileStore::new(self.s3.clone(), self.bucket.clone(), "exports/".into());
        Exporter::new(self.db.database.clone(), store, events).with_retry_policy(quick_retries())
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        let object = self.s3.get_object().bucket(&self.bucket).key(key).send().await.unwrap();
        object.body.collect().await.unwrap().into_bytes().to_vec()
    }
}

async fn app_record(c: &Client, id: i64, deanery: &str, position: &str, start: NaiveDate) {
    c.execute(
        "INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_number, start_date, applicant)
         VALUES ($1, $1::bigint + 100000, $2, $3, $4, $5)",
        &[&id, &deanery, &position, &start, &json!({"lastName": format!("Trainee{id}"), "positionNumber": position})],
    )
    .await
    .unwrap();
}

fn command(deanery: &str) -> Command {
    Command { deanery: deanery.into(), date: run_date(), kind: Kind::App, force: false, command_id: None }
}

/// A forced command as dispatch sends it: with an identity of its own.
fn forced(deanery: &str) -> Command {
    Command { force: true, command_id: Some(uuid::Uuid::new_v4().to_string()), ..command(deanery) }
}

async fn exported_ids(c: &Client, file: &str) -> Vec<i64> {
    c.query("SELECT id FROM esr.generated_app_record WHERE export_file = $1 ORDER BY start_date, id", &[&file])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn applicant_lines(content: &[u8]) -> Vec<String> {
    String::from_utf8(content.to_vec()).unwrap().lines().filter(|l| l.starts_with("APL|")).map(String::from).collect()
}

#[tokio::test]
async fn the_window_takes_start_dates_from_two_days_to_thirteen_weeks_in_order() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    let d = run_date();
    app_record(c, 1, "LDN", "P1", d + Duration::days(1)).await; // too soon
    app_record(c, 2, "LDN", "P1", d + Duration::days(2)).await; // first day in
    app_record(c, 3, "LDN", "P2", d + Duration::days(90)).await; // last day in
    app_record(c, 4, "LDN", "P2", d + Duration::days(91)).await; // 13 weeks: out
    app_record(c, 5, "LDN", "P3", d + Duration::days(10)).await;
    app_record(c, 6, "MER", "P1", d + Duration::days(10)).await; // another deanery
    app_record(c, 7, "LDN", "P3", d + Duration::days(10)).await; // same date as 5: by id
    c.execute("UPDATE esr.generated_app_record SET status = 'INVALID_DATA' WHERE id = 7", &[]).await.unwrap();
    app_record(c, 8, "LDN", "P3", d + Duration::days(5)).await;

    let file = esr.exporter().export(&command("LDN")).await.unwrap();
    assert!(file.created);
    assert_eq!(file.file_name, format!("DE_LDN_APP_20210731_{:08}.DAT", file.sequence));
    assert_eq!(exported_ids(c, &file.file_name).await, vec![2, 8, 5, 3]);
    assert_eq!(file.placement_ids, vec![100002, 100008, 100005, 100003]);
    let content = esr.object(&file.s3_key).await;
    let names: Vec<String> =
        applicant_lines(&content).iter().map(|l| l.split('|').nth(2).unwrap().to_string()).collect();
    assert_eq!(names, ["Trainee2", "Trainee8", "Trainee5", "Trainee3"]);
    let waiting: Vec<i64> = c
        .query("SELECT id FROM esr.generated_app_record WHERE status = 'TO_EXPORT' ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(waiting, vec![1, 4, 6]);
}

#[tokio::test]
async fn at_most_forty_per_position_and_the_rest_wait_for_the_next_run() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    let d = run_date();
    for id in 1..=45 {
        app_record(c, id, "LDN", "LDN/RX1/001", d + Duration::days(3 + (45 - id) / 10)).await;
    }
    for id in 46..=48 {
        app_record(c, id, "LDN", "LDN/RX1/002", d + Duration::days(4)).await;
    }
    let first = esr.exporter().export(&command("LDN")).await.unwrap();
    assert_eq!(first.records, 43);
    let per_position: BTreeMap<String, i64> = c
        .query(
            "SELECT position_number, count(*) FROM esr.generated_app_record WHERE export_file = $1 GROUP BY 1",
            &[&first.file_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(per_position, BTreeMap::from([("LDN/RX1/001".to_string(), 40), ("LDN/RX1/002".to_string(), 3)]));
    // The five left are the latest-starting ones of the position, and go in the next day's file.
    let left: BTreeSet<i64> = c
        .query("SELECT id FROM esr.generated_app_record WHERE status = 'TO_EXPORT'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, BTreeSet::from([1, 2, 3, 4, 5]));
    let mut next_day = command("LDN");
    next_day.date = d + Duration::days(1);
    let second = esr.exporter().export(&next_day).await.unwrap();
    assert_eq!(second.records, 5);
    assert!(second.sequence > first.sequence);
}

#[tokio::test]
async fn a_file_is_written_even_when_nothing_qualifies() {
    let esr = Esr::new().await;
    let file = esr.exporter().export(&command("SEV")).await.unwrap();
    assert_eq!(file.records, 0);
    let content = String::from_utf8(esr.object(&file.s3_key).await).unwrap();
    assert_eq!(content, format!("HDR|APP|SEV|20210731|{:08}\nTRL|0\n", file.sequence));
}

/// Receives from the queue in `consumers` concurrent loops, hands each batch to the real
/// handler, deletes what it handled and leaves the failures for SQS to deliver again. Returns
/// how many times each body was received.
async fn consume(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    exporter: &Exporter,
    consumers: usize,
    rounds_without_messages: usize,
) -> BTreeMap<String, usize> {
    let received = std::sync::Mutex::new(BTreeMap::<String, usize>::new());
    let consumer = || async {
        let mut idle = 0;
        while idle < rounds_without_messages {
            let answer = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(5)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let messages = answer.messages().to_vec();
            if messages.is_empty() {
                idle += 1;
                continue;
            }
            idle = 0;
            let mut event = SqsEvent::default();
            for m in &messages {
                *received.lock().unwrap().entry(m.body().unwrap_or_default().to_string()).or_default() += 1;
                let mut message = SqsMessage::default();
                message.message_id = m.message_id().map(String::from);
                message.body = m.body().map(String::from);
                event.records.push(message);
            }
            let response = handle_export_commands(exporter, LambdaEvent::new(event, Context::default())).await.unwrap();
            let failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
            for m in &messages {
                if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                    sqs.delete_message()
                        .queue_url(queue)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
    };
    futures::future::join_all((0..consumers).map(|_| consumer())).await;
    received.into_inner().unwrap()
}

/// A command queue shaped like the template's (redrive to a DLQ after `max_receives`), with the
/// given visibility timeout (short, so retries come quickly in a test).
async fn command_queues(sqs: &aws_sdk_sqs::Client, max_receives: u64, visibility_seconds: u32) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let dlq = aws::queue(sqs, &unique("esr-dlq")).await;
    let dlq_arn = aws::queue_arn(sqs, &dlq).await;
    let queue = sqs
        .create_queue()
        .queue_name(unique("esr-commands"))
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_seconds.to_string())
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    (queue, dlq)
}

async fn depth(sqs: &aws_sdk_sqs::Client, queue: &str) -> i64 {
    shared::status::queue_depth(sqs, queue).await.unwrap()
}

fn template_max_receive_count() -> u64 {
    let template = integration_tests::template::load();
    template["Resources"]["EsrCommandQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap()
}

#[tokio::test]
async fn the_incident_reproduced_and_survived_thirteen_commands_at_once() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    let d = run_date();
    // 60 waiting records per deanery, some on shared positions, some out of the window.
    let mut id = 0;
    for deanery in DEANERIES {
        for n in 0..60 {
            id += 1;
            app_record(c, id, deanery, &format!("{deanery}/P{}", n % 4), d + Duration::days(2 + (n % 30))).await;
        }
        id += 1;
        app_record(c, id, deanery, "late", d + Duration::days(200)).await;
    }
    let (queue, dlq) = command_queues(&esr.sqs, template_max_receive_count(), 60).await;
    // The 13:00 schedule: one command per active deanery, sent together.
    let dispatcher = Dispatcher::new(esr.db.database.clone(), esr.sqs.clone(), queue.clone());
    let request = DispatchRequest { deaneries: None, date: d, kind: Kind::App, force: false, identity: None };
    let dispatched = dispatcher.dispatch(&request).await.unwrap();
    assert_eq!(dispatched.commands.iter().map(|c| c.deanery.as_str()).collect::<Vec<_>>(), DEANERIES);

    let exporter = esr.exporter();
    let received = consume(&esr.sqs, &queue, &exporter, 4, 3).await;
    assert_eq!(received.len(), 13, "every command arrived");

    let files = c
        .query("SELECT deanery, sequence, cardinality(record_ids) FROM esr.export_file ORDER BY deanery", &[])
        .await
        .unwrap();
    assert_eq!(files.len(), 13, "one file per deanery");
    let sequences: BTreeSet<i64> = files.iter().map(|r| r.get(1)).collect();
    assert_eq!(sequences.len(), 13, "13 distinct sequence numbers");
    assert!(files.iter().all(|r| r.get::<_, i32>(2) == 60), "each file has its deanery's 60 records");
    let exported_twice: i64 = c
        .query_one(
            "SELECT count(*) FROM (SELECT unnest(record_ids) r FROM esr.export_file GROUP BY 1 HAVING count(*) > 1) x",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(exported_twice, 0);
    let waiting: i64 = c
        .query_one("SELECT count(*) FROM esr.generated_app_record WHERE status = 'TO_EXPORT'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 13, "only the out-of-window records wait");
    assert_eq!(depth(&esr.sqs, &dlq).await, 0, "nothing in the dead-letter queue");
    assert_eq!(depth(&esr.sqs, &queue).await, 0, "no command lost or left");
    let objects = esr.s3.list_objects_v2().bucket(&esr.bucket).prefix("exports/").send().await.unwrap();
    assert_eq!(objects.contents().len(), 13);
}

#[tokio::test]
async fn a_repeated_command_returns_the_days_file_and_exports_nothing_twice() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    for id in 1..=5 {
        app_record(c, id, "LDN", "P1", run_date() + Duration::days(5)).await;
    }
    let files = json!({"source": ["tis.sync"], "detail-type": ["ESR File Exported"]});
    let (eventbridge, bus, _, events_queue) = aws::bus_routed_to_a_queue(&files).await;
    let exporter = esr.exporter_with(EventPublisher::new(eventbridge, bus));

    let first = exporter.export(&command("LDN")).await.unwrap();
    // New records arrive; the same command is delivered again.
    app_record(c, 6, "LDN", "P1", run_date() + Duration::days(5)).await;
    let again = exporter.export(&command("LDN")).await.unwrap();
    assert!(!again.created);
    assert_eq!(
        (again.file_name.as_str(), again.sequence, again.records),
        (first.file_name.as_str(), first.sequence, 5)
    );
    let files: i64 = c.query_one("SELECT count(*) FROM esr.export_file", &[]).await.unwrap().get(0);
    assert_eq!(files, 1);
    assert_eq!(exported_ids(c, &first.file_name).await, vec![1, 2, 3, 4, 5]);
    let events = aws::drain(&esr.sqs, &events_queue, 1).await;
    assert_eq!(events.len(), 1, "one ESR File Exported event for the file: {events:?}");
    assert_eq!(events[0]["detail"]["fileName"], first.file_name.as_str());
    assert_eq!(events[0]["detail"]["placementIds"], json!([100001, 100002, 100003, 100004, 100005]));

    // force: a further file that day for the records still waiting.
    let forced = forced("LDN");
    let extra = exporter.export(&forced).await.unwrap();
    assert!(extra.created);
    assert_ne!(extra.file_name, first.file_name);
    assert_eq!(exported_ids(c, &extra.file_name).await, vec![6]);
    // The forced command delivered again (SQS delivers at least once) makes no further file.
    app_record(c, 7, "LDN", "P1", run_date() + Duration::days(5)).await;
    let repeated = exporter.export(&forced).await.unwrap();
    assert!(!repeated.created);
    assert_eq!(repeated.file_name, extra.file_name);
    let files: i64 = c.query_one("SELECT count(*) FROM esr.export_file", &[]).await.unwrap().get(0);
    assert_eq!(files, 2);
    let error = exporter.export(&Command { command_id: None, ..forced }).await.unwrap_err();
    assert!(error.to_string().contains("has no command id"), "{error}");
}

/// TCS shows a placement as exported from its PlacementEsrEvent rows, which the real exporter
/// had TCS write per exported record (`POST /placements/{id}/esr-exported`: exportedAt,
/// filename, placementId, positionNumber, positionId, status EXPORTED). Each is written once,
/// in the file's transaction, however often the command is delivered or forced; a record TCS's
/// table cannot hold (a non-numeric position number) or whose placement TCS does not have is
/// exported all the same and named on the file.
#[tokio::test]
async fn tcs_records_each_exported_placement_once_however_often_the_command_comes() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    let record = |id: i64, placement: i64, position: &'static str| {
        let start = run_date() + Duration::days(5);
        async move {
            c.execute(
                "INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_id, position_number, start_date, applicant)
                 VALUES ($1, $2, 'LDN', $3, $4, $5, $6)",
                &[&id, &placement, &(id + 9000), &position, &start, &json!({"lastName": format!("Trainee{id}"), "positionNumber": position})],
            )
            .await
            .unwrap();
        }
    };
    c.batch_execute("INSERT INTO tcs.placement (id) VALUES (200001), (200002), (200003), (200005)").await.unwrap();
    record(1, 200001, "1234567").await;
    record(2, 200002, "1234568").await;
    record(3, 200003, "LDN/RX1/777").await; // not ESR's numeric position number
    record(4, 299999, "1234569").await; // TCS has no such placement
    let exporter = esr.exporter();

    let first = exporter.export(&command("LDN")).await.unwrap();
    exporter.export(&command("LDN")).await.unwrap(); // delivered again
    record(5, 200005, "1234570").await;
    let forced = forced("LDN");
    let extra = exporter.export(&forced).await.unwrap();
    exporter.export(&forced).await.unwrap(); // the forced command delivered again

    let events: Vec<(i64, String, i64, i64, String)> = c
        .query(
            "SELECT placement_id, filename, position_number, position_id, status FROM tcs.placement_esr_event ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let event = |placement: i64, file: &str, position: i64, id: i64| {
        (placement, file.to_string(), position, id, "EXPORTED".to_string())
    };
    assert_eq!(
        events,
        [
            event(200001, &first.file_name, 1234567, 9001),
            event(200002, &first.file_name, 1234568, 9002),
            event(200005, &extra.file_name, 1234570, 9005),
        ]
    );
    // exportedAt is when the records were marked exported, in TCS's UTC datetime.
    let mismatched: i64 = c
        .query_one(
            "SELECT count(*) FROM tcs.placement_esr_event e JOIN esr.generated_app_record r ON r.placement_id = e.placement_id
              WHERE e.event_date_time <> r.exported_at AT TIME ZONE 'UTC'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatched, 0);
    let unrecorded: Vec<Vec<i64>> = c
        .query("SELECT tcs_unrecorded_placement_ids FROM esr.export_file ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(unrecorded, [vec![200003, 299999], vec![]]);
    assert_eq!(exported_ids(c, &first.file_name).await, vec![1, 2, 3, 4], "every record is in the file");
}

/// EventBridge refuses an entry of 256 KB or more, after the file is committed and uploaded: a
/// file of 40,000 records (320 KB of placement ids) is announced in parts, each under the limit,
/// together naming every placement in the file's order.
#[tokio::test]
async fn a_file_of_forty_thousand_records_is_announced_in_events_each_under_the_entry_limit() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    // 1,000 positions of 40 records each: the file takes all 40,000.
    c.execute(
        "INSERT INTO esr.generated_app_record (id, placement_id, deanery, position_number, start_date, applicant)
         SELECT g, 1000000 + g, 'LDN', 'LDN/' || g % 1000, $1::date + 2 + g % 80, jsonb_build_object('lastName', 'T' || g)
         FROM generate_series(1, 40000) g",
        &[&run_date()],
    )
    .await
    .unwrap();
    let files = json!({"source": ["tis.sync"], "detail-type": ["ESR File Exported"]});
    let (eventbridge, bus, _, events_queue) = aws::bus_routed_to_a_queue(&files).await;
    let exporter = esr.exporter_with(EventPublisher::new(eventbridge, bus));

    let file = exporter.export(&command("LDN")).await.expect("the file is made and announced");
    assert_eq!(file.records, 40_000);
    let mut events = aws::drain(&esr.sqs, &events_queue, 8).await;
    events.sort_by_key(|e| e["detail"]["part"].as_u64());
    assert!(events.len() > 1, "one event could not hold 40,000 ids");
    let mut announced = Vec::new();
    for (n, event) in events.iter().enumerate() {
        let detail = &event["detail"];
        let size = sync_core::event::entry_bytes(DetailType::EsrFileExported, &detail.to_string());
        assert!(size < sync_core::event::MAX_ENTRY_BYTES, "part {} is {size} bytes", n + 1);
        assert_eq!(
            (detail["part"].as_u64(), detail["parts"].as_u64()),
            (Some(n as u64 + 1), Some(events.len() as u64))
        );
        assert_eq!(detail["fileName"], file.file_name.as_str());
        assert_eq!(detail["records"], 40_000);
        announced.extend(detail["placementIds"].as_array().unwrap().iter().map(|id| id.as_i64().unwrap()));
    }
    let in_file: Vec<i64> = c
        .query_one("SELECT placement_ids FROM esr.export_file WHERE file_name = $1", &[&file.file_name])
        .await
        .unwrap()
        .get(0);
    assert_eq!(announced, in_file, "every placement announced once, in the file's order");
    let published: bool = c
        .query_one(
            "SELECT event_published_at IS NOT NULL FROM esr.export_file WHERE file_name = $1",
            &[&file.file_name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(published, "recorded as announced once every part is out");
}

/// The forced command's file row, content and EXPORTED marks commit before the upload. Killed
/// there (the upload, the event or the 60 s timeout fails), SQS delivers the command again: it
/// must finish its own file, not build a new one from the records left.
#[tokio::test]
async fn a_forced_command_killed_between_commit_and_upload_finishes_its_own_file_when_redelivered() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    for id in 1..=3 {
        app_record(c, id, "KSS", "P1", run_date() + Duration::days(7)).await;
    }
    esr.exporter().export(&command("KSS")).await.unwrap();
    for id in 4..=6 {
        app_record(c, id, "KSS", "P1", run_date() + Duration::days(7)).await;
    }
    let broken = {
        let store = FileStore::new(esr.s3.clone(), unique("missing-bucket"), "exports/".into());
        Exporter::new(esr.db.database.clone(), store, EventPublisher::disabled()).with_retry_policy(quick_retries())
    };
    // Through the handler, as SQS delivers it: a body from dispatch, then the same message again.
    let body = forced("KSS").to_json();
    let batch = |id: &str| {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.clone());
        let mut event = SqsEvent::default();
        event.records.push(message);
        LambdaEvent::new(event, Context::default())
    };
    let failed = handle_export_commands(&broken, batch("m-1")).await.unwrap();
    assert_eq!(failed.batch_item_failures.len(), 1, "the upload failed after the commit");
    for id in 7..=8 {
        app_record(c, id, "KSS", "P1", run_date() + Duration::days(7)).await;
    }
    // Redelivered (a redrive gives it a new message id; the commandId in its body is the same).
    let answered = handle_export_commands(&esr.exporter(), batch("m-2")).await.unwrap();
    assert!(answered.batch_item_failures.is_empty());
    let files: Vec<(String, Option<chrono::DateTime<chrono::Utc>>, Vec<i64>)> = c
        .query("SELECT file_name, uploaded_at, record_ids FROM esr.export_file ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(files.len(), 2, "one file for the day, one for the forced command: {files:?}");
    assert!(files.iter().all(|(_, uploaded, _)| uploaded.is_some()), "both uploaded: {files:?}");
    assert_eq!(files[1].2, vec![4, 5, 6], "the forced file keeps the records it took");
    let mut in_files: Vec<i64> = files.iter().flat_map(|(_, _, ids)| ids.clone()).collect();
    in_files.sort();
    assert_eq!(in_files, vec![1, 2, 3, 4, 5, 6], "every exported record is in exactly one uploaded file");
    let waiting: i64 = c
        .query_one("SELECT count(*) FROM esr.generated_app_record WHERE status = 'TO_EXPORT'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 2, "the records that came later wait for the next file");
    assert_eq!(applicant_lines(&esr.object(&format!("exports/{}", files[1].0)).await).len(), 3);
}

#[tokio::test]
async fn a_crash_between_commit_and_upload_is_repaired_by_the_retry_with_the_same_file() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    for id in 1..=3 {
        app_record(c, id, "MER", "P1", run_date() + Duration::days(7)).await;
    }
    // The upload fails after the commit: the bucket is gone.
    let broken = {
        let store = FileStore::new(esr.s3.clone(), unique("missing-bucket"), "exports/".into());
        Exporter::new(esr.db.database.clone(), store, EventPublisher::disabled()).with_retry_policy(quick_retries())
    };
    let error = broken.export(&command("MER")).await.unwrap_err();
    assert!(error.to_string().contains("storing s3://missing-bucket"), "{error}");
    let (name, stored): (String, Vec<u8>) = {
        let row = c.query_one("SELECT file_name, content FROM esr.export_file", &[]).await.unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(exported_ids(c, &name).await, vec![1, 2, 3], "the commit stands");

    let retried = esr.exporter().export(&command("MER")).await.unwrap();
    assert_eq!(retried.file_name, name);
    assert_eq!(esr.object(&retried.s3_key).await, stored, "the same bytes under the same key");
    let files: i64 = c.query_one("SELECT count(*) FROM esr.export_file", &[]).await.unwrap().get(0);
    assert_eq!(files, 1);
}

#[tokio::test]
async fn a_lost_database_connection_is_retried_and_the_command_succeeds() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    app_record(c, 1, "OXF", "P1", run_date() + Duration::days(7)).await;
    let blocker_session = esr.db.client().await;
    let blocker = &blocker_session.client;
    blocker.batch_execute("BEGIN; LOCK TABLE esr.export_file IN EXCLUSIVE MODE").await.unwrap();
    let exporter = esr.exporter();
    let export = async { exporter.export(&command("OXF")).await };
    let interfere = async {
        kill_when_blocked(c, "tis-sync:esr-export").await;
        blocker.batch_execute("ROLLBACK").await.unwrap();
    };
    let (file, ()) = tokio::join!(export, interfere);
    let file = file.expect("the retry succeeds");
    assert_eq!(file.records, 1);
    let files: i64 = c.query_one("SELECT count(*) FROM esr.export_file", &[]).await.unwrap().get(0);
    assert_eq!(files, 1);
}

/// File numbers are gap-free (docs/esr-export.md "Invariants"): 13 commands at once, four of
/// them killed mid-transaction (each kill a rollback) while the files are held up, still give 13
/// consecutive numbers, each file once.
#[tokio::test]
async fn thirteen_commands_with_kills_injected_give_consecutive_file_numbers() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    for (n, deanery) in DEANERIES.iter().enumerate() {
        app_record(c, n as i64 + 1, deanery, "P1", run_date() + Duration::days(7)).await;
    }
    // Hold every file's INSERT up, so commands are caught between their number and their commit.
    let blocker_session = esr.db.client().await;
    let blocker = &blocker_session.client;
    blocker.batch_execute("BEGIN; LOCK TABLE esr.export_file IN EXCLUSIVE MODE").await.unwrap();
    let patient = RetryPolicy {
        max_attempts: 8,
        first_delay: std::time::Duration::from_millis(20),
        max_delay: std::time::Duration::from_millis(100),
    };
    let exporter = esr.exporter().with_retry_policy(patient);
    let exports = futures::future::join_all(DEANERIES.iter().map(|d| {
        let exporter = &exporter;
        async move { exporter.export(&command(d)).await }
    }));
    let interfere = async {
        for _ in 0..4 {
            kill_when_blocked(c, "tis-sync:esr-export").await;
        }
        blocker.batch_execute("ROLLBACK").await.unwrap();
    };
    let (files, ()) = tokio::join!(exports, interfere);
    for file in &files {
        assert!(file.is_ok(), "{file:?}");
    }
    let numbers: Vec<i64> = c
        .query("SELECT sequence FROM esr.export_file ORDER BY sequence", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(numbers, (1..=13).collect::<Vec<i64>>(), "consecutive numbers, none burned by the kills");
    let next: i64 =
        c.query_one("SELECT last_sequence FROM esr.file_counter WHERE kind = 'app'", &[]).await.unwrap().get(0);
    assert_eq!(next, 13, "the counter stands at the last file's number");
}

/// Commands handled at once log each line under their own deanery only: a span entered across
/// an await leaves one command's fields on another command's lines.
#[tokio::test]
async fn commands_handled_at_once_log_each_line_under_their_own_deanery_only() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let deaneries = ["LDN", "MER", "SEV", "WES"];
    for (n, deanery) in deaneries.iter().enumerate() {
        app_record(&session.client, n as i64 + 1, deanery, "P1", run_date() + Duration::days(7)).await;
    }
    let exporter = esr.exporter();
    let logs = integration_tests::capture_logs();
    let files = futures::future::join_all(deaneries.iter().map(|d| {
        let exporter = &exporter;
        async move { exporter.export(&command(d)).await }
    }))
    .await;
    assert!(files.iter().all(Result::is_ok), "{files:?}");
    let mut under_a_command = 0;
    for line in logs.text().lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let commands: Vec<&serde_json::Value> = line["spans"]
            .as_array()
            .map(|spans| spans.iter().filter(|s| s["name"] == "esr_export").collect())
            .unwrap_or_default();
        assert!(commands.len() <= 1, "a line under several commands: {line}");
        if let Some(span) = commands.first() {
            under_a_command += 1;
            let deanery = span["deanery"].as_str().unwrap();
            assert!(span["file"].as_str().unwrap().contains(&format!("_{deanery}_")), "{line}");
        }
    }
    assert!(under_a_command >= deaneries.len(), "each command logged under its span ({under_a_command} lines)");
}

/// A forced dispatch that failed after sending part of its commands is retried by Lambda with
/// the same request id: it sends the same commands again (same ids), so no deanery gets a
/// second forced file. An operator's new request (a new id) is a new dispatch.
#[tokio::test]
async fn a_retried_forced_dispatch_sends_the_same_commands_and_makes_no_extra_files() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    let deaneries = ["LDN", "MER", "SEV"];
    for (n, deanery) in deaneries.iter().enumerate() {
        app_record(c, n as i64 + 1, deanery, "P1", run_date() + Duration::days(7)).await;
    }
    let (queue, _dlq) = command_queues(&esr.sqs, template_max_receive_count(), 60).await;
    let dispatcher = Dispatcher::new(esr.db.database.clone(), esr.sqs.clone(), queue.clone());
    let forced =
        json!({"deaneries": deaneries, "date": run_date().to_string(), "allowDistantDate": true, "force": true});
    let invocation = |request_id: &str| {
        let mut context = Context::default();
        context.request_id = request_id.to_string();
        LambdaEvent::new(forced.clone(), context)
    };
    let first = handle_dispatch(&dispatcher, invocation("request-1")).await.unwrap();
    let retried = handle_dispatch(&dispatcher, invocation("request-1")).await.unwrap();
    let ids =
        |d: &shared::esr::dispatch::Dispatched| d.commands.iter().map(|c| c.command_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&retried), "the retry sends the same commands");
    consume(&esr.sqs, &queue, &esr.exporter(), 2, 3).await;
    let forced_files = "SELECT count(*) FROM esr.export_file WHERE forced";
    assert_eq!(c.query_one(forced_files, &[]).await.unwrap().get::<_, i64>(0), 3, "one forced file per deanery");

    // An operator asking again is a new dispatch: a further forced file each.
    for (n, deanery) in deaneries.iter().enumerate() {
        app_record(c, n as i64 + 10, deanery, "P1", run_date() + Duration::days(7)).await;
    }
    handle_dispatch(&dispatcher, invocation("request-2")).await.unwrap();
    consume(&esr.sqs, &queue, &esr.exporter(), 2, 3).await;
    assert_eq!(c.query_one(forced_files, &[]).await.unwrap().get::<_, i64>(0), 6);
}

/// An upload that stops answering (a black hole: S3 never replies) fails its command before the
/// invocation's timeout, so SQS delivers it again, instead of Lambda killing the batch with no
/// word; the redelivery finishes the file the first attempt committed.
#[tokio::test]
async fn a_command_whose_upload_stops_answering_fails_before_the_invocation_ends() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    app_record(&session.client, 1, "LDN", "P1", run_date() + Duration::days(7)).await;
    let proxy = FaultProxy::start(&aws::endpoint()).await;
    proxy.arm("PUT", &format!("/{}/", esr.bucket), Loss::Everything, 1);
    let config = aws::config_at(&proxy.url).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let stalled = Exporter::new(
        esr.db.database.clone(),
        FileStore::new(s3, esr.bucket.clone(), "exports/".into()),
        EventPublisher::disabled(),
    )
    .with_retry_policy(quick_retries());
    let invocation = std::time::Duration::from_secs(5);
    let batch = |exporter_deadline: std::time::SystemTime| {
        let mut message = SqsMessage::default();
        message.message_id = Some("m1".into());
        message.body = Some(command("LDN").to_json());
        let mut event = SqsEvent::default();
        event.records.push(message);
        let mut context = Context::default();
        context.deadline = exporter_deadline.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        LambdaEvent::new(event, context)
    };
    let started = std::time::Instant::now();
    let handled = tokio::time::timeout(
        invocation * 4,
        handle_export_commands(&stalled, batch(std::time::SystemTime::now() + invocation)),
    )
    .await
    .expect("the batch ended on its own")
    .unwrap();
    let took = started.elapsed();
    assert!(took < invocation, "answered after {took:?}, past its {invocation:?} invocation");
    assert_eq!(handled.batch_item_failures.len(), 1, "the command failed, for SQS to deliver again");
    assert_eq!(proxy.taken().len(), 1, "the upload was the one that stopped answering");

    // Delivered again (the message id is its identity): the file it committed is finished.
    let handled =
        handle_export_commands(&esr.exporter(), batch(std::time::SystemTime::now() + invocation)).await.unwrap();
    assert!(handled.batch_item_failures.is_empty());
    let files: Vec<(String, bool)> = session
        .client
        .query("SELECT s3_key, uploaded_at IS NOT NULL FROM esr.export_file", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(files.len(), 1, "one file, made once");
    assert!(files[0].1, "and uploaded");
    assert!(!esr.object(&files[0].0).await.is_empty());
}

/// After the cutover step the first file carries the old exporter's next number, and the
/// numbers run on from there.
#[tokio::test]
async fn after_the_cutover_the_first_file_continues_the_old_exporters_numbers() {
    let esr = Esr::new().await;
    let mut session = esr.db.client().await;
    shared::esr::continue_numbers_from(&mut session.client, Kind::App, 3801).await.unwrap();
    let first = esr.exporter().export(&command("LDN")).await.unwrap();
    let second = esr.exporter().export(&command("MER")).await.unwrap();
    assert_eq!((first.sequence, second.sequence), (3801, 3802));
    assert!(first.file_name.ends_with("_00003801.DAT"), "{}", first.file_name);
}

#[tokio::test]
async fn poison_commands_fail_alone_and_end_in_the_dead_letter_queue() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    app_record(c, 1, "WES", "P1", run_date() + Duration::days(7)).await;
    let exporter = esr.exporter();

    // In one batch: a good command and three poison ones; only the poison ones fail.
    let bodies = [
        command("WES").to_json(),
        "{not json".to_string(),
        json!({"deanery": "XYZ", "date": "2021-07-31"}).to_string(),
        json!({"deanery": "WES", "date": "31/07/2021"}).to_string(),
    ];
    let mut event = SqsEvent::default();
    for (n, body) in bodies.iter().enumerate() {
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("m{n}"));
        message.body = Some(body.clone());
        event.records.push(message);
    }
    let response = handle_export_commands(&exporter, LambdaEvent::new(event, Context::default())).await.unwrap();
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m1", "m2", "m3"]);
    assert_eq!(
        exported_ids(
            c,
            &format!("DE_WES_APP_20210731_{:08}.DAT", {
                c.query_one("SELECT sequence FROM esr.export_file", &[]).await.unwrap().get::<_, i64>(0)
            })
        )
        .await,
        vec![1]
    );

    // On the real queue: after maxReceiveCount receives, SQS moves them to the DLQ.
    let max_receives = template_max_receive_count();
    let (queue, dlq) = command_queues(&esr.sqs, max_receives, 1).await;
    for body in &bodies[1..] {
        esr.sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    }
    let received = consume(&esr.sqs, &queue, &exporter, 1, 4).await;
    assert!(received.values().all(|n| *n as u64 == max_receives), "{received:?}");
    let mut dead = aws::drain_raw(&esr.sqs, &dlq, 3).await;
    dead.sort();
    let mut poison: Vec<String> = bodies[1..].to_vec();
    poison.sort();
    assert_eq!(dead, poison, "the three poison commands are in the dead-letter queue");
}

#[tokio::test]
async fn intake_inserts_updates_before_export_and_ignores_updates_after() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    let message = |last_name: &str, minute: u32| -> IntakeMessage {
        IntakeMessage::parse(
            &json!({"kind": "app", "record": {
                "id": 77, "placementId": 9077, "deanery": "ldn", "positionNumber": "P1",
                "startDate": "2021-08-10", "applicant": {"lastName": last_name},
                "changedAt": format!("2021-07-30T10:{minute:02}:00Z")
            }})
            .to_string(),
        )
        .unwrap()
    };
    assert_eq!(intake::apply(c, &message("Smith", 1)).await.unwrap(), IntakeOutcome::Inserted);
    assert_eq!(intake::apply(c, &message("Smyth", 2)).await.unwrap(), IntakeOutcome::Updated);
    assert_eq!(applicant_last_name(c).await, "Smyth");
    esr.exporter().export(&command("LDN")).await.unwrap();
    assert_eq!(intake::apply(c, &message("Smithe", 3)).await.unwrap(), IntakeOutcome::Ignored);
    assert_eq!(applicant_last_name(c).await, "Smyth", "the exported record is unchanged");

    let unknown = IntakeMessage::parse(
        &json!({"kind": "app", "record": {
            "id": 78, "placementId": 1, "deanery": "XYZ", "startDate": "2021-08-10", "changedAt": "2021-07-30T10:00:00Z"
        }})
        .to_string(),
    )
    .unwrap();
    let error = intake::apply(c, &unknown).await.unwrap_err().to_string();
    assert!(error.contains("unknown deanery XYZ"), "{error}");
    let bad = IntakeMessage::parse(r#"{"kind": "app", "record": {"id": "x"}}"#).unwrap_err().to_string();
    assert!(bad.contains("record message"), "{bad}");
}

/// A standard queue, concurrent batches, two pollers and a redrive days later deliver out of
/// order and more than once: an older message never replaces a newer one.
#[tokio::test]
async fn out_of_order_and_repeated_intake_messages_never_replace_a_newer_version() {
    let esr = Esr::new().await;
    let session = esr.db.client().await;
    let c = &session.client;
    let message = |status: &str, last_name: &str, changed_at: &str| -> IntakeMessage {
        IntakeMessage::parse(
            &json!({"kind": "app", "record": {
                "id": 77, "placementId": 9077, "deanery": "LDN", "positionNumber": "P1",
                "startDate": "2021-08-10", "status": status, "applicant": {"lastName": last_name},
                "changedAt": changed_at
            }})
            .to_string(),
        )
        .unwrap()
    };
    let created = message("TO_EXPORT", "Smith", "2021-07-30T09:00:00Z");
    let deleted = message("DELETED_BEFORE_EXPORT", "Smith", "2021-07-30T11:00:00Z");
    let renamed = message("TO_EXPORT", "Smyth", "2021-07-30T10:00:00Z");
    // The deletion arrives first, then the two older versions, then the deletion again.
    assert_eq!(intake::apply(c, &deleted).await.unwrap(), IntakeOutcome::Inserted);
    assert_eq!(intake::apply(c, &created).await.unwrap(), IntakeOutcome::Outdated);
    assert_eq!(intake::apply(c, &renamed).await.unwrap(), IntakeOutcome::Outdated);
    assert_eq!(intake::apply(c, &deleted).await.unwrap(), IntakeOutcome::Outdated, "a duplicate changes nothing");
    let (status, last_name): (String, String) = {
        let row = c
            .query_one("SELECT status, applicant->>'lastName' FROM esr.generated_app_record WHERE id = 77", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((status.as_str(), last_name.as_str()), ("DELETED_BEFORE_EXPORT", "Smith"));
    // So the next file does not send the deleted record to ESR.
    let file = esr.exporter().export(&command("LDN")).await.unwrap();
    assert_eq!(file.records, 0);
    // In order, each newer version applies.
    let later = message("TO_EXPORT", "Smythe", "2021-07-30T12:00:00Z");
    assert_eq!(intake::apply(c, &later).await.unwrap(), IntakeOutcome::Updated);
    let missing = IntakeMessage::parse(
        &json!({"kind": "app", "record": {"id": 79, "placementId": 1, "deanery": "LDN", "startDate": "2021-08-10"}})
            .to_string(),
    )
    .unwrap_err()
    .to_string();
    assert!(missing.contains("missing field `changedAt`"), "{missing}");
}

/// Two versions changed at the same instant (docs/esr-export.md "Intake order"): whichever
/// arrives first, the same one is kept (a withdrawal over a TO_EXPORT; between two TO_EXPORT
/// versions a fixed order of their content), so a redrive or concurrent batches converge.
#[tokio::test]
async fn tied_versions_end_the_same_whatever_order_they_arrive_in() {
    let message = |id: i64, status: &str, last_name: &str| -> IntakeMessage {
        IntakeMessage::parse(
            &json!({"kind": "app", "record": {
                "id": id, "placementId": 9000 + id, "deanery": "LDN", "positionNumber": "P1",
                "startDate": "2021-08-10", "status": status, "applicant": {"lastName": last_name},
                "changedAt": "2021-07-30T10:00:00Z"
            }})
            .to_string(),
        )
        .unwrap()
    };
    let mut outcomes = Vec::new();
    for order in [[0, 1], [1, 0]] {
        let db = TestDb::new().await;
        let session = db.client().await;
        let c = &session.client;
        let renamed = [message(1, "TO_EXPORT", "Smith"), message(1, "TO_EXPORT", "Smyth")];
        let withdrawn = [message(2, "TO_EXPORT", "Jones"), message(2, "DELETED_BEFORE_EXPORT", "Jones")];
        for n in order {
            intake::apply(c, &renamed[n]).await.unwrap();
            intake::apply(c, &withdrawn[n]).await.unwrap();
        }
        // The same message again is a duplicate, whichever it is.
        for message in [&renamed[0], &renamed[1], &withdrawn[0], &withdrawn[1]] {
            let outcome = intake::apply(c, message).await.unwrap();
            assert!(matches!(outcome, IntakeOutcome::Outdated), "{outcome:?}");
        }
        let rows: Vec<(i64, String, String)> = c
            .query("SELECT id, status, applicant->>'lastName' FROM esr.generated_app_record ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        outcomes.push(rows);
    }
    assert_eq!(outcomes[0], outcomes[1], "the arrival order decided the outcome");
    assert_eq!(outcomes[0][1].1, "DELETED_BEFORE_EXPORT", "a withdrawal wins a tie");
}

/// A database error says where (SQLSTATE, table, constraint), never the row's values: the
/// error travels to logs kept 90 days and to alerts.
#[tokio::test]
async fn a_record_violating_a_constraint_fails_without_its_personal_data_in_the_error_or_the_log() {
    let esr = Esr::new().await;
    let logs = integration_tests::capture_logs();
    let body = json!({"kind": "notification", "record": {
        "id": 501, "placementId": 9501, "deanery": "LDN", "positionNumber": "LDN/RX1/777",
        "startDate": "2021-08-10", "notificationType": 3, "changedAt": "2021-07-30T09:00:00Z",
        "notification": {"lastName": "Featherstonehaugh", "gmcNumber": "7654321", "dob": "1990-02-03"}
    }})
    .to_string();
    let mut message = SqsMessage::default();
    message.message_id = Some("m-pii".into());
    message.body = Some(body);
    let mut event = SqsEvent::default();
    event.records.push(message);
    let response =
        functions::handle_intake(&esr.db.database, LambdaEvent::new(event, Context::default())).await.unwrap();
    assert_eq!(response.batch_item_failures[0].item_identifier, "m-pii", "it fails, for SQS to redrive");
    let session = esr.db.client().await;
    let error = intake::apply(
        &session.client,
        &IntakeMessage::parse(
            &json!({"kind": "notification", "record": {
                "id": 501, "placementId": 9501, "deanery": "LDN", "positionNumber": "LDN/RX1/777",
                "startDate": "2021-08-10", "notificationType": 3, "changedAt": "2021-07-30T09:00:00Z",
                "notification": {"lastName": "Featherstonehaugh", "gmcNumber": "7654321"}
            }})
            .to_string(),
        )
        .unwrap(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("SQLSTATE 23514") && error.contains("notification_record_notification_type_check"),
        "{error}"
    );
    let logged = logs.text();
    assert!(logged.contains("m-pii") && logged.contains("SQLSTATE 23514"), "the failure is logged: {logged}");
    for value in ["Featherstonehaugh", "7654321", "1990-02-03", "LDN/RX1/777"] {
        assert!(!error.contains(value), "the error carries {value}: {error}");
        assert!(!logged.contains(value), "the log carries {value}: {logged}");
    }
}

async fn applicant_last_name(c: &Client) -> String {
    c.query_one("SELECT applicant->>'lastName' FROM esr.generated_app_record WHERE id = 77", &[]).await.unwrap().get(0)
}
