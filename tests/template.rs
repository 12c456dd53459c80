//! template.yaml and the job graph agree; the template as deployed (after the SAM transform)
//! grants every path of the access matrix at every layer and nothing else. Also: every job has a function; every schedule, rule and
//! pattern matches the graph and nothing else is there; every asynchronously invoked function has
//! an on-failure destination and runs one at a time. The template itself is parsed, tags and all.

use crate::access_matrix;

use integration_tests::template::{self, events, function_name, functions, tagged, to_json};
use serde_json::json;
use sync_core::esr::schedule::Dispatch;
use sync_core::esr::Kind;
use sync_core::graph::{self, GRAPH};
use sync_core::{Function, JobName};

fn job_functions() -> Vec<(JobName, serde_norway::Value)> {
    let template = template::load();
    functions(&template)
        .into_iter()
        .filter_map(|(_, f)| function_name(&f).parse::<JobName>().ok().map(|job| (job, f)))
        .collect()
}

#[test]
fn every_job_has_exactly_one_function_named_after_it() {
    let functions = job_functions();
    for job in JobName::ALL {
        let found: Vec<_> = functions.iter().filter(|(j, _)| *j == job).collect();
        assert_eq!(found.len(), 1, "{job} has one function");
        let name = &found[0].1["Properties"]["FunctionName"];
        let (tag, value) = tagged(name).expect("FunctionName is a !Sub");
        assert_eq!((tag.as_str(), value.as_str().unwrap()), ("Sub", format!("${{AWS::StackName}}-{job}").as_str()));
    }
}

