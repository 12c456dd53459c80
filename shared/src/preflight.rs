//! The preflight's checks (`sync_core::preflight`): each function's own, made from inside it when
//! sync-preflight probes it (its role, its network, its secret), and the stack's, made by
//! sync-preflight. A check never throws: what fails is a failed row naming its fix.

use chrono::Utc;
use serde_json::json;
use sync_core::function::AwsService;
use sync_core::preflight::{self, Check, Report};
use sync_core::search_access::{IndexKind, SearchUse};
use sync_core::{search_index, Function};

use crate::config::{DatabaseSource, RevalTarget};
use crate::context::Context;
use crate::db::Database;
use crate::error::{Cause, Error};
use crate::jobs::reval_feed::RevalFeed;
use crate::search::SearchIndex;

const NETWORK_FIX: &str = "the functions reach AWS through NAT or the stack's VPC endpoints (VpcEndpoints); \
     their security group allows 443 out (RUNBOOK, First deploy into an account, step 1)";

/// What `function` checks of its own paths: its secret, the database as its role with that
/// role's grants, and each AWS service and server it uses.
pub async fn function_checks(context: &Context, function: Function) -> Vec<Check> {
    let scope = function.name();
    let mut checks = Vec::new();
    let source = context.settings.database_source(Some(function));
    if let Ok(DatabaseSource::Secret(id)) = &source {
        checks.push(secret_check(context, scope, id).await);
    }
    match source {
        Ok(source) => checks.extend(database_checks(context, function, &source).await),
        Err(e) => checks.push(Check::failed(scope, "database", e.to_string(), "set DATABASE_SECRET_PREFIX")),
    }
    for service in function.aws_services() {
        match service {
            // The database secret, above; the broker's login with the broker, below.
            AwsService::SecretsManager => {}
            AwsService::EventBridge => checks.push(bus_check(context, scope).await),
            AwsService::Sqs => checks.extend(queue_checks(context, function).await),
            AwsService::S3 => checks.push(bucket_check(context, function).await),
            AwsService::Lambda if function == Function::SyncWatchdog => checks.extend(job_invoke_checks(context).await),
            // sync-preflight's own calls are the stack's checks (`stack_checks`).
            AwsService::Lambda | AwsService::Scheduler => {}
            AwsService::OpenSearch => checks.extend(search_checks(context, function).await),
        }
    }
    if crate::config::needs_reval_target(function) {
        let fix = "the broker admits the functions' security group on 5671, its CA is trusted, and the login in \
                   REVAL_BROKER_SECRET is the broker's";
        match context.reval_feed() {
            Ok(Some(RevalFeed::Broker(broker))) => checks.push(match broker.connect().await {
                Ok(publisher) => {
                    publisher.close().await;
                    Check::passed(scope, "broker", format!("connected to {} and logged in", broker.describe()))
                }
                Err(e) => Check::failed(scope, "broker", e.to_string(), fix),
            }),
            // An SQS target is among the queues, above.
            Ok(_) => {}
            Err(e) => checks.push(Check::failed(scope, "broker", e.to_string(), fix)),
        }
    }
    checks
}

async fn secret_check(context: &Context, scope: &str, id: &str) -> Check {
    let Some(aws) = &context.aws else {
        return Check::failed(scope, "secret", "no AWS configuration", "run in AWS or set AWS_ENDPOINT_URL");
    };
    match crate::secret::read_string(&aws_sdk_secretsmanager::Client::new(aws), id).await {
        Ok(_) => Check::passed(scope, "secret", format!("{id} readable")),
        Err(e) => Check::failed(
            scope,
            "secret",
            e.to_string(),
            format!(
                "create it: `tis-sync logins --secret-prefix <prefix>` (RUNBOOK, First deploy into an account, step 4); \
                 the function's role may read {id} and nothing else; {NETWORK_FIX}"
            ),
        ),
    }
}

