//! The Lambda side of every function: what the one binary (src/main.rs) builds at init and the
//! handler each function answers its events with. The handlers parse the event and hand it to
//! the library (`shared`); the library knows nothing of Lambda.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

use shared::config::Settings;
use shared::context::Context;
use shared::db::Database;
use shared::deadline::Deadline;
use shared::emf::MetricsSink;
use shared::error::Error;
use shared::esr::dispatch::{DispatchRequest, Dispatched, Dispatcher};
use shared::esr::export::Exporter;
use shared::esr::intake::{self, IntakeMessage};
use shared::invocation::{FollowUpEvent, JobInput};
use shared::ledger::{self, Pause};
use shared::runner::{RunSummary, Runner};
use shared::status::SystemStatus;
use shared::watchdog::{CatchUp, Watchdog, WatchdogReport};
use sync_core::esr::Command;
use sync_core::Function;
use sync_core::JobName;

pub mod custom_resource;
pub mod sqs_batch;

/// What every function does first: telemetry; which function it is (`TIS_SYNC_FUNCTION`); its
/// settings, refused now if one it needs is missing; then its dependencies, reaching the
/// database as its own role.
pub async fn init() -> Result<(Function, Context), Error> {
    shared::telemetry::init_lambda();
    let function = shared::config::deployed_function(shared::config::environment)?;
    let settings = Settings::from_env()?;
    settings.check_for(function)?;
    shared::emf::set_namespace(settings.metrics_namespace.as_deref());
    Ok((function, Context::new(settings, Some(function)).await?))
}

/// A handler's error as Lambda reports it: `errorType` names the kind (what alarms and the
/// console show), `errorMessage` says what was wrong.
#[derive(Debug)]
pub struct Failure(pub Error);

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure(error)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Self {
        Diagnostic { error_type: failure.0.error_type().to_string(), error_message: failure.0.to_string() }
    }
}

/// What a job function answers: a run's summary, or the job's pause state.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum JobAnswer {
    Run(RunSummary),
    Pause(PauseState),
}