#[test]
fn schedules_exist_for_the_heads_only_with_the_graphs_times() {
    for (job, function) in job_functions() {
        let schedules = events(&function, "ScheduleV2");
        match graph::node(job).schedule {
            Some(schedule) => {
                assert_eq!(schedules.len(), 1, "{job} has one schedule");
                let properties = &schedules[0].1["Properties"];
                assert_eq!(properties["ScheduleExpression"].as_str(), Some(schedule.cron), "{job}");
                assert_eq!(properties["ScheduleExpressionTimezone"].as_str(), Some("UTC"), "{job}");
                let input: serde_json::Value = serde_json::from_str(properties["Input"].as_str().unwrap()).unwrap();
                assert_eq!(input, json!({"trigger": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>"}));
                assert!(properties["RetryPolicy"]["MaximumRetryAttempts"].as_u64().unwrap() > 0, "{job}");
                assert!(tagged(&properties["DeadLetterConfig"]["Arn"]).is_some(), "{job} has a schedule DLQ");
            }
            None => assert!(schedules.is_empty(), "{job} is not scheduled"),
        }
        let others: Vec<_> = function["Properties"]["Events"]
            .as_mapping()
            .map(|m| m.values().filter_map(|e| e["Type"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        assert!(
            others.iter().all(|t| t == "ScheduleV2" || t == "EventBridgeRule"),
            "{job}: unexpected event types {others:?}"
        );
    }
}

#[test]
fn every_edge_of_the_graph_is_one_rule_and_every_rule_is_an_edge() {
    let mut edges_in_template = Vec::new();
    for (job, function) in job_functions() {
        for (name, rule) in events(&function, "EventBridgeRule") {
            let properties = &rule["Properties"];
            let pattern = to_json(&properties["Pattern"]);
            let predecessor: JobName = pattern["detail"]["job"][0].as_str().unwrap().parse().unwrap();
            assert_eq!(
                pattern,
                json!({
                    "source": ["tis.sync"],
                    "detail-type": ["Job Succeeded"],
                    "detail": {"job": [predecessor.as_str()], "followUps": [true]}
                }),
                "{job}.{name}"
            );
            let (tag, bus) = tagged(&properties["EventBusName"]).expect("the rule is on the job bus");
            assert_eq!((tag.as_str(), bus.as_str()), ("Ref", Some("JobEventBus")), "{job}.{name}");
            assert!(properties["RetryPolicy"]["MaximumRetryAttempts"].as_u64().unwrap() > 0, "{job}.{name}");
            assert!(tagged(&properties["DeadLetterConfig"]["Arn"]).is_some(), "{job}.{name} has a DLQ");
            edges_in_template.push((predecessor, job));
        }
    }
    let mut edges_in_graph: Vec<(JobName, JobName)> =
        GRAPH.iter().flat_map(|n| n.follow_ups.iter().map(move |f| (n.job, *f))).collect();
    edges_in_template.sort();
    edges_in_graph.sort();
    assert_eq!(edges_in_template, edges_in_graph);
}

/// The concurrency the stack reserves is what the ReservedConcurrency parameter tells the
/// deployer it needs of the account's quota (and RUNBOOK.md, "First deploy into an account").
#[test]
fn the_reserved_concurrency_is_what_the_deployer_is_told() {
    let template = template::load();
    let reserved: u64 = functions(&template)
        .iter()
        .filter_map(|(_, f)| to_json(&f["Properties"]["ReservedConcurrentExecutions"])["!If"][1].as_u64())
        .sum();
    let told = template["Parameters"]["ReservedConcurrency"]["Description"].as_str().unwrap();
    assert!(told.contains(&format!("({reserved} in")), "{reserved}: {told}");
    assert!(told.contains(&format!("at least {}", 100 + reserved)), "{reserved}: {told}");
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../RUNBOOK.md")).unwrap();
    assert!(runbook.contains(&format!("at least {}", 100 + reserved)), "RUNBOOK.md tells {}", 100 + reserved);
}

#[test]
fn every_async_invoked_function_has_a_failure_destination_and_runs_one_at_a_time() {
    let template = template::load();
    for (id, function) in functions(&template) {
        let invoked_async = function["Properties"]["Events"]
            .as_mapping()
            .map(|m| m.values().any(|e| matches!(e["Type"].as_str(), Some("ScheduleV2" | "EventBridgeRule"))))
            .unwrap_or(false);
        if !invoked_async {
            continue;
        }
        let properties = &function["Properties"];
        assert_eq!(
            to_json(&properties["ReservedConcurrentExecutions"]),
            json!({"!If": ["ReserveConcurrency", 1, {"!Ref": "AWS::NoValue"}]}),
            "{id}"
        );
        let on_failure = &properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"].as_str(), Some("SQS"), "{id}");
        let (tag, target) = tagged(&on_failure["Destination"]).expect("the destination is a !GetAtt");
        assert_eq!((tag.as_str(), target.as_str()), ("GetAtt", Some("FailedInvocationQueue.Arn")), "{id}");
        assert!(properties["EventInvokeConfig"]["MaximumRetryAttempts"].as_u64().is_some(), "{id}");
    }
}

#[test]
fn functions_build_for_graviton_with_cargo_lambda_and_log_json() {
    let template = template::load();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
    for (id, function) in functions(&template) {
        assert_eq!(function["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"), "{id}");
        // No secret in the configuration: each function reads its own secret at start-up.
        assert!(function["Properties"]["Environment"]["Variables"].get("DATABASE_URL").is_none(), "{id}");
    }
    let globals_env = &globals["Environment"]["Variables"];
    assert!(tagged(&globals_env["DATABASE_SECRET_PREFIX"]).is_some());
    assert!(globals_env.get("DATABASE_URL").is_none());
}

/// One artifact: every function has the same build definition (SAM builds and links once for
/// functions whose CodeUri, runtime, architecture, handler and Metadata are equal), runs the
/// functions crate's one binary, and is told which function it is by `TIS_SYNC_FUNCTION`, the
/// end of its FunctionName.
#[test]
fn every_function_runs_the_one_binary_named_by_its_variable() {
    let template = template::load();
    let cargo: toml::Table =
        toml::from_str(include_str!("../functions/Cargo.toml")).expect("functions/Cargo.toml is TOML");
    let bins = cargo["bin"].as_array().expect("[[bin]]");
    assert_eq!(bins.len(), 1, "the functions crate has one binary");
    let binary = bins[0]["name"].as_str().unwrap();
    let deployed = functions(&template);
    let build = &deployed[0].1["Metadata"];
    assert_eq!(build["BuildProperties"]["Binary"].as_str(), Some(binary));
    let mut names = Vec::new();
    for (id, function) in &deployed {
        assert_eq!(&function["Metadata"], build, "{id} builds as every other function does");
        for shared in ["CodeUri", "Runtime", "Architectures", "Handler"] {
            assert!(function["Properties"].get(shared).is_none(), "{id} sets {shared}: Globals has it for all");
        }
        let name = function_name(function);
        let parsed: sync_core::Function = name.parse().unwrap_or_else(|e| panic!("{id}: {e:?}"));
        let (tag, value) = tagged(&function["Properties"]["FunctionName"]).expect("FunctionName is a !Sub");
        assert_eq!((tag.as_str(), value.as_str().unwrap()), ("Sub", format!("${{AWS::StackName}}-{parsed}").as_str()));
        names.push(parsed);
    }
    let all: Vec<sync_core::Function> = sync_core::Function::all().collect();
    assert_eq!(names.len(), all.len());
    assert!(all.iter().all(|f| names.contains(f)), "every function is deployed once: {names:?}");
}

/// A value of the template's environment as one deploy resolves it: a parameter's default (or a
/// stand-in), a resource's name, `!If` by `conditions`, `AWS::NoValue` as absent.
fn resolve(template: &serde_norway::Value, value: &serde_norway::Value, conditions: &[(&str, bool)]) -> Option<String> {
    let Some((tag, inner)) = tagged(value) else {
        return Some(value.as_str().map(str::to_string).unwrap_or_else(|| format!("{value:?}")));
    };
    match (tag.as_str(), inner.as_str()) {
        ("Ref", Some("AWS::NoValue")) => None,
        ("Ref", Some(name)) => Some(
            template["Parameters"][name]["Default"]
                .as_str()
                .filter(|d| !d.is_empty())
                .unwrap_or("resolved")
                .to_string(),
        ),
        ("If", _) => {
            let condition = inner[0].as_str().unwrap();
            let (_, holds) = conditions.iter().find(|(c, _)| *c == condition).unwrap_or_else(|| panic!("{condition}"));
            resolve(template, &inner[if *holds { 1 } else { 2 }], conditions)
        }
        _ => Some("resolved".into()),
    }
}

/// Each function's settings are checked at init (`Settings::check_for`): the environment the
/// template gives each one (Globals' and its own) is enough for it to start, with the feeds
/// sending to either target.
#[test]
fn every_function_starts_with_the_settings_the_template_gives_it() {
    let template = template::load();
    let globals = template["Globals"]["Function"]["Environment"]["Variables"].as_mapping().unwrap().clone();
    for target in
        [[("RevalToBroker", true), ("RevalToQueue", false)], [("RevalToBroker", false), ("RevalToQueue", true)]]
    {
        let conditions = [target[0], target[1], ("CreateRevalQueue", target[1].1)];
        for (id, function) in functions(&template) {
            let mut variables = globals.clone();
            if let Some(own) = function["Properties"]["Environment"]["Variables"].as_mapping() {
                variables.extend(own.clone());
            }
            let environment: std::collections::HashMap<String, String> = variables
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), resolve(&template, v, &conditions)?)))
                .collect();
            let settings = shared::config::Settings::from_lookup(|name| environment.get(name).cloned())
                .unwrap_or_else(|e| panic!("{id} ({target:?}): {e}"));
            let function = shared::config::deployed_function(|name| environment.get(name).cloned()).unwrap();
            settings.check_for(function).unwrap_or_else(|e| panic!("{id} ({target:?}): {e}"));
        }
    }
}

/// checkov's CKV_AWS_27 is skipped (infra/checkov.yaml) because it does not recognise
/// SQS-managed encryption; this holds that every queue has it.
#[test]
fn every_queue_is_encrypted_at_rest() {
    let template = template::load();
    let queues = template::resources_of_type(&template, "AWS::SQS::Queue");
    assert!(queues.len() >= 6, "{}", queues.len());
    for (id, queue) in queues {
        assert_eq!(queue["Properties"]["SqsManagedSseEnabled"].as_bool(), Some(true), "{id}");
    }
}

fn resource(name: &str) -> serde_norway::Value {
    let template = template::load();
    let resource = template["Resources"][name].clone();
    assert!(!resource.is_null(), "template.yaml has {name}");
    resource
}

fn get_att(value: &serde_norway::Value) -> String {
    let (tag, target) = tagged(value).unwrap_or_else(|| panic!("{value:?} is a !GetAtt"));
    assert_eq!(tag, "GetAtt");
    target.as_str().unwrap().to_string()
}

#[test]
fn the_esr_command_queue_redrives_to_a_dead_letter_queue_after_five_receives() {
    let queue = &resource("EsrCommandQueue")["Properties"];
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64(), Some(5));
    assert_eq!(get_att(&queue["RedrivePolicy"]["deadLetterTargetArn"]), "EsrCommandDeadLetterQueue.Arn");
    let dlq = &resource("EsrCommandDeadLetterQueue")["Properties"];
    assert_eq!(dlq["MessageRetentionPeriod"].as_u64(), Some(14 * 24 * 3600));
    assert_eq!(dlq["RedriveAllowPolicy"]["redrivePermission"].as_str(), Some("byQueue"));
    let (_, source) = tagged(&dlq["RedriveAllowPolicy"]["sourceQueueArns"][0]).unwrap();
    let (_, name) = tagged(&queue["QueueName"]).unwrap();
    assert!(
        source.as_str().unwrap().ends_with(name.as_str().unwrap()),
        "the DLQ allows redrive back to the command queue"
    );
    // A slow attempt must never be handed to a second consumer while it still runs.
    let timeout = resource("EsrExportFunction")["Properties"]["Timeout"].as_u64().unwrap();
    assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout);
}

#[test]
fn the_exporter_consumes_the_queue_with_partial_batch_responses_and_bounded_concurrency() {
    let function = resource("EsrExportFunction");
    let sqs = events(&function, "SQS");
    assert_eq!(sqs.len(), 1);
    let properties = &sqs[0].1["Properties"];
    assert_eq!(get_att(&properties["Queue"]), "EsrCommandQueue.Arn");
    assert_eq!(to_json(&properties["FunctionResponseTypes"]), json!(["ReportBatchItemFailures"]));
    assert!(properties["ScalingConfig"]["MaximumConcurrency"].as_u64().unwrap() >= 2);
    // What its role may do (its own queue, files under the prefix) is the access matrix's.
    assert_eq!(get_att(&function["Properties"]["Role"]), "EsrExportRole.Arn");
}

