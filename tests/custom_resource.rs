//! sync-migrate as the stack's `Migrations` custom resource: CloudFormation's request in, and its
//! answer PUT to the request's response URL, exactly once on every path. The response URL here
//! is a local endpoint that takes the PUT as CloudFormation's presigned S3 URL does (and refuses
//! it on request, as an unreachable endpoint would); the deploy itself, through ministack's
//! CloudFormation, runs the real function the same way (`cloud.sh`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use functions::custom_resource::PHYSICAL_ID;
use functions::handle_migrate;
use http_body_util::{BodyExt, Full};
use integration_tests::TestDb;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use shared::migrate::{MIGRATIONS, TCS_FIXTURE};

/// Each answer taken: its content type, and its body.
type Answers = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// Where the answers go: every PUT's content type and body, refusing the first `refusals` with
/// 503 as S3 does when it cannot take a request.
struct ResponseUrl {
    url: String,
    answers: Answers,
}

impl ResponseUrl {
    async fn start(refusals: usize) -> ResponseUrl {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cloudformation-custom-resource-response/answer", listener.local_addr().unwrap());
        let answers: Answers = Arc::default();
        let refused = Arc::new(Mutex::new(0));
        let taken = answers.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (taken, refused) = (taken.clone(), refused.clone());
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (taken, refused) = (taken.clone(), refused.clone());
                    async move {
                        assert_eq!(request.method(), "PUT");
                        let content_type =
                            request.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let mut refused = refused.lock().unwrap();
                        let status = if *refused < refusals {
                            *refused += 1;
                            503
                        } else {
                            taken.lock().unwrap().push((content_type, serde_json::from_slice(&body).unwrap()));
                            200
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder().status(status).body(Full::new(Bytes::new())).unwrap(),
                        )
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        ResponseUrl { url, answers }
    }

    fn answers(&self) -> Vec<(Option<String>, Value)> {
        self.answers.lock().unwrap().clone()
    }
}

/// CloudFormation's request, as its documentation shows it (crpg-ref-requests.html).
fn request(request_type: &str, response_url: &str) -> Value {
    let mut request = json!({
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:eu-west-2:123456789012:function:tis-sync-stage-sync-migrate",
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:eu-west-2:123456789012:stack/tis-sync-stage/5b2e4a10-0000-0000-0000-000000000000",
        "RequestId": format!("request-{request_type}"),
        "ResourceType": "Custom::Migrations",
        "LogicalResourceId": "Migrations",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:eu-west-2:123456789012:function:tis-sync-stage-sync-migrate", "CodeVersion": "2"},
    });
    if request_type != "Create" {
        request["PhysicalResourceId"] = json!(PHYSICAL_ID);
    }
    if request_type == "Update" {
        request["OldResourceProperties"] = json!({"CodeVersion": "1"});
    }
    request
}

/// An invocation that Lambda ends `seconds` from now.
fn invocation(payload: Value, seconds: u64) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let deadline = SystemTime::now() + Duration::from_secs(seconds);
    context.deadline = deadline.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    LambdaEvent::new(payload, context)
}

async fn applied(db: &TestDb) -> i64 {
    let c = db.client().await;
    let exists: bool =
        c.client.query_one("SELECT to_regclass('sync.schema_migration') IS NOT NULL", &[]).await.unwrap().get(0);
    if !exists {
        return 0;
    }
    c.client.query_one("SELECT count(*) FROM sync.schema_migration", &[]).await.unwrap().get(0)
}

async fn tcs_database() -> TestDb {
    let db = TestDb::empty().await;
    db.client().await.client.batch_execute(TCS_FIXTURE.sql).await.unwrap();
    db
}

fn answered(answer: &Value, status: &str, request_type: &str) {
    assert_eq!(answer["Status"], status, "{answer}");
    assert_eq!(answer["PhysicalResourceId"], PHYSICAL_ID, "{answer}");
    assert_eq!(answer["RequestId"], format!("request-{request_type}"), "{answer}");
    assert_eq!(answer["LogicalResourceId"], "Migrations", "{answer}");
    assert!(answer["StackId"].as_str().unwrap().contains(":stack/tis-sync-stage/"), "{answer}");
}