/// A fresh connection with the function's own login (the secret read again), over TLS when the
/// login comes from a secret; its role; and that role's grants as the migrations recorded them.
async fn database_checks(context: &Context, function: Function, source: &DatabaseSource) -> Vec<Check> {
    let scope = function.name();
    let connected = async {
        let database =
            Database::from_source(source, context.aws.as_ref(), context.settings.database_ca.as_deref()).await?;
        database.connect("tis-sync:preflight").await
    };
    let session = match connected.await {
        Ok(session) => session,
        Err(e) => {
            return vec![Check::failed(
                scope,
                "database",
                e.to_string(),
                "the server's certificate chains to RDS's CAs (built in), the OS store or PGSSLROOTCERT and names the \
                 secret's host (docs/tls.md); the database's security group admits the functions' on its port",
            )]
        }
    };
    let client = &session.client;
    let mut checks = Vec::new();
    let identity = client
        .query_one(
            "SELECT current_user::text, coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
            &[],
        )
        .await;
    let user: String = match identity {
        Ok(row) => {
            let (user, tls): (String, bool) = (row.get(0), row.get(1));
            let how = if tls { "over verified TLS" } else { "without TLS (DATABASE_URL)" };
            checks.push(Check::passed(scope, "database", format!("connected as {user} {how}")));
            user
        }
        Err(e) => {
            checks.push(Check::failed(scope, "database", Error::database("who am I", e).to_string(), "see the log"));
            return checks;
        }
    };
    let Some(role) = function.database_role() else {
        checks.push(migrations_check(client, scope).await);
        return checks;
    };
    let membership = match client.query_one("SELECT pg_has_role(current_user, $1, 'MEMBER')", &[&role]).await {
        Ok(row) if row.get::<_, bool>(0) => Check::passed(scope, "database role", format!("{user} is {role}")),
        Ok(_) => Check::failed(
            scope,
            "database role",
            format!("{user} is not a member of {role}"),
            "run `tis-sync logins` again: it makes each login a member of its function's role",
        ),
        Err(e) => Check::failed(
            scope,
            "database role",
            Error::database(format!("checking membership of {role}"), e).to_string(),
            "apply the migrations (they create the role): deploy, or `tis-sync migrate`",
        ),
    };
    checks.push(membership);
    checks.push(grants_check(client, scope, &role).await);
    checks
}

/// Grants the role had when the migrations last ran and lacks now.
pub async fn grants_check(client: &tokio_postgres::Client, scope: &str, role: &str) -> Check {
    let lost = client
        .query(
            "SELECT object, privilege FROM sync.role_grant WHERE role = $1
             EXCEPT SELECT object, privilege FROM sync.role_grant_now WHERE role = $1
             ORDER BY 1, 2",
            &[&role],
        )
        .await;
    let recorded = client.query_one("SELECT count(*) FROM sync.role_grant WHERE role = $1", &[&role]).await;
    match (lost, recorded) {
        (Ok(lost), Ok(_)) if !lost.is_empty() => {
            let statements: Vec<String> =
                lost.iter().map(|row| preflight::regrant(role, row.get(0), row.get(1))).collect();
            Check::failed(
                scope,
                "database grants",
                format!("{role} lacks {} of what the migrations granted it", lost.len()),
                format!("as the schemas' owner: {}", statements.join("; ")),
            )
        }
        (Ok(_), Ok(recorded)) => {
            let count: i64 = recorded.get(0);
            if count == 0 {
                Check::failed(
                    scope,
                    "database grants",
                    format!("no grants recorded for {role}"),
                    "apply the migrations (deploy, or `tis-sync migrate`): they grant the role and record it",
                )
            } else {
                Check::passed(scope, "database grants", format!("{role} holds all {count} it was granted"))
            }
        }
        (Err(e), _) | (_, Err(e)) => Check::failed(
            scope,
            "database grants",
            Error::database("reading the role's grants", e).to_string(),
            "apply the migrations (deploy, or `tis-sync migrate`)",
        ),
    }
}