#[test]
fn the_dispatch_schedules_run_at_thirteen_and_fourteen_hundred() {
    let function = resource("EsrExportDispatchFunction");
    let mut schedules: Vec<(String, serde_json::Value)> = events(&function, "ScheduleV2")
        .into_iter()
        .map(|(_, s)| {
            let p = &s["Properties"];
            let expression = match tagged(&p["ScheduleExpression"]) {
                // A parameter: its default is what production runs.
                Some((_, parameter)) => template::load()["Parameters"][parameter.as_str().unwrap()]["Default"].clone(),
                None => p["ScheduleExpression"].clone(),
            };
            (expression.as_str().unwrap().to_string(), serde_json::from_str(p["Input"].as_str().unwrap()).unwrap())
        })
        .collect();
    schedules.sort_by(|a, b| a.0.cmp(&b.0));
    // The core's dispatch times are what the template deploys, and the watchdog is told the one
    // that is a parameter.
    let core: Vec<String> = [Kind::App, Kind::Notification].map(|k| Dispatch::default_for(k).expression()).into();
    assert_eq!(schedules.iter().map(|s| s.0.clone()).collect::<Vec<_>>(), core);
    let watchdog_env = &resource("SyncWatchdogFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(tagged(&watchdog_env["ESR_APP_FILES_SCHEDULE"]).map(|t| t.1), Some("EsrAppFilesSchedule".into()));
    assert_eq!(
        schedules,
        vec![
            (
                "cron(0 13 * * ? *)".into(),
                json!({"trigger": "schedule", "kind": "app", "scheduledTime": "<aws.scheduler.scheduled-time>"})
            ),
            (
                "cron(0 14 * * ? *)".into(),
                json!({"trigger": "schedule", "kind": "notification", "scheduledTime": "<aws.scheduler.scheduled-time>"})
            ),
        ]
    );
}

#[test]
fn an_alarm_fires_when_the_esr_dead_letter_queue_holds_anything() {
    let alarm = &resource("EsrCommandDeadLetterAlarm")["Properties"];
    assert_eq!(alarm["Namespace"].as_str(), Some("AWS/SQS"));
    assert_eq!(alarm["MetricName"].as_str(), Some("ApproximateNumberOfMessagesVisible"));
    assert_eq!(get_att(&alarm["Dimensions"][0]["Value"]), "EsrCommandDeadLetterQueue.QueueName");
    assert_eq!(alarm["Threshold"].as_u64(), Some(1));
    assert_eq!(alarm["ComparisonOperator"].as_str(), Some("GreaterThanOrEqualToThreshold"));
    assert_eq!(alarm["TreatMissingData"].as_str(), Some("notBreaching"));
    let (tag, topic) = tagged(&alarm["AlarmActions"][0]).unwrap();
    assert_eq!((tag.as_str(), topic.as_str()), ("Ref", Some("AlertsTopic")));
}

#[test]
fn the_export_bucket_is_encrypted_private_and_versioned() {
    let bucket = &resource("EsrExportBucket")["Properties"];
    assert!(bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        ["SSEAlgorithm"]
        .as_str()
        .is_some());
    for setting in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(bucket["PublicAccessBlockConfiguration"][setting].as_bool(), Some(true), "{setting}");
    }
    assert_eq!(bucket["VersioningConfiguration"]["Status"].as_str(), Some("Enabled"));
}

#[test]
fn job_failed_and_job_missed_reach_the_alerts_topic_as_a_chatbot_notification() {
    let rule = &resource("JobProblemsToAlerts")["Properties"];
    assert_eq!(
        to_json(&rule["EventPattern"]),
        json!({"source": ["tis.sync"], "detail-type": ["Job Failed", "Job Missed"]})
    );
    let target = &rule["Targets"][0];
    let (tag, topic) = tagged(&target["Arn"]).unwrap();
    assert_eq!((tag.as_str(), topic.as_str()), ("Ref", Some("AlertsTopic")));
    // A !Sub: CloudFormation puts the stack's stage in, EventBridge the placeholders.
    let (tag, message) = tagged(&target["InputTransformer"]["InputTemplate"]).expect("the message is a !Sub");
    assert_eq!(tag, "Sub");
    let message = message.as_str().unwrap().replace("${Stage}", "prod");
    assert!(!message.contains("${"), "only the stage is substituted: {message}");
    for placeholder in ["<kind>", "<job>", "<asOf>", "<error>", "<runId>"] {
        assert!(message.contains(placeholder), "{message}");
    }
    // AWS Chatbot shows only its own custom-notification schema (and alarms): the message,
    // placeholders filled as EventBridge fills them, must be that.
    let filled = message
        .replace("<kind>", "Job Failed")
        .replace("<job>", "person-owner-rebuild")
        .replace("<asOf>", "2026-12-02")
        .replace("<error>", "deadline: person-owner-rebuild stopped its work")
        .replace("<runId>", "6f1c1a52-5a4f-4b8e-9a57-0d7c3e4b1a2f");
    let notification: serde_json::Value = serde_json::from_str(&filled).expect("the message is JSON");
    assert_eq!((notification["version"].as_str(), notification["source"].as_str()), (Some("1.0"), Some("custom")));
    assert_eq!(notification["content"]["title"], "tis-sync prod Job Failed: person-owner-rebuild");
    let description = notification["content"]["description"].as_str().unwrap();
    for part in ["2026-12-02", "deadline:", "6f1c1a52", "Runbook"] {
        assert!(description.contains(part), "{description}");
    }
    assert!(tagged(&target["DeadLetterConfig"]["Arn"]).is_some());
}

#[test]
fn every_dead_letter_queue_and_the_watchdogs_findings_have_an_alarm_to_the_alerts_topic() {
    for (alarm, metric, queue) in [
        (
            "EsrCommandDeadLetterAlarm",
            "ApproximateNumberOfMessagesVisible",
            Some("EsrCommandDeadLetterQueue.QueueName"),
        ),
        ("DeliveryDeadLetterAlarm", "ApproximateNumberOfMessagesVisible", Some("DeliveryDeadLetterQueue.QueueName")),
        ("FailedInvocationAlarm", "ApproximateNumberOfMessagesVisible", Some("FailedInvocationQueue.QueueName")),
        ("EsrRecordsOverdueAlarm", "EsrRecordsOverdue", None),
        ("EsrFilesMissingAlarm", "EsrFilesMissing", None),
        ("EsrFilesNotUploadedAlarm", "EsrFilesNotUploaded", None),
        ("JobsFailedAlarm", "JobsFailed", None),
    ] {
        let properties = &resource(alarm)["Properties"];
        assert_eq!(properties["MetricName"].as_str(), Some(metric), "{alarm}");
        if let Some(queue) = queue {
            assert_eq!(get_att(&properties["Dimensions"][0]["Value"]), queue, "{alarm}");
        } else {
            assert_eq!(to_json(&properties["Namespace"]), stack_namespace(), "{alarm}");
        }
        // A queue's depth is always reported, and a failure counted only when there is one: no
        // data is no problem. The watchdog's findings come only when it runs, and a watchdog
        // that does not run must not clear them (its silence has its own alarm).
        let missing = if queue.is_some() || metric == "JobsFailed" { "notBreaching" } else { "ignore" };
        assert_eq!(properties["TreatMissingData"].as_str(), Some(missing), "{alarm}");
        let (_, topic) = tagged(&properties["AlarmActions"][0]).unwrap();
        assert_eq!(topic.as_str(), Some("AlertsTopic"), "{alarm}");
        assert!(properties["AlarmDescription"].as_str().unwrap().len() > 80, "{alarm} says what to do");
    }
}

