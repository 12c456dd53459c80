//! The events real runs publish are matched by the rules created from template.yaml's own
//! patterns, and by no other rule, on the local AWS emulator (ministack): each rule targets a
//! queue of this test, and the queues say which events each rule matched.

use std::collections::BTreeMap;

use integration_tests::template::{self, events, function_name, functions, to_json};
use integration_tests::{aws, date, TestDb};
use serde_json::{json, Value};
use shared::events::EventPublisher;
use shared::runner::{Outcome, RunRequest};
use sync_core::JobName::{self, *};
use sync_core::Trigger;
use tis_sync::InProcessRunner;

fn request(job: JobName, follow_ups: bool) -> RunRequest {
    let mut request = RunRequest::manual(job);
    request.as_of = date("2024-08-04");
    request.follow_ups = follow_ups;
    request
}

#[tokio::test]
async fn published_events_reach_exactly_the_rules_of_the_template_that_should_start_follow_ups() {
    let config = aws::config().await;
    let eventbridge = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = format!("tis-sync-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    eventbridge.create_event_bus().name(&bus).send().await.unwrap();

    // One queue per rule of the template, plus one that sees every event of the source.
    let mut rules: Vec<(String, Value)> = Vec::new();
    for (_, function) in functions(&template::load()) {
        for (name, rule) in events(&function, "EventBridgeRule") {
            rules.push((format!("{}.{name}", function_name(&function)), to_json(&rule["Properties"]["Pattern"])));
        }
    }
    assert_eq!(rules.len(), 8, "the template's follow-up rules");
    rules.push(("all".into(), json!({"source": ["tis.sync"]})));
    let mut queues = BTreeMap::new();
    for (n, (label, pattern)) in rules.iter().enumerate() {
        let queue_url = aws::queue(&sqs, &format!("{bus}-{n}")).await;
        let arn = aws::queue_arn(&sqs, &queue_url).await;
        aws::route_to_queue(&eventbridge, &bus, &format!("{bus}-rule-{n}"), pattern, &arn).await;
        queues.insert(label.clone(), queue_url);
    }

    let db = TestDb::new().await;
    let c = db.client().await;
    seed::seed(&mut db.client().await.client, 40, 2).await.unwrap();
    let runner = db.runner_with_events(EventPublisher::new(eventbridge.clone(), bus.clone()));
    // Each answer says what its run started: its published event's follow-ups, or none.
    let owner = runner.run(request(PersonOwnerRebuild, true)).await.unwrap();
    assert_eq!(owner.triggered, vec![PersonElasticsearchSync]);
    runner.run(request(PersonPlacementEmployingBodyTrust, true)).await.unwrap();
    let alone = runner.run(request(PersonPlacementEmployingBodyTrust, false)).await.unwrap();
    assert_eq!(alone.triggered, vec![]);
    runner.run(request(PersonRecordStatus, true)).await.unwrap();
    // The CLI runs follow-ups itself: its events must not start them a second time, and its
    // answer hands them to the CLI.
    let cli = InProcessRunner::new(db.runner_with_events(EventPublisher::new(eventbridge.clone(), bus.clone())));
    let here = cli.runner().run(request(PostEmployingBodyTrust, true)).await.unwrap();
    assert_eq!(here.triggered, vec![PostTrainingBodyTrust]);
    c.client.batch_execute("ALTER TABLE tcs.post_trust RENAME TO post_trust_gone").await.unwrap();
    runner.run(request(PostEmployingBodyTrust, true)).await.unwrap_err();
    let mut index = request(PersonElasticsearchSync, true);
    index.trigger = Trigger::FollowUp;
    index.delivery_key = Some("after:x".into());
    assert_eq!(runner.run(index).await.unwrap().status, Outcome::Deferred);

    let mut seen: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
    for (label, url) in &queues {
        let events = aws::drain(&sqs, url, if label == "all" { 7 } else { 0 }).await;
        seen.insert(
            label.clone(),
            events
                .iter()
                .map(|e| {
                    (
                        e["detail-type"].as_str().unwrap().to_string(),
                        e["detail"]["job"].as_str().unwrap().to_string(),
                        e["detail"]["followUps"].as_bool().unwrap(),
                    )
                })
                .collect(),
        );
    }
    let succeeded = |job: JobName| vec![("Job Succeeded".to_string(), job.to_string(), true)];
    assert_eq!(
        seen["person-placement-training-body-trust.AfterPersonPlacementEmployingBodyTrust"],
        succeeded(PersonPlacementEmployingBodyTrust)
    );
    assert_eq!(seen["person-elasticsearch-sync.AfterPersonOwnerRebuild"], succeeded(PersonOwnerRebuild));
    assert_eq!(
        seen["person-elasticsearch-sync.AfterPersonPlacementEmployingBodyTrust"],
        succeeded(PersonPlacementEmployingBodyTrust)
    );
    assert_eq!(seen["person-elasticsearch-sync.AfterPersonPlacementTrainingBodyTrust"], vec![]);
    assert_eq!(seen["person-elasticsearch-sync.AfterPersonRecordStatus"], succeeded(PersonRecordStatus));
    assert_eq!(
        seen["post-training-body-trust.AfterPostEmployingBodyTrust"],
        vec![],
        "a failed job starts no follow-up"
    );
    assert_eq!(seen["post-elasticsearch-sync.AfterPostTrainingBodyTrust"], vec![], "nor what follows that");
    let mut all = seen["all"].clone();
    all.sort();
    assert_eq!(
        all,
        vec![
            ("Job Deferred".into(), "person-elasticsearch-sync".into(), true),
            ("Job Failed".into(), "post-employing-body-trust".into(), true),
            ("Job Succeeded".into(), "person-owner-rebuild".into(), true),
            ("Job Succeeded".into(), "person-placement-employing-body-trust".into(), false),
            ("Job Succeeded".into(), "person-placement-employing-body-trust".into(), true),
            ("Job Succeeded".into(), "person-record-status".into(), true),
            ("Job Succeeded".into(), "post-employing-body-trust".into(), false),
        ]
    );
    // Every run's event was accepted and recorded as published.
    let unpublished: i64 =
        c.client.query_one("SELECT count(*) FROM sync.job_run WHERE published_at IS NULL", &[]).await.unwrap().get(0);
    assert_eq!(unpublished, 0);
}

/// A success whose Job Succeeded the bus never took (publishing kept failing through Lambda's
/// retries) is announced by the next run of any job, so its follow-ups start then, not at the
/// watchdog's catch-up; and only once.
#[tokio::test]
async fn the_next_run_of_any_job_announces_a_success_the_bus_never_took() {
    let (eventbridge, bus, sqs, queue) = aws::bus_routed_to_a_queue(&json!({"source": ["tis.sync"]})).await;
    let db = TestDb::new().await;
    let c = db.client().await;
    seed::seed(&mut db.client().await.client, 40, 2).await.unwrap();
    // person-owner-rebuild succeeded ten minutes ago; its event never went out.
    let owner = db.runner().run(request(PersonOwnerRebuild, true)).await.unwrap();
    c.client
        .execute(
            "UPDATE sync.job_run SET started_at = started_at - interval '10 minutes',
                 finished_at = finished_at - interval '10 minutes' WHERE run_id = $1",
            &[&owner.run_id],
        )
        .await
        .unwrap();

    let runner = db.runner_with_events(EventPublisher::new(eventbridge, bus));
    runner.run(request(PostEmployingBodyTrust, false)).await.unwrap();
    let events = |events: Vec<Value>| -> Vec<(String, String, bool)> {
        let mut seen: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e["detail"]["job"].as_str().unwrap().to_string(),
                    e["detail"]["runId"].as_str().unwrap().to_string(),
                    e["detail"]["followUps"].as_bool().unwrap(),
                )
            })
            .collect();
        seen.sort();
        seen
    };
    let seen = events(aws::drain(&sqs, &queue, 2).await);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], ("person-owner-rebuild".to_string(), owner.run_id.to_string(), true), "announced again");
    assert_eq!(seen[1].0, "post-employing-body-trust");
    let published: bool = c
        .client
        .query_one("SELECT published_at IS NOT NULL FROM sync.job_run WHERE run_id = $1", &[&owner.run_id])
        .await
        .unwrap()
        .get(0);
    assert!(published);
    // Announced once: the next run announces only itself.
    runner.run(request(PostEmployingBodyTrust, false)).await.unwrap();
    let seen = events(aws::drain(&sqs, &queue, 1).await);
    assert_eq!(seen.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["post-employing-body-trust"]);
}
