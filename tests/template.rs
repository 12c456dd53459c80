//! template.yaml and the job graph agree: every job has a function; every schedule, rule and
//! pattern matches the graph and nothing else is there; every asynchronously invoked function has
//! an on-failure destination and runs one at a time. The template itself is parsed, tags and all.

use integration_tests::template::{self, binary, events, functions, tagged, to_json};
use serde_json::json;
use shared::graph::{self, GRAPH};
use shared::jobs::JobName;

fn job_functions() -> Vec<(JobName, serde_norway::Value)> {
    let template = template::load();
    functions(&template)
        .into_iter()
        .filter_map(|(_, f)| binary(&f).parse::<JobName>().ok().map(|job| (job, f)))
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
        assert_eq!(properties["ReservedConcurrentExecutions"].as_u64(), Some(1), "{id}");
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
        // No secret in the configuration: the database comes from a secret ARN read at start-up.
        assert!(function["Properties"]["Environment"]["Variables"].get("DATABASE_URL").is_none(), "{id}");
    }
    let globals_env = &globals["Environment"]["Variables"];
    assert!(tagged(&globals_env["DATABASE_SECRET_ARN"]).is_some());
    assert!(globals_env.get("DATABASE_URL").is_none());
}