#[test]
fn the_dashboard_shows_job_durations_and_outcomes_esr_files_and_dlq_depth() {
    let body = resource("OperationsDashboard")["Properties"]["DashboardBody"].clone();
    let (tag, text) = tagged(&body).unwrap();
    assert_eq!(tag, "Sub");
    let dashboard: serde_json::Value =
        serde_json::from_str(text.as_str().unwrap()).expect("the dashboard body is JSON");
    let metrics: Vec<String> = dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().iter().map(|m| m[1].as_str().unwrap().to_string()))
        .collect();
    for expected in [
        "JobDuration",
        "JobSucceeded",
        "JobFailed",
        "EsrFilesExported",
        "ApproximateNumberOfMessagesVisible",
        "EsrRecordsOverdue",
        "EsrFilesNotUploaded",
    ] {
        assert!(metrics.iter().any(|m| m == expected), "the dashboard shows {expected}");
    }
    for job in JobName::ALL {
        assert!(text.as_str().unwrap().contains(job.as_str()), "the dashboard shows {job}");
    }
}

#[test]
fn the_watchdog_runs_at_seven_and_after_the_esr_dispatches_and_may_start_only_the_job_functions() {
    let function = resource("SyncWatchdogFunction");
    let schedules = events(&function, "ScheduleV2");
    assert_eq!(schedules[0].1["Properties"]["ScheduleExpression"].as_str(), Some("cron(0 7,15 * * ? *)"));
    let statements = function["Properties"]["Policies"][1]["Statement"].as_sequence().unwrap().clone();
    let statement = statements.iter().find(|s| s["Sid"].as_str() == Some("StartJobsAgain")).unwrap();
    assert_eq!(statement["Action"].as_str(), Some("lambda:InvokeFunction"));
    // The feeds are there when deployed: `!If [RevalEnabled, !GetAtt …, !Ref AWS::NoValue]`.
    let targets: Vec<String> = statement["Resource"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| match tagged(r) {
            Some((tag, branches)) if tag == "If" => {
                assert_eq!(branches[0].as_str(), Some("RevalEnabled"), "{r:?}");
                get_att(&branches[1])
            }
            _ => get_att(r),
        })
        .collect();
    assert_eq!(targets.len(), JobName::ALL.len());
}