/// sync-migrate reaches the database as the schemas' owner: every migration is applied.
async fn migrations_check(client: &tokio_postgres::Client, scope: &str) -> Check {
    match client.query("SELECT version FROM sync.schema_migration", &[]).await {
        Ok(rows) => {
            let applied: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            let pending: Vec<&str> = crate::migrate::MIGRATIONS
                .iter()
                .map(|m| m.version)
                .filter(|v| !applied.iter().any(|a| a == v))
                .collect();
            if pending.is_empty() {
                Check::passed(scope, "migrations", format!("all {} applied", crate::migrate::MIGRATIONS.len()))
            } else {
                Check::failed(
                    scope,
                    "migrations",
                    format!("not applied: {}", pending.join(", ")),
                    "deploy again (the Migrations resource applies them), or `tis-sync migrate`",
                )
            }
        }
        Err(e) => Check::failed(
            scope,
            "migrations",
            Error::database("reading the migration history", e).to_string(),
            "`tis-sync migrate` as the schemas' owner",
        ),
    }
}

async fn bus_check(context: &Context, scope: &str) -> Check {
    let (Some(aws), Some(bus)) = (&context.aws, &context.settings.event_bus) else {
        return Check::failed(scope, "event bus", "EVENT_BUS_NAME is not set", "deploy the template's setting");
    };
    match aws_sdk_eventbridge::Client::new(aws).describe_event_bus().name(bus).send().await {
        Ok(_) => Check::passed(scope, "event bus", format!("{bus} reachable")),
        Err(e) => Check::failed(scope, "event bus", format!("{bus}: {}", Cause::aws(e)), NETWORK_FIX),
    }
}

/// The queues the function sends to or reads.
async fn queue_checks(context: &Context, function: Function) -> Vec<Check> {
    let settings = &context.settings;
    let queues: Vec<&String> = match function {
        Function::EsrExportDispatch => settings.esr_command_queue_url.iter().collect(),
        Function::SyncStatus => settings.esr_command_dlq_url.iter().collect(),
        _ => match &settings.reval_target {
            Some(RevalTarget::Queue { url }) => vec![url],
            _ => vec![],
        },
    };
    let mut checks = Vec::new();
    for url in queues {
        let Some(aws) = &context.aws else { continue };
        let attributes = aws_sdk_sqs::Client::new(aws)
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await;
        checks.push(match attributes {
            Ok(_) => Check::passed(function.name(), "queue", format!("{url} reachable")),
            Err(e) => Check::failed(function.name(), "queue", format!("{url}: {}", Cause::aws(e)), NETWORK_FIX),
        });
    }
    checks
}

/// The exporter may write under its prefix: a conditional PUT that S3 refuses after
/// authorising it (If-Match on a key that does not exist: 404, or 412 if it did), so nothing is
/// written (docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
async fn bucket_check(context: &Context, function: Function) -> Check {
    let scope = function.name();
    if function == Function::SyncMigrate {
        return Check::passed(
            scope,
            "bucket",
            "CloudFormation's response URL exists only during a deploy: that the stack deployed proves it",
        );
    }
    let (Some(aws), Some(bucket)) = (&context.aws, &context.settings.esr_export_bucket) else {
        return Check::failed(scope, "bucket", "ESR_EXPORT_BUCKET is not set", "deploy the template's setting");
    };
    let key = format!("{}tis-sync-preflight", context.settings.esr_export_prefix);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(aws).force_path_style(true).build());
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .if_match("\"tis-sync-preflight\"")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b""))
        .send()
        .await;
    let place = format!("s3://{bucket}/{key}");
    match put {
        Err(e) if matches!(e.raw_response().map(|r| r.status().as_u16()), Some(404 | 412)) => Check::passed(
            scope,
            "bucket",
            format!("may write under s3://{bucket}/{}", context.settings.esr_export_prefix),
        ),
        Ok(_) => Check::failed(
            scope,
            "bucket",
            format!("{place} was written although its condition could not hold"),
            "the bucket is not S3 as AWS documents conditional writes",
        ),
        Err(e) => Check::failed(scope, "bucket", format!("{place}: {}", Cause::aws(e)), NETWORK_FIX),
    }
}

