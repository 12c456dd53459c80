//! The job function's handler answers the three input shapes of contract.md (console, schedule,
//! follow-up) and rejects bad input with an error naming the problem.

use integration_tests::TestDb;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use shared::jobs::JobName;
use shared::lambda::handle;
use shared::runner::{Outcome, Trigger};

const JOB: JobName = JobName::PersonOwnerRebuild;

fn event(payload: Value) -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.request_id = "req-1".into();
    LambdaEvent::new(payload, context)
}

async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    shared::seed::seed(&mut db.client().await.client, 40, 1).await.unwrap();
    db
}

#[tokio::test]
async fn console_event_runs_the_job_for_today_and_answers_a_summary() {
    let db = seeded().await;
    let summary = handle(&db.runner(), JOB, event(json!({}))).await.unwrap();
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
    let summary = handle(&db.runner(), JOB, event(json!({"asOf": "2023-03-01", "followUps": false}))).await.unwrap();
    assert_eq!(summary.as_of.to_string(), "2023-03-01");
    assert!(!summary.follow_ups);
}

#[tokio::test]
async fn schedule_event_runs_once_per_scheduled_time() {
    let db = seeded().await;
    let input = json!({"trigger": "schedule", "scheduledTime": "2024-08-04T00:05:00Z"});
    let first = handle(&db.runner(), JOB, event(input.clone())).await.unwrap();
    assert_eq!(first.status, Outcome::Succeeded);
    assert_eq!(first.trigger, Trigger::Schedule);
    assert_eq!(first.as_of.to_string(), "2024-08-04");
    let repeated = handle(&db.runner(), JOB, event(input)).await.unwrap();
    assert_eq!(repeated.status, Outcome::Duplicate);
    assert_eq!(repeated.run_id, first.run_id);
}

#[tokio::test]
async fn follow_up_event_runs_for_the_predecessors_date() {
    let db = seeded().await;
    let envelope = json!({
        "version": "0", "id": "e1", "detail-type": "Job Succeeded", "source": "tis.sync",
        "account": "000000000000", "time": "2024-08-04T00:09:30Z", "region": "eu-west-2", "resources": [],
        "detail": {
            "job": "person-owner-rebuild", "runId": "0b5e1c1e-8f51-4c47-a2de-6f4f8c2a9d10",
            "trigger": "schedule", "asOf": "2024-08-03", "followUps": true,
            "startedAt": "2024-08-04T00:09:00Z", "finishedAt": "2024-08-04T00:09:30Z",
            "durationMs": 30000, "rows": 40
        }
    });
    let summary = handle(&db.runner(), JOB, event(envelope.clone())).await.unwrap();
    assert_eq!(summary.trigger, Trigger::FollowUp);
    assert_eq!(summary.as_of.to_string(), "2024-08-03");
    // EventBridge delivers at least once: the same event again is not a second run.
    let again = handle(&db.runner(), JOB, event(envelope)).await.unwrap();
    assert_eq!(again.status, Outcome::Duplicate);
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
