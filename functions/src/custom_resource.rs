//! sync-migrate as a CloudFormation custom resource (template.yaml, `Migrations`), so a deploy
//! applies the migrations before its schedules and rules exist, and a failed migration fails the
//! deploy. CloudFormation invokes the function asynchronously with Create, Update or Delete and
//! waits for one answer: a JSON document PUT to the request's presigned `ResponseURL`
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>).
//!
//! Exactly one answer per request, on every path: Create and Update answer SUCCESS with what
//! was applied, or FAILED with why; Delete does nothing (the schemas and their data outlive the
//! stack) and answers SUCCESS; a migration still running near the invocation's deadline is
//! stopped and answered FAILED before Lambda ends the process. Once the answer is taken the
//! handler succeeds, so Lambda never retries the invocation into a second answer.

use std::collections::HashMap;
use std::time::Duration;

pub use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceResponseStatus as Status;
use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest as Request, CloudFormationCustomResourceResponse as Response,
};
use serde_json::Value;

use shared::deadline::Deadline;
use shared::error::{Error, Result};
use shared::retry::RetryPolicy;

/// The resource's one physical id, the same on every answer: CloudFormation takes a changed id
/// on Update as a replacement and would send a Delete for the old one.
pub const PHYSICAL_ID: &str = "tis-sync-migrations";

/// Whether `payload` is a CloudFormation request rather than an operator's `{}`.
pub fn is_request(payload: &Value) -> bool {
    payload.get("RequestType").is_some() && payload.get("ResponseURL").is_some()
}

/// What CloudFormation's answer carries back on success (`Fn::GetAtt` on the resource).
pub type Data = HashMap<String, String>;

/// Answers `request` once: runs `migrate` for Create and Update, within `deadline`'s work time,
/// and PUTs the outcome. Errs only when the answer could not be delivered.
pub async fn answer<F>(request: Request, deadline: Option<Deadline>, migrate: F) -> Result<Status>
where
    F: std::future::Future<Output = Result<Data>>,
{
    let (kind, url, mut response) = match &request {
        Request::Create(r) => ("Create", &r.response_url, response(&r.stack_id, &r.request_id, &r.logical_resource_id)),
        Request::Update(r) => ("Update", &r.response_url, response(&r.stack_id, &r.request_id, &r.logical_resource_id)),
        Request::Delete(r) => ("Delete", &r.response_url, response(&r.stack_id, &r.request_id, &r.logical_resource_id)),
        _ => return Err(Error::InvalidInput("a CloudFormation request of an unknown type".into())),
    };
    let outcome = match request {
        Request::Delete(_) => Ok(Data::new()),
        _ => match deadline {
            // Each migration is its own transaction: one stopped here is rolled back with its
            // connection, and those before it stay applied (the next deploy skips them).
            Some(deadline) => tokio::time::timeout_at(deadline.work_stop, migrate).await.unwrap_or_else(|_| {
                Err(Error::Deadline { job: "sync-migrate".into(), during: "applying the migrations".into() })
            }),
            None => migrate.await,
        },
    };
    match outcome {
        Ok(data) => response.data = data,
        Err(error) => {
            tracing::error!(request = kind, error = %error, "the migrations failed: answering FAILED");
            response.status = Status::Failed;
            // CloudFormation shows the reason in the stack's events; it takes 4 KB at most.
            response.reason = Some(error.to_string().chars().take(3500).collect());
        }
    }
    let status = response.status.clone();
    put(url, &response, deadline).await?;
    tracing::info!(request = kind, status = ?status, "answered CloudFormation");
    Ok(status)
}

fn response(stack_id: &str, request_id: &str, logical_resource_id: &str) -> Response {
    let mut response = Response::default();
    response.status = Status::Success;
    response.physical_resource_id = PHYSICAL_ID.to_string();
    response.stack_id = stack_id.to_string();
    response.request_id = request_id.to_string();
    response.logical_resource_id = logical_resource_id.to_string();
    response
}

/// How an answer that did not get through is sent again: the URL is presigned for hours, and
/// a request not answered holds the deploy until the resource's `ServiceTimeout`.
const PUT_RETRIES: RetryPolicy =
    RetryPolicy { max_attempts: 5, first_delay: Duration::from_millis(500), max_delay: Duration::from_secs(4) };

/// PUTs `response` to the presigned URL, as CloudFormation's own helper does: no content type
/// (the URL was signed without one, so S3 would refuse another), the length given.
async fn put(url: &str, response: &Response, deadline: Option<Deadline>) -> Result<()> {
    let body = serde_json::to_string(response).expect("a response serializes");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Config(format!("the HTTP client for CloudFormation's answer: {e}")))?;
    let mut last = String::new();
    for attempt in 1..=PUT_RETRIES.max_attempts {
        if attempt > 1 {
            PUT_RETRIES.pause_before(attempt).await;
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d.end) {
            break;
        }
        match client.put(url).header("content-type", "").body(body.clone()).send().await {
            Ok(answer) if answer.status().is_success() => return Ok(()),
            Ok(answer) => last = format!("the response URL answered {}", answer.status()),
            Err(e) => last = format!("the response URL could not be reached: {e}"),
        }
        tracing::warn!(attempt, error = %last, "CloudFormation's answer did not get through");
    }
    Err(Error::Config(format!("could not answer CloudFormation: {last}")))
}