/// The watchdog may start each job: Lambda's DryRun checks the permission and invokes nothing.
async fn job_invoke_checks(context: &Context) -> Vec<Check> {
    let (Some(aws), Some(prefix)) = (&context.aws, &context.settings.job_function_prefix) else {
        return vec![Check::failed("sync-watchdog", "jobs", "JOB_FUNCTION_PREFIX is not set", "deploy the template's")];
    };
    let lambda = aws_sdk_lambda::Client::new(aws);
    let mut checks = Vec::new();
    for job in context.deployed_jobs() {
        let name = format!("{prefix}{job}");
        let dry_run = lambda
            .invoke()
            .function_name(&name)
            .invocation_type(aws_sdk_lambda::types::InvocationType::DryRun)
            .send()
            .await;
        checks.push(match dry_run {
            Ok(_) => Check::passed("sync-watchdog", "may start", name),
            Err(e) => Check::failed("sync-watchdog", "may start", format!("{name}: {}", Cause::aws(e)), NETWORK_FIX),
        });
    }
    checks
}

/// The domain described and reached, and what the function does on it allowed: reading each
/// alias; for an index job, creating and deleting an index of its own (named as its rebuilds
/// name theirs, so a rebuild's clean-up would remove one left behind).
async fn search_checks(context: &Context, function: Function) -> Vec<Check> {
    let scope = function.name();
    let access_fix = "map the function's role on the domain: `tis-sync opensearch-access` (the stack's \
                      OpenSearchAccessCommand output) prints the policy and role; the domain admits the functions' \
                      security group on 443";
    let search = match context.search().await {
        Ok(Some(search)) => search,
        Ok(None) => return vec![Check::failed(scope, "search domain", "no search server is configured", access_fix)],
        Err(e) => return vec![Check::failed(scope, "search domain", e.to_string(), NETWORK_FIX)],
    };
    let Some(used) = function.search_use() else { return vec![] };
    let mut checks = Vec::new();
    let kinds = match used {
        SearchUse::Rebuilds(kind) => vec![kind],
        SearchUse::Reads(kinds) => kinds.to_vec(),
    };
    for kind in kinds {
        let target = match kind {
            IndexKind::Persons => &search.persons,
            IndexKind::Posts => &search.posts,
        };
        let alias = &target.alias;
        checks.push(match search.index.alias_targets(alias).await {
            Ok(indexes) if indexes.is_empty() => Check::passed(
                scope,
                "search alias",
                format!("{alias} readable; no index behind it until the first rebuild"),
            ),
            Ok(indexes) => Check::passed(scope, "search alias", format!("{alias} -> {}", indexes.join(", "))),
            Err(e) => Check::failed(scope, "search alias", e.to_string(), access_fix),
        });
        if matches!(used, SearchUse::Rebuilds(_)) {
            let name = search_index::concrete_name(alias, Utc::now(), "preflight");
            let body = json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0}});
            let made = async {
                search.index.create_index(&name, &body).await?;
                search.index.delete_index(&name).await
            };
            checks.push(match made.await {
                Ok(()) => Check::passed(scope, "search index", format!("created and deleted {name}")),
                Err(e) => Check::failed(scope, "search index", e.to_string(), access_fix),
            });
        }
    }
    checks
}

/// What sync-preflight checks: every other function, probed (each answering its own checks
/// from inside, or its failure to start), and its own; the stack's schedules; the account's concurrency; the
/// TCS tables.
pub async fn stack_checks(context: &Context) -> Report {
    let mut checks = Vec::new();
    let (Some(aws), Some(prefix)) = (&context.aws, &context.settings.job_function_prefix) else {
        let check = Check::failed("stack", "functions", "JOB_FUNCTION_PREFIX is not set", "deploy the template's");
        return Report::new(vec![check]);
    };
    let lambda = aws_sdk_lambda::Client::new(aws);
    let deployed = context.deployed_jobs();
    let functions =
        Function::all().filter(|f| !matches!(f, Function::Job(job) if !deployed.contains(job))).collect::<Vec<_>>();
    // Its own checks are made here: it is the function, in its role and its network, already.
    let others = functions.iter().filter(|&&f| f != Function::SyncPreflight);
    let probes = others.map(|&function| probe(&lambda, prefix, function));
    let (own, probed) =
        futures::join!(function_checks(context, Function::SyncPreflight), futures::future::join_all(probes));
    checks.extend(probed.into_iter().flatten());
    checks.extend(own);
    checks.push(schedules_check(aws, prefix).await);
    checks.push(match lambda.get_account_settings().send().await {
        Ok(settings) => {
            let limit = settings.account_limit();
            preflight::concurrency(
                limit.and_then(|l| l.unreserved_concurrent_executions()).unwrap_or_default(),
                limit.map(|l| l.concurrent_executions()).unwrap_or_default(),
            )
        }
        Err(e) => Check::failed("stack", "account concurrency", Cause::aws(e).to_string(), NETWORK_FIX),
    });
    checks.push(tcs_check(context).await);
    Report::new(checks)
}