impl JobAnswer {
    pub fn run(self) -> Option<RunSummary> {
        match self {
            JobAnswer::Run(summary) => Some(summary),
            JobAnswer::Pause(_) => None,
        }
    }
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseState {
    pub job: JobName,
    pub paused: bool,
    /// The pause now in force, or the one just ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
}

/// Handles one event: parses it (console, schedule, follow-up, pause or resume) and acts.
pub async fn handle(runner: &Runner, job: JobName, event: LambdaEvent<Value>) -> Result<JobAnswer, Failure> {
    let (payload, context) = event.into_parts();
    let input = job_input(job, payload).inspect_err(|e| {
        tracing::error!(job = %job, request_id = %context.request_id, error = %e, "rejected the event");
    })?;
    let mut request = match input {
        JobInput::Run(request) => request,
        JobInput::Pause(reason) => {
            let session = runner.database().connect("tis-sync:pause").await?;
            let pause = ledger::pause(&session.client, job, &reason).await?;
            tracing::warn!(job = %job, reason = %pause.reason, "paused: schedules, follow-up events and the watchdog will not start it");
            return Ok(JobAnswer::Pause(PauseState { job, paused: true, pause: Some(pause) }));
        }
        JobInput::Resume => {
            let session = runner.database().connect("tis-sync:pause").await?;
            let ended = ledger::resume(&session.client, job).await?;
            tracing::warn!(job = %job, "resumed");
            return Ok(JobAnswer::Pause(PauseState { job, paused: false, pause: ended }));
        }
    };
    // A chain's first run is correlated by the invocation that started it.
    request.correlation_id.get_or_insert_with(|| context.request_id.clone());
    request.deadline = invocation_deadline(&context);
    Ok(runner.run(request).await.map(JobAnswer::Run)?)
}

/// A job function's input: a follow-up rule's EventBridge event (read with aws_lambda_events'
/// type), or a console or schedule input.
fn job_input(job: JobName, payload: Value) -> Result<JobInput, Error> {
    if payload.get("detail-type").is_none() {
        return shared::invocation::parse(job, payload, Utc::now().date_naive());
    }
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(payload).map_err(|e| Error::InvalidInput(format!("EventBridge event: {e}")))?;
    let event =
        FollowUpEvent { source: event.source, detail_type: event.detail_type, id: event.id, detail: event.detail };
    shared::invocation::follow_up(job, event).map(JobInput::Run)
}

/// The invocation's deadline. Lambda's is always ahead of the invocation it comes with; one
/// already past on arrival is not a deadline (a context built by hand has 0; `cargo lambda
/// watch` sends a constant): say so and run without one, as an unparseable scheduled time is
/// treated.
fn invocation_deadline(context: &lambda_runtime::Context) -> Option<Deadline> {
    if context.deadline() > std::time::SystemTime::now() {
        return Some(Deadline::before(context.deadline()));
    }
    tracing::warn!(
        deadline_ms = context.deadline,
        "the invocation's deadline had passed when it arrived: running without one"
    );
    None
}

/// Handles a batch of export commands; the failed ones are reported for SQS to deliver again.
pub async fn handle_export_commands(
    exporter: &Exporter,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Failure> {
    // A command still going at the invocation's stop (an upload or a connection that stopped
    // answering) fails by itself, so SQS delivers it again (its file, if committed, is finished
    // then), rather than Lambda killing the whole batch at its timeout.
    let stop = invocation_deadline(&event.context).map(|d| d.stop);
    let response = sqs_batch::process(event.payload, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let command = Command::parse(body, Utc::now().date_naive())?.delivered_as(message.message_id.as_deref());
        let during = || format!("exporting {} {} for {}", command.deanery, command.kind, command.date);
        shared::deadline::by(stop, "esr-export", during, exporter.export(&command)).await.map(|_| ())
    })
    .await?;
    Ok(response)
}

/// Sends the export commands a schedule or an operator asks for.
pub async fn handle_dispatch(dispatcher: &Dispatcher, event: LambdaEvent<Value>) -> Result<Dispatched, Failure> {
    let mut request = DispatchRequest::parse(event.payload, Utc::now().date_naive())?;
    // Lambda's retries of an asynchronous invocation keep its request id ("duplicate
    // invocations ... with the same request ID": https://repost.aws/knowledge-center/lambda-function-duplicate-invocations).
    request.identity.get_or_insert(event.context.request_id);
    Ok(dispatcher.dispatch(&request).await?)
}

/// Checks the night (or the date asked for), starts what it missed and reports.
pub async fn handle_watchdog<C: CatchUp + Sync>(
    context: &Context,
    catch_up: &C,
    event: LambdaEvent<Value>,
) -> Result<WatchdogReport, Failure> {
    let as_of = shared::invocation::parse_watchdog(event.payload, Utc::now().date_naive())?;
    let watchdog = Watchdog {
        db: &context.database,
        events: &context.events,
        catch_up,
        metrics: Some(&MetricsSink::Stdout),
        dispatches: context.dispatches()?,
        jobs: context.deployed_jobs(),
    };
    Ok(watchdog.check(as_of, Utc::now()).await?)
}

/// The console's view of the ledger and the exporter.
pub async fn handle_status(context: &Context) -> Result<SystemStatus, Failure> {
    let session = context.database.connect("tis-sync:status").await?;
    let depth = context.dead_letter_depth().await?;
    let search = shared::status::search_status(context.search().await).await;
    Ok(shared::status::status(&session.client, Utc::now().date_naive(), depth, search).await?)
}

/// What sync-migrate answers: the migrations applied now (none when up to date), after the
/// TCS tables the jobs use were found complete.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migrated {
    pub applied: Vec<&'static str>,
    pub tcs_tables_checked: usize,
}

/// sync-migrate's console input is `{}`: in AWS the TCS tables are TCS's, so there is nothing
/// to choose (the local fixture is the CLI's `migrate --tcs-fixture`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateInput {}