#[tokio::test]
async fn create_and_update_apply_the_migrations_and_answer_success_once_each() {
    let db = tcs_database().await;
    let url = ResponseUrl::start(0).await;
    let answer = handle_migrate(&db.database, invocation(request("Create", &url.url), 300)).await.unwrap();
    assert_eq!(serde_json::to_value(answer).unwrap(), json!({"answered": "SUCCESS"}));
    assert_eq!(applied(&db).await, MIGRATIONS.len() as i64, "every migration applied");
    let answers = url.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answered(&answers[0].1, "SUCCESS", "Create");
    assert_eq!(answers[0].0.as_deref(), Some(""), "sent without a content type, as the presigned URL was signed");
    assert_eq!(answers[0].1["Data"]["applied"].as_str().unwrap().split(',').count(), MIGRATIONS.len());

    handle_migrate(&db.database, invocation(request("Update", &url.url), 300)).await.unwrap();
    let answers = url.answers();
    assert_eq!(answers.len(), 2, "{answers:?}");
    answered(&answers[1].1, "SUCCESS", "Update");
    assert_eq!(answers[1].1["Data"]["applied"], "", "nothing was pending");
}

#[tokio::test]
async fn a_failed_migration_answers_failed_once_naming_why_and_the_handler_succeeds() {
    let db = tcs_database().await;
    db.client().await.client.batch_execute("DROP TABLE tcs.programme_post").await.unwrap();
    let url = ResponseUrl::start(0).await;
    // Succeeds: the answer was taken, so Lambda must not retry the invocation into another.
    let answer = handle_migrate(&db.database, invocation(request("Create", &url.url), 300)).await.unwrap();
    assert_eq!(serde_json::to_value(answer).unwrap(), json!({"answered": "FAILED"}));
    let answers = url.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answered(&answers[0].1, "FAILED", "Create");
    assert!(answers[0].1["Reason"].as_str().unwrap().contains("tcs.programme_post"), "{}", answers[0].1);
    assert_eq!(applied(&db).await, 0, "nothing was migrated");
}

#[tokio::test]
async fn migrations_still_running_near_the_deadline_are_stopped_and_answered_failed_in_time() {
    let db = tcs_database().await;
    // Another migrator holds the lock (as a migration would that waits on TCS's tables).
    let holder = db.client().await;
    holder.client.batch_execute("SELECT pg_advisory_lock(hashtextextended('tis-sync migrate', 0))").await.unwrap();
    let url = ResponseUrl::start(0).await;
    let started = std::time::Instant::now();
    let answer = handle_migrate(&db.database, invocation(request("Update", &url.url), 6)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(6), "answered before Lambda's deadline: {:?}", started.elapsed());
    assert_eq!(serde_json::to_value(answer).unwrap(), json!({"answered": "FAILED"}));
    let answers = url.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answered(&answers[0].1, "FAILED", "Update");
    assert!(answers[0].1["Reason"].as_str().unwrap().contains("deadline"), "{}", answers[0].1);
    assert_eq!(applied(&db).await, 0);
}

#[tokio::test]
async fn delete_answers_success_and_touches_nothing() {
    let db = tcs_database().await;
    let url = ResponseUrl::start(0).await;
    handle_migrate(&db.database, invocation(request("Delete", &url.url), 300)).await.unwrap();
    let answers = url.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answered(&answers[0].1, "SUCCESS", "Delete");
    assert_eq!(applied(&db).await, 0, "the schemas outlive the stack");
}

#[tokio::test]
async fn an_answer_refused_at_first_is_sent_again_until_taken_once() {
    let db = tcs_database().await;
    let url = ResponseUrl::start(2).await;
    handle_migrate(&db.database, invocation(request("Create", &url.url), 300)).await.unwrap();
    let answers = url.answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answered(&answers[0].1, "SUCCESS", "Create");
}

#[tokio::test]
async fn an_answer_never_taken_fails_the_invocation_so_lambda_tries_again() {
    let db = tcs_database().await;
    let url = ResponseUrl::start(usize::MAX).await;
    let error = handle_migrate(&db.database, invocation(request("Delete", &url.url), 300)).await.unwrap_err();
    assert!(error.to_string().contains("could not answer CloudFormation"), "{error}");
    assert!(url.answers().is_empty());
}

#[tokio::test]
async fn from_the_console_it_still_takes_only_an_empty_object() {
    let db = tcs_database().await;
    let answer = handle_migrate(&db.database, invocation(json!({}), 300)).await.unwrap();
    assert_eq!(serde_json::to_value(answer).unwrap()["tcsTablesChecked"], sync_core::tcs::TABLES.len());
    let refused = handle_migrate(&db.database, invocation(json!({"RequestType": "Create"}), 300)).await.unwrap_err();
    assert!(refused.to_string().contains("sync-migrate takes {}"), "{refused}");
}