/// Invokes `function` with the probe and reads its checks; a function that cannot start (its
/// init failed: a setting, its secret, the database) is one failed check with its error.
async fn probe(lambda: &aws_sdk_lambda::Client, prefix: &str, function: Function) -> Vec<Check> {
    let name = format!("{prefix}{function}");
    let answer = lambda
        .invoke()
        .function_name(&name)
        .payload(aws_sdk_lambda::primitives::Blob::new(preflight::probe().to_string()))
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let fix = format!("sync-preflight may invoke {name}; {NETWORK_FIX}");
            return vec![Check::failed(function.name(), "invoked", Cause::aws(e).to_string(), fix)];
        }
    };
    let body = answer.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
    if let Some(kind) = answer.function_error() {
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let message = error["errorMessage"].as_str().unwrap_or("no message").to_string();
        let fix = format!("its log group /aws/lambda/{name} names what stopped it");
        return vec![Check::failed(function.name(), "starts", format!("{kind}: {message}"), fix)];
    }
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        vec![Check::failed(function.name(), "answers the probe", e.to_string(), "deploy this version of the code")]
    })
}

/// Every schedule of the stack (`<stack>-…`) is enabled.
async fn schedules_check(aws: &aws_config::SdkConfig, prefix: &str) -> Check {
    let scheduler = aws_sdk_scheduler::Client::new(aws);
    let mut pages = scheduler.list_schedules().name_prefix(prefix).into_paginator().send();
    let (mut enabled, mut disabled) = (0, Vec::new());
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                for schedule in page.schedules() {
                    match schedule.state() {
                        Some(aws_sdk_scheduler::types::ScheduleState::Enabled) => enabled += 1,
                        _ => disabled.push(schedule.name().unwrap_or_default().to_string()),
                    }
                }
            }
            Err(e) => return Check::failed("stack", "schedules", Cause::aws(e).to_string(), NETWORK_FIX),
        }
    }
    match (enabled, disabled.is_empty()) {
        (0, true) => Check::failed(
            "stack",
            "schedules",
            format!("no schedule is named {prefix}*"),
            "deploy the template: it makes the schedules",
        ),
        (_, true) => Check::passed("stack", "schedules", format!("all {enabled} enabled")),
        (_, false) => Check::failed(
            "stack",
            "schedules",
            format!("disabled: {}", disabled.join(", ")),
            "enable them (`aws scheduler update-schedule … --state ENABLED`) or deploy again; to stop a job, pause it \
             (RUNBOOK) rather than its schedule",
        ),
    }
}

/// The TCS tables and columns the jobs use (core's list), read from the catalog.
async fn tcs_check(context: &Context) -> Check {
    let checked = async {
        let session = context.database.connect("tis-sync:preflight").await?;
        crate::migrate::check_tcs(&session.client).await
    };
    match checked.await {
        Ok(()) => {
            Check::passed("stack", "TCS tables", format!("all {} with their columns", sync_core::tcs::TABLES.len()))
        }
        Err(e) => Check::failed(
            "stack",
            "TCS tables",
            e.to_string(),
            "the TCS database is not the one the jobs were written for (docs/contract.md, Postgres)",
        ),
    }
}

/// The answer when a check failed: the failed checks with the counts, as Lambda's error message
/// (the console shows it; `tis-sync preflight` reads it back).
pub fn failed(report: &Report) -> Error {
    Error::Preflight(serde_json::to_string(&report.failures()).expect("a report serialises"))
}