/// What sync-migrate answers: the migrations applied, or CloudFormation's request answered.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum MigrateAnswer {
    Migrated(Migrated),
    /// The status of the answer sent to CloudFormation (`custom_resource`).
    AnsweredCloudFormation {
        answered: custom_resource::Status,
    },
}

/// Checks the TCS tables and applies the project's pending migrations, as the schemas' owner:
/// from the console (`{}`), or as the stack's `Migrations` custom resource on every deploy.
pub async fn handle_migrate(database: &Database, event: LambdaEvent<Value>) -> Result<MigrateAnswer, Failure> {
    let (payload, context) = event.into_parts();
    if custom_resource::is_request(&payload) {
        let request = serde_json::from_value(payload)
            .map_err(|e| Error::InvalidInput(format!("a CloudFormation custom resource request: {e}")))?;
        let migrated = async {
            let migrated = migrate(database).await?;
            Ok(custom_resource::Data::from([("applied".to_string(), migrated.applied.join(","))]))
        };
        let answered = custom_resource::answer(request, invocation_deadline(&context), migrated).await?;
        return Ok(MigrateAnswer::AnsweredCloudFormation { answered });
    }
    serde_json::from_value::<MigrateInput>(payload)
        .map_err(|e| Error::InvalidInput(format!("sync-migrate takes {{}}: {e}")))?;
    Ok(MigrateAnswer::Migrated(migrate(database).await?))
}

async fn migrate(database: &Database) -> Result<Migrated, Error> {
    let mut session = database.connect("tis-sync:migrate").await?;
    let applied = shared::migrate::migrate(&mut session.client, shared::migrate::TcsTables::Existing).await?;
    tracing::info!(applied = ?applied, "migrations applied");
    Ok(Migrated { applied, tcs_tables_checked: sync_core::tcs::TABLES.len() })
}

/// Takes in a batch of records generated upstream over one connection (the messages' upserts
/// are independent statements, pipelined on it); the failed ones go back to the queue. An
/// unreachable database fails the whole batch, which SQS delivers again.
pub async fn handle_intake(database: &Database, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Failure> {
    let session = database.connect("tis-sync:esr-intake").await?;
    let client = &session.client;
    let response = sqs_batch::process(event.payload, |message| async move {
        let record = IntakeMessage::parse(message.body.as_deref().unwrap_or_default())?;
        intake::apply(client, &record).await.map(|_| ())
    })
    .await?;
    Ok(response)
}

/// Answers sync-preflight's probe (`{"preflight": true}`) with this function's own checks, made
/// from inside it (its role, its network, its secret); any other event goes to `handler`, read
/// as the event type it takes.
pub async fn probed<E, R, H, F>(
    context: &Context,
    function: Function,
    event: LambdaEvent<Value>,
    handler: H,
) -> Result<Value, Failure>
where
    E: serde::de::DeserializeOwned,
    R: serde::Serialize,
    H: FnOnce(LambdaEvent<E>) -> F,
    F: std::future::Future<Output = Result<R, Failure>>,
{
    let (payload, lambda_context) = event.into_parts();
    if sync_core::preflight::is_probe(&payload) {
        return Ok(answer(shared::preflight::function_checks(context, function).await));
    }
    let payload: E = serde_json::from_value(payload)
        .map_err(|e| Error::InvalidInput(format!("{function} does not take this event: {e}")))?;
    Ok(answer(handler(LambdaEvent::new(payload, lambda_context)).await?))
}

fn answer(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("answers serialise")
}

/// sync-preflight: every function probed, the schedules, the account's concurrency and the TCS
/// tables; the report when every check passed, else the report as the invocation's error.
pub async fn handle_preflight(context: &Context) -> Result<sync_core::preflight::Report, Failure> {
    let report = shared::preflight::stack_checks(context).await;
    for check in report.checks.iter().filter(|c| !c.passed) {
        tracing::error!(scope = %check.scope, check = %check.what, detail = %check.detail, "preflight check failed");
    }
    if report.failed > 0 {
        return Err(shared::preflight::failed(&report).into());
    }
    Ok(report)
}