/// The template the local cloud deployed, after the SAM transform (CloudFormation's Processed
/// stage), as `make test` wrote it.
fn deployed() -> serde_json::Value {
    let path = integration_tests::cloud_env()["TIS_SYNC_PROCESSED_TEMPLATE"].clone();
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

#[test]
fn every_path_of_the_access_matrix_is_granted_at_every_layer_and_nothing_else_is() {
    let problems = access_matrix::problems(&deployed());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A grant removed, widened or added, at any layer, is caught.
#[test]
fn a_mutated_grant_fails_the_access_matrix() {
    let original = deployed();
    type Mutation = fn(&mut serde_json::Value);
    let mutations: [(&str, &str, Mutation); 29] = [
        ("the exporter may not make data keys", "does not grant kms:GenerateDataKey", |t| {
            let statements = t["Resources"]["EsrExportRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                ["Statement"]
                .as_array_mut()
                .unwrap();
            statements.retain(|s| s["Sid"] != "EncryptExportFiles");
        }),
        ("log delivery for any bucket", "does not let S3 log delivery", |t| {
            let statements = t["Resources"]["EsrExportAccessLogBucketPolicy"]["Properties"]["PolicyDocument"]
                ["Statement"]
                .as_array_mut()
                .unwrap();
            statements[0]["Condition"].as_object_mut().unwrap().remove("ArnEquals");
        }),
        (
            "the watchdog may not start person-record-status",
            "does not grant lambda:InvokeFunction on PersonRecordStatusFunction",
            |t| {
                let role = t["Resources"]["SyncWatchdogFunctionRole"]["Properties"]["Policies"].as_array_mut().unwrap();
                for policy in role {
                    for statement in policy["PolicyDocument"]["Statement"].as_array_mut().unwrap() {
                        if statement["Sid"] == "StartJobsAgain" {
                            statement["Resource"]
                                .as_array_mut()
                                .unwrap()
                                .retain(|r| r["Fn::GetAtt"][0] != "PersonRecordStatusFunction");
                        }
                    }
                }
            },
        ),
        (
            "a feed may not send to its queue",
            "does not grant sqs:SendMessage on RevalToQueue: If(CreateRevalQueue",
            |t| {
                let role =
                    t["Resources"]["RevalCurrentPmSyncFunctionRole"]["Properties"]["Policies"].as_array_mut().unwrap();
                for policy in role {
                    policy["PolicyDocument"]["Statement"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|s| s["Fn::If"][1]["Sid"] != "SendToTheRevalidationQueue");
                }
            },
        ),
        (
            "a feed may not read its broker login",
            "does not grant secretsmanager:GetSecretValue on RevalToBroker:",
            |t| {
                let role = t["Resources"]["RevalCurrentPlacementSyncFunctionRole"]["Properties"]["Policies"]
                    .as_array_mut()
                    .unwrap();
                for policy in role {
                    policy["PolicyDocument"]["Statement"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|s| s["Fn::If"][1]["Sid"] != "ReadTheBrokerLogin");
                }
            },
        ),
        ("the revalidation queue readable by anyone", "grants more or other than the consumer's reads", |t| {
            t["Resources"]["RevalTraineeUpdateQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
                ["Principal"] = json!({"AWS": "*"});
        }),
        ("status may read the intake's secret", "which no path needs", |t| {
            let policies = t["Resources"]["SyncStatusFunctionRole"]["Properties"]["Policies"].as_array_mut().unwrap();
            policies.push(json!({"PolicyName": "wide", "PolicyDocument": {"Statement": [{
                "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${DatabaseSecretPrefix}esr-intake-??????"}
            }]}}));
        }),
        ("the export bucket back on SSE-S3", "not encrypted with a key of the stack's own", |t| {
            t["Resources"]["EsrExportBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                [0]["ServerSideEncryptionByDefault"] = json!({"SSEAlgorithm": "AES256"});
        }),
        ("the export bucket's access logging removed", "no access logging", |t| {
            t["Resources"]["EsrExportBucket"]["Properties"].as_object_mut().unwrap().remove("LoggingConfiguration");
        }),
        ("the rule's key statement narrowed by a condition", "let the job-problems rule encrypt as AWS documents", |t| {
            let statements =
                t["Resources"]["AlertsKey"]["Properties"]["KeyPolicy"]["Statement"].as_array_mut().unwrap();
            for statement in statements.iter_mut().filter(|s| s["Sid"] == "JobProblemsRulePublishes") {
                statement["Condition"] = json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}});
            }
        }),
        ("the alarms' key policy statement removed", "let the alarms encrypt as AWS documents", |t| {
            let statements =
                t["Resources"]["AlertsKey"]["Properties"]["KeyPolicy"]["Statement"].as_array_mut().unwrap();
            statements.retain(|s| s["Sid"] != "AlarmsPublish");
        }),
        ("the topic back on the AWS-managed key", "not a key of the stack's own", |t| {
            t["Resources"]["AlertsTopic"]["Properties"]["KmsMasterKeyId"] = json!("alias/aws/sns");
        }),
        ("a poller's queue widened to every queue", "grants sqs:ReceiveMessage on *", |t| {
            t["Resources"]["EsrExportRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
                ["Resource"] = json!("*");
        }),
        ("SAM's SQS execution role attached", "AWSLambdaSQSQueueExecutionRole", |t| {
            t["Resources"]["EsrIntakeRole"]["Properties"]["ManagedPolicyArns"]
                .as_array_mut()
                .unwrap()
                .push(json!("arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"));
        }),
        ("a follow-up rule's Lambda permission removed", "no Lambda permission lets rule", |t| {
            let resources = t["Resources"].as_object_mut().unwrap();
            resources.remove("PostTrainingBodyTrustFunctionAfterPostEmployingBodyTrustPermission");
        }),
        ("PutEvents without its detail-type condition", "may put events beyond", |t| {
            let statements =
                t["Resources"]["PublishJobEvents"]["Properties"]["PolicyDocument"]["Statement"].as_array_mut().unwrap();
            for statement in statements {
                if statement["Action"] == "events:PutEvents" {
                    statement["Condition"]["StringEquals"].as_object_mut().unwrap().remove("events:detail-type");
                }
            }
        }),
        ("a job function without the job events policy", "does not grant events:PutEvents", |t| {
            let arns = t["Resources"]["PersonRecordStatusFunctionRole"]["Properties"]["ManagedPolicyArns"]
                .as_array_mut()
                .unwrap();
            arns.retain(|arn| arn != &json!({"Ref": "PublishJobEvents"}));
        }),
        ("the job events policy on sync-status", "which no path needs", |t| {
            let arns =
                t["Resources"]["SyncStatusFunctionRole"]["Properties"]["ManagedPolicyArns"].as_array_mut().unwrap();
            arns.push(json!({"Ref": "PublishJobEvents"}));
        }),
        ("the index job may delete any index", "which no path needs", |t| {
            let policies =
                t["Resources"]["PersonElasticsearchSyncFunctionRole"]["Properties"]["Policies"].as_array_mut().unwrap();
            policies.push(json!({"PolicyName": "wide", "PolicyDocument": {"Statement": [{
                "Effect": "Allow", "Action": "es:ESHttpDelete",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/${OpenSearchDomainName}/*"}
            }]}}));
        }),
        ("sync-status may not describe the search domain", "does not grant es:DescribeDomain", |t| {
            let policies = t["Resources"]["SyncStatusFunctionRole"]["Properties"]["Policies"].as_array_mut().unwrap();
            for policy in policies {
                if let Some(statements) = policy["PolicyDocument"]["Statement"].as_array_mut() {
                    statements.retain(|s| s["Action"] != "es:DescribeDomain");
                }
            }
        }),
        ("the schedule role may not dead-letter", "does not grant sqs:SendMessage on DeliveryDeadLetterQueue", |t| {
            let policies = t["Resources"]["SyncWatchdogFunctionAfterTheNightlyWindowRole"]["Properties"]["Policies"]
                .as_array_mut()
                .unwrap();
            policies.retain(|p| !p["PolicyName"].as_str().unwrap().ends_with("SQSPolicy"));
        }),
        ("no Lambda endpoint: the watchdog cannot leave the VPC", "no VPC endpoint takes lambda:InvokeFunction", |t| {
            t["Resources"].as_object_mut().unwrap().remove("LambdaEndpoint");
        }),
        ("the SQS endpoint for any account", "SqsEndpoint's policy does not let the functions make sqs:SendMessage", |t| {
            t["Resources"]["SqsEndpoint"]["Properties"]["PolicyDocument"]["Statement"][0]
                .as_object_mut()
                .unwrap()
                .remove("Condition");
        }),
        ("the secrets endpoint widened", "lets secretsmanager:PutSecretValue on * through, which no path makes", |t| {
            t["Resources"]["SecretsManagerEndpoint"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"] =
                json!(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]);
        }),
        (
            "CloudFormation's answer cannot leave the VPC",
            "does not let the functions make s3:PutObject on arn:${AWS::Partition}:s3:::cloudformation-custom-resource-response-*/*",
            |t| {
                t["Resources"]["S3Endpoint"]["Properties"]["PolicyDocument"]["Statement"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|s| s["Sid"] != "CloudFormationsAnswer");
            },
        ),
        (
            "the preflight may not probe esr-intake",
            "does not grant lambda:InvokeFunction on EsrIntakeFunction",
            |t| {
                for policy in t["Resources"]["SyncPreflightFunctionRole"]["Properties"]["Policies"].as_array_mut().unwrap() {
                    for statement in policy["PolicyDocument"]["Statement"].as_array_mut().unwrap() {
                        if let Some(resources) = statement["Resource"].as_array_mut() {
                            resources.retain(|r| r != &json!({"Fn::GetAtt": ["EsrIntakeFunction", "Arn"]}));
                        }
                    }
                }
            },
        ),
        ("no Scheduler endpoint: the preflight cannot read the schedules", "no VPC endpoint takes scheduler:ListSchedules", |t| {
            t["Resources"].as_object_mut().unwrap().remove("SchedulerEndpoint");
        }),
        ("the jobs may not describe their bus", "does not grant events:DescribeEventBus", |t| {
            let statements = t["Resources"]["PublishJobEvents"]["Properties"]["PolicyDocument"]["Statement"]
                .as_array_mut()
                .unwrap();
            statements.retain(|s| s["Sid"] != "DescribeTheBus");
        }),
        ("the migrations answered by another function", "does not call sync-migrate", |t| {
            t["Resources"]["Migrations"]["Properties"]["ServiceToken"] = json!({"Fn::GetAtt": ["SyncStatusFunction", "Arn"]});
        }),
    ];
    for (what, expected, mutate) in mutations {
        let mut template = original.clone();
        mutate(&mut template);
        let problems = access_matrix::problems(&template);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem with '{expected}', got {problems:#?}"
        );
    }
}

/// The feeds exist only with RevalEnabled, and send where RevalFeedTarget says and their role
/// may: TIS's broker, its login read from the secret the template names; or the stack's queue,
/// or the queue whose ARN the template is given (its URL built from the ARN's parts).
#[test]
fn the_feeds_are_deployed_with_reval_enabled_only_and_send_where_they_may() {
    for (function, job) in [
        ("RevalCurrentPmSyncFunction", JobName::RevalCurrentPmSync),
        ("RevalCurrentPlacementSyncFunction", JobName::RevalCurrentPlacementSync),
    ] {
        let definition = resource(function);
        assert_eq!(definition["Condition"].as_str(), Some("RevalEnabled"), "{function}");
        assert_eq!(function_name(&definition), job.as_str());
        let variables = &definition["Properties"]["Environment"]["Variables"];
        for (variable, parameter) in
            [("REVAL_BROKER_URL", "RevalBrokerUrl"), ("REVAL_BROKER_SECRET", "RevalBrokerSecretName")]
        {
            assert_eq!(
                to_json(&variables[variable]),
                json!({"!If": ["RevalToBroker", {"!Ref": parameter}, {"!Ref": "AWS::NoValue"}]}),
                "{function}: {variable}"
            );
        }
        let url = to_json(&variables["REVAL_QUEUE_URL"]);
        assert_eq!((url["!If"][0].as_str(), &url["!If"][2]), (Some("RevalToQueue"), &json!({"!Ref": "AWS::NoValue"})));
        let url = &url["!If"][1];
        let (condition, own, given) = (&url["!If"][0], &url["!If"][1], &url["!If"][2]);
        assert_eq!(
            (condition.as_str(), own["!Ref"].as_str()),
            (Some("CreateRevalQueue"), Some("RevalTraineeUpdateQueue"))
        );
        assert_eq!(given["!Sub"][0], "https://sqs.${Region}.${AWS::URLSuffix}/${Account}/${Name}");
        for (part, index) in [("Region", 3), ("Account", 4), ("Name", 5)] {
            assert_eq!(given["!Sub"][1][part]["!Select"][0], index, "{function}: {part} is part {index} of an SQS ARN");
            assert_eq!(given["!Sub"][1][part]["!Select"][1]["!Split"][1]["!Ref"], "RevalQueueArn");
        }
        let own = definition["Properties"]["Policies"].as_sequence().unwrap().iter().find_map(|p| p.get("Statement"));
        let statements: Vec<serde_json::Value> = own.unwrap().as_sequence().unwrap().iter().map(to_json).collect();
        let send =
            statements.iter().find(|s| s["!If"][1]["Sid"].as_str() == Some("SendToTheRevalidationQueue")).unwrap();
        assert_eq!(send["!If"][0].as_str(), Some("RevalToQueue"), "{function} sends to SQS only when told to");
        let read_login = statements.iter().find(|s| s["!If"][1]["Sid"].as_str() == Some("ReadTheBrokerLogin")).unwrap();
        assert_eq!(
            read_login["!If"][0].as_str(),
            Some("RevalToBroker"),
            "{function} reads the login only for RabbitMQ"
        );
        let resource = &send["!If"][1]["Resource"];
        assert_eq!(
            resource["!If"],
            json!(["CreateRevalQueue", {"!GetAtt": "RevalTraineeUpdateQueue.Arn"}, {"!Ref": "RevalQueueArn"}])
        );
    }
    for queue in ["RevalTraineeUpdateQueue", "RevalTraineeUpdateDeadLetterQueue", "RevalTraineeUpdateQueuePolicy"] {
        assert_eq!(resource(queue)["Condition"].as_str(), Some("CreateRevalQueue"), "{queue}");
    }
    let watchdog = resource("SyncWatchdogFunction");
    assert_eq!(
        to_json(&watchdog["Properties"]["Environment"]["Variables"]["REVAL_ENABLED"]),
        json!({"!Ref": "RevalEnabled"})
    );
}

/// `sam deploy --config-env stage|prod` needs no prompt: samconfig.toml gives each environment
/// its stack, its stage and every parameter the template has no default for, and tags the stack
/// (CloudFormation gives the stack's tags to every resource that takes tags).
#[test]
fn every_environment_of_samconfig_deploys_without_a_prompt_and_is_tagged() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../samconfig.toml")).unwrap();
    let config: toml::Table = toml::from_str(&text).expect("samconfig.toml is TOML");
    let template = template::load();
    let required: Vec<String> = template["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p.get("Default").is_none())
        .map(|(name, _)| name.as_str().unwrap().to_string())
        .collect();
    assert!(required.contains(&"Stage".to_string()), "{required:?}");
    // What a real environment must say although the template has a default: where it runs and
    // how it leaves the VPC, what it reserves, and where the revalidation feeds go.
    let real =
        ["SubnetIds", "SecurityGroupIds", "VpcEndpoints", "ReservedConcurrency", "RevalEnabled", "RevalFeedTarget"];
    for stage in ["stage", "prod"] {
        let env = &config[stage];
        assert_eq!(env["global"]["parameters"]["stack_name"].as_str(), Some(format!("tis-sync-{stage}").as_str()));
        let deploy = &env["deploy"]["parameters"];
        // `Key="value"` pairs, as sam deploy reads them.
        let pairs = |field: &str| -> std::collections::BTreeMap<String, String> {
            deploy[field]
                .as_str()
                .unwrap_or_else(|| panic!("{stage}: deploy.{field}"))
                .split("\" ")
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("{stage}: {pair}"));
                    (key.to_string(), value.trim_matches('"').to_string())
                })
                .collect()
        };
        let overrides = pairs("parameter_overrides");
        for parameter in &required {
            assert!(overrides.contains_key(parameter), "{stage} gives no {parameter}: sam deploy would ask for it");
        }
        for parameter in real {
            assert!(overrides.contains_key(parameter), "{stage} leaves {parameter} to the template's default");
        }
        if overrides["VpcEndpoints"] == "true" {
            for parameter in ["VpcId", "RouteTableIds"] {
                assert!(overrides.contains_key(parameter), "{stage}: endpoints need {parameter}");
            }
        }
        // The build needs no answer at a prompt: SAM versions that call rust-cargolambda a beta
        // feature ask unless it is enabled.
        assert_eq!(env["build"]["parameters"]["beta_features"].as_bool(), Some(true), "{stage}");
        for given in overrides.keys() {
            assert!(template["Parameters"].get(given.as_str()).is_some(), "{stage}: the template has no {given}");
        }
        assert_eq!(overrides["Stage"], stage);
        assert!(overrides["DatabaseSecretPrefix"].contains(stage), "{stage}: its own secrets");
        // The template's rule RevalBrokerNamed: feeds to RabbitMQ name their broker.
        if overrides.get("RevalFeedTarget").is_none_or(|t| t == "rabbitmq") {
            let broker = overrides.get("RevalBrokerUrl").map(String::as_str).unwrap_or_default();
            assert!(broker.starts_with("amqps://") && broker.contains(stage), "{stage}: RevalBrokerUrl {broker:?}");
            assert!(overrides["RevalBrokerSecretName"].contains(stage), "{stage}: its own broker login");
        }
        let tags = pairs("tags");
        assert_eq!(tags.get("service").map(String::as_str), Some("tis-sync"), "{stage}");
        assert_eq!(tags.get("stage").map(String::as_str), Some(stage), "{stage}");
        assert!(tags.get("owner").is_some_and(|o| !o.is_empty()), "{stage}");
        assert_eq!(deploy["template_file"].as_str(), Some("target/sam/build/template.yaml"), "the built template");
    }
}

#[test]
fn the_index_aliases_are_refused_by_the_template_as_at_config_load() {
    let template = template::load();
    for parameter in ["PersonsIndexAlias", "PostsIndexAlias"] {
        let definition = &template["Parameters"][parameter];
        assert_eq!(
            definition["AllowedPattern"].as_str(),
            Some(sync_core::search_index::ALIAS_PATTERN),
            "{parameter}: CloudFormation must refuse what config load refuses"
        );
        let default = definition["Default"].as_str().unwrap();
        assert_eq!(sync_core::search_index::check_alias(parameter, default), Ok(()), "{parameter}'s default");
    }
}

/// A watchdog that does not report (failed, timed out, never started) feeds no ESR metric: its
/// heartbeat's absence for longer than the longest gap between its runs raises an alarm.
#[test]
fn a_silent_watchdog_raises_an_alarm_of_its_own() {
    let schedule = &resource("SyncWatchdogFunction")["Properties"]["Events"]["AfterTheNightlyWindow"]["Properties"];
    let expression = schedule["ScheduleExpression"].as_str().unwrap();
    let hours: Vec<u32> = expression
        .strip_prefix("cron(0 ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a daily cron at whole hours: {expression}"))
        .split(',')
        .map(|h| h.parse().unwrap())
        .collect();
    let longest_gap =
        (0..hours.len()).map(|i| (hours[(i + 1) % hours.len()] + 24 - hours[i] - 1) % 24 + 1).max().unwrap();
    assert_eq!(longest_gap, 16, "{expression}");
    let alarm = &resource("WatchdogSilentAlarm")["Properties"];
    assert_eq!(to_json(&alarm["Namespace"]), stack_namespace());
    assert_eq!(alarm["MetricName"].as_str(), Some("WatchdogReported"));
    assert_eq!(alarm["Statistic"].as_str(), Some("Sum"));
    assert_eq!(alarm["Period"].as_u64(), Some(3600));
    let hours_silent = alarm["EvaluationPeriods"].as_u64().unwrap();
    assert_eq!(hours_silent, longest_gap as u64 + 1, "one hour more than the longest gap between runs");
    assert_eq!(alarm["DatapointsToAlarm"].as_u64(), Some(hours_silent));
    assert_eq!(alarm["ComparisonOperator"].as_str(), Some("LessThanThreshold"));
    assert_eq!(alarm["Threshold"].as_u64(), Some(1));
    assert_eq!(alarm["TreatMissingData"].as_str(), Some("breaching"), "no heartbeat is the alarm");
    let (_, topic) = tagged(&alarm["AlarmActions"][0]).unwrap();
    assert_eq!(topic.as_str(), Some("AlertsTopic"));
}

/// The watchdog judges a job stuck by its function's timeout as core states it: the template
/// deploys exactly those timeouts.
#[test]
fn every_functions_timeout_is_the_one_core_judges_it_by() {
    let template = template::load();
    let global = template["Globals"]["Function"]["Timeout"].as_u64().expect("a global timeout");
    let deployed = functions(&template);
    assert_eq!(deployed.len(), sync_core::Function::all().count());
    for (id, function) in deployed {
        let name: sync_core::Function = function_name(&function).parse().unwrap();
        let timeout = function["Properties"]["Timeout"].as_u64().unwrap_or(global);
        assert_eq!(timeout, name.timeout().as_secs(), "{id}");
    }
}

/// What a resource of the deployed template refers to: its `DependsOn`, and every `Ref`,
/// `Fn::GetAtt` and `${…}` of `Fn::Sub` in it (CloudFormation orders creation and update by these).
fn references(resource: &serde_json::Value) -> Vec<String> {
    fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("Ref", serde_json::Value::String(name)) => found.push(name.clone()),
                        ("Fn::GetAtt", serde_json::Value::Array(parts)) => {
                            found.extend(parts[0].as_str().map(|s| s.to_string()))
                        }
                        ("Fn::GetAtt", serde_json::Value::String(path)) => {
                            found.push(path.split('.').next().unwrap().to_string())
                        }
                        ("Fn::Sub", sub) => {
                            let text = sub.as_str().or_else(|| sub[0].as_str()).unwrap_or_default();
                            for piece in text.split("${").skip(1) {
                                found.push(piece.split(['}', '.']).next().unwrap().to_string());
                            }
                        }
                        _ => {}
                    }
                    walk(inner, found);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    match &resource["DependsOn"] {
        serde_json::Value::String(name) => found.push(name.clone()),
        serde_json::Value::Array(names) => found.extend(names.iter().filter_map(|n| n.as_str().map(String::from))),
        _ => {}
    }
    walk(&resource["Properties"], &mut found);
    found
}

/// Whether `name` comes after `target` in the deployed template's dependency order.
fn comes_after(resources: &serde_json::Map<String, serde_json::Value>, name: &str, target: &str) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    let mut next = vec![name.to_string()];
    while let Some(current) = next.pop() {
        if current == target {
            return true;
        }
        if seen.insert(current.clone()) {
            if let Some(resource) = resources.get(&current) {
                next.extend(references(resource));
            }
        }
    }
    false
}

/// Migrations run during the deploy, before anything that runs the new code: every function
/// but sync-migrate, and every schedule, rule and queue trigger that starts one, is created and
/// updated after the `Migrations` custom resource, which sync-migrate answers.
#[test]
fn the_deploy_migrates_before_any_function_schedule_or_rule_goes_live() {
    fn problems(template: &serde_json::Value) -> Vec<String> {
        let resources = template["Resources"].as_object().unwrap();
        let mut problems = Vec::new();
        let migrations = &resources["Migrations"];
        if migrations["Type"] != "Custom::Migrations"
            || migrations["Properties"]["ServiceToken"]["Fn::GetAtt"][0] != "SyncMigrateFunction"
        {
            problems.push(format!("Migrations is not answered by sync-migrate: {migrations}"));
        }
        let live = [
            "AWS::Lambda::Function",
            "AWS::Scheduler::Schedule",
            "AWS::Events::Rule",
            "AWS::Lambda::EventSourceMapping",
        ];
        for (name, resource) in resources {
            let kind = resource["Type"].as_str().unwrap();
            if !live.contains(&kind) || name == "SyncMigrateFunction" {
                continue;
            }
            // Rules that start no function (the alerts) may go live at once.
            if kind == "AWS::Events::Rule" && !resource["Properties"]["Targets"].to_string().contains("Function") {
                continue;
            }
            if !comes_after(resources, name, "Migrations") {
                problems.push(format!("{name} ({kind}) can go live before the migrations"));
            }
        }
        problems
    }
    let template = deployed();
    let found = problems(&template);
    assert!(found.is_empty(), "{found:#?}");
    let schedules =
        template["Resources"].as_object().unwrap().values().filter(|r| r["Type"] == "AWS::Scheduler::Schedule");
    assert!(schedules.count() >= graph::heads().len(), "the schedules were looked at");

    // Taken off one function, its schedule could fire on an old schema: caught.
    let mut mutated = template.clone();
    mutated["Resources"]["PersonOwnerRebuildFunction"].as_object_mut().unwrap().remove("DependsOn");
    let found = problems(&mutated);
    assert!(found.iter().any(|p| p.starts_with("PersonOwnerRebuildFunction ")), "{found:#?}");
    assert!(found.iter().any(|p| p.contains("Schedule")), "{found:#?}");
}

/// With `VpcEndpoints`, every AWS service a function calls from its code (core's list) has its
/// endpoint, in the functions' subnets and admitting their group on 443, and no other service
/// has one; without subnets the functions are in no VPC.
#[test]
fn with_endpoints_on_every_aws_service_a_function_calls_has_its_endpoint_and_no_other() {
    fn problems(template: &serde_json::Value) -> Vec<String> {
        use sync_core::function::AwsService;
        use sync_core::Function;
        let resources = template["Resources"].as_object().unwrap();
        let mut problems = Vec::new();
        let mut needed: Vec<AwsService> = Function::all().flat_map(|f| f.aws_services().iter().copied()).collect();
        needed.sort();
        needed.dedup();
        let mut made = Vec::new();
        for (id, endpoint) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::EC2::VPCEndpoint") {
            let p = &endpoint["Properties"];
            let name = p["ServiceName"]["Fn::Sub"].as_str().unwrap_or_default();
            let Some(service) = AwsService::ALL
                .into_iter()
                .find(|s| name == format!("com.amazonaws.${{AWS::Region}}.{}", s.endpoint_service()))
            else {
                problems.push(format!("{id} is an endpoint for {name}, which no function calls"));
                continue;
            };
            made.push(service);
            if endpoint["Condition"] != "MakeVpcEndpoints" || p["VpcId"] != json!({"Ref": "VpcId"}) {
                problems.push(format!("{id} is not made with VpcEndpoints in the functions' VPC"));
            }
            let placed = if service.gateway() {
                p["VpcEndpointType"] == "Gateway" && p["RouteTableIds"] == json!({"Ref": "RouteTableIds"})
            } else {
                p["VpcEndpointType"] == "Interface"
                    && p["SubnetIds"] == json!({"Ref": "SubnetIds"})
                    && p["SecurityGroupIds"] == json!([{"Ref": "VpcEndpointSecurityGroup"}])
                    && p["PrivateDnsEnabled"] == true
            };
            if !placed {
                problems.push(format!("{id} is not where the functions reach it: {p}"));
            }
        }
        made.sort();
        if made != needed {
            problems.push(format!("endpoints for {made:?}, the functions call {needed:?}"));
        }
        let ingress = &resources["VpcEndpointSecurityGroup"]["Properties"]["SecurityGroupIngress"];
        if ingress
            != &json!([{"Description": "HTTPS from the functions' own security group", "IpProtocol": "tcp",
                        "FromPort": 443, "ToPort": 443,
                        "SourceSecurityGroupId": {"Fn::Select": [0, {"Ref": "SecurityGroupIds"}]}}])
        {
            problems.push(format!("the endpoints admit other than HTTPS from the functions: {ingress}"));
        }
        for (id, function) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::Lambda::Function") {
            let vpc = &function["Properties"]["VpcConfig"];
            if vpc["Fn::If"][0] != "InVpc" || vpc["Fn::If"][2] != json!({"Ref": "AWS::NoValue"}) {
                problems.push(format!("{id} is in a VPC even without subnets: {vpc}"));
            }
        }
        problems
    }
    let template = deployed();
    let found = problems(&template);
    assert!(found.is_empty(), "{found:#?}");

    let mut mutated = template.clone();
    mutated["Resources"].as_object_mut().unwrap().remove("EventBridgeEndpoint");
    assert!(problems(&mutated).iter().any(|p| p.contains("EventBridge")), "an endpoint missing is caught");
    let mut mutated = template.clone();
    mutated["Resources"]["SyncStatusFunction"]["Properties"]["VpcConfig"] =
        json!({"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}});
    assert!(problems(&mutated).iter().any(|p| p.starts_with("SyncStatusFunction ")), "a fixed VPC is caught");
}

/// The stack's own metrics namespace, as the template writes it: `TisSync/<stack>`.
fn stack_namespace() -> serde_json::Value {
    json!({"!Sub": format!("{}/${{AWS::StackName}}", shared::emf::NAMESPACE)})
}

/// Two stages in one account never trip each other's alarms: every function writes its
/// metrics to the stack's own namespace, and every alarm and dashboard graph on them reads it.
#[test]
fn every_metric_and_alarm_is_the_stacks_own() {
    let template = template::load();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(to_json(&globals["METRICS_NAMESPACE"]), stack_namespace(), "every function's namespace");
    let mut ours = 0;
    for (id, alarm) in template::resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        let namespace = to_json(&alarm["Properties"]["Namespace"]);
        if namespace.as_str().is_some_and(|n| n.starts_with("AWS/")) {
            continue;
        }
        assert_eq!(namespace, stack_namespace(), "{id}");
        ours += 1;
    }
    assert!(ours >= 5, "the metric alarms were looked at: {ours}");
    let (_, dashboard) = template::resources_of_type(&template, "AWS::CloudWatch::Dashboard").remove(0);
    let body = to_json(&dashboard["Properties"]["DashboardBody"])["!Sub"].as_str().unwrap().to_string();
    assert!(!body.contains("[\"TisSync\","), "a dashboard graph reads the unscoped namespace");
    assert!(body.contains("[\"TisSync/${AWS::StackName}\",\"JobFailed\""), "{body}");
}

/// The logical id of the deployed function named `<stack>-<function>`.
fn deployed_function_id(template: &serde_json::Value, function: Function) -> String {
    let name = json!({"Fn::Sub": format!("${{AWS::StackName}}-{function}")});
    let resources = template["Resources"].as_object().unwrap();
    let found: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function" && r["Properties"]["FunctionName"] == name)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(found.len(), 1, "{function} is one function");
    found[0].clone()
}

/// What the search domain must allow (`tis-sync opensearch-access`) is for the roles this stack
/// deploys: each function that uses the domain has its role's ARN as an output and as a `--role`
/// of the OpenSearchAccessCommand output, and the domain's policy would allow it exactly the
/// HTTP methods its IAM policy allows.
#[test]
fn the_opensearch_access_command_names_each_search_functions_role_with_its_own_methods() {
    let template = deployed();
    let command = template["Outputs"]["OpenSearchAccessCommand"]["Value"]["Fn::Sub"].as_str().unwrap().to_string();
    let users: Vec<Function> = Function::all().filter(|f| f.search_use().is_some()).collect();
    assert_eq!(command.matches("--role ").count(), users.len(), "{command}");
    for function in users {
        let id = deployed_function_id(&template, function);
        let role = template["Resources"][&id]["Properties"]["Role"]["Fn::GetAtt"][0].as_str().unwrap().to_string();
        assert!(command.contains(&format!("--role {function}=${{{role}.Arn}}")), "{function}: {command}");
        let outputs = template["Outputs"].as_object().unwrap();
        assert!(
            outputs.values().any(|o| o["Value"] == json!({"Fn::GetAtt": [role, "Arn"]})),
            "{function}: its role's ARN is an output"
        );
        let mut methods: Vec<String> = template["Resources"][&role]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
            .flat_map(|s| match &s["Action"] {
                serde_json::Value::String(a) => vec![a.clone()],
                actions => actions.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect(),
            })
            .filter(|a| a.starts_with("es:ESHttp"))
            .collect();
        methods.sort();
        methods.dedup();
        assert_eq!(methods, function.search_use().unwrap().http_actions(), "{function}");
    }
    for alias in [
        "--persons-alias ${PersonsIndexAlias}",
        "--posts-alias ${PostsIndexAlias}",
        "--function-prefix ${AWS::StackName}-",
    ] {
        assert!(command.contains(alias), "{alias}: {command}");
    }
}
