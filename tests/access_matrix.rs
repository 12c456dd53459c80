//! The access matrix: every path the design needs, in one table, proven granted at every layer
//! it crosses (the role's policy, the resource policy, the KMS key policy) over the template as
//! deployed (after the SAM transform), and nothing else granted. The local emulator enforces no
//! IAM or KMS policy, so this is where a missing or extra grant shows.

use std::collections::BTreeSet;

use serde_json::Value;

const JOBS: [&str; 11] = [
    "PersonOwnerRebuildFunction",
    "PersonPlacementEmployingBodyTrustFunction",
    "PersonPlacementTrainingBodyTrustFunction",
    "PostEmployingBodyTrustFunction",
    "PostTrainingBodyTrustFunction",
    "PersonRecordStatusFunction",
    "PostFundingStatusFunction",
    "RevalCurrentPmSyncFunction",
    "RevalCurrentPlacementSyncFunction",
    "PersonElasticsearchSyncFunction",
    "PostElasticsearchSyncFunction",
];
/// The revalidation feeds' queue, granted only when they send to SQS: the stack's own, or the
/// one the template is given.
const REVAL_QUEUE: &str = "RevalToQueue: If(CreateRevalQueue, RevalTraineeUpdateQueue, RevalQueueArn)";
/// The broker login's secret, readable only when the feeds send to RabbitMQ.
const REVAL_BROKER_SECRET: &str =
    "RevalToBroker: arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${RevalBrokerSecretName}-??????";
/// Every function and the name its secret ends with (sync_core::Function::name).
const FUNCTIONS: [(&str, &str); 18] = [
    ("PersonOwnerRebuildFunction", "person-owner-rebuild"),
    ("PersonPlacementEmployingBodyTrustFunction", "person-placement-employing-body-trust"),
    ("PersonPlacementTrainingBodyTrustFunction", "person-placement-training-body-trust"),
    ("PostEmployingBodyTrustFunction", "post-employing-body-trust"),
    ("PostTrainingBodyTrustFunction", "post-training-body-trust"),
    ("PersonRecordStatusFunction", "person-record-status"),
    ("PostFundingStatusFunction", "post-funding-status"),
    ("RevalCurrentPmSyncFunction", "reval-current-pm-sync"),
    ("RevalCurrentPlacementSyncFunction", "reval-current-placement-sync"),
    ("PersonElasticsearchSyncFunction", "person-elasticsearch-sync"),
    ("PostElasticsearchSyncFunction", "post-elasticsearch-sync"),
    ("EsrExportDispatchFunction", "esr-export-dispatch"),
    ("EsrExportFunction", "esr-export"),
    ("EsrIntakeFunction", "esr-intake"),
    ("SyncWatchdogFunction", "sync-watchdog"),
    ("SyncStatusFunction", "sync-status"),
    ("SyncMigrateFunction", "sync-migrate"),
    ("SyncPreflightFunction", "sync-preflight"),
];
/// Calls with no resource-level permissions (the Service Authorization Reference's pages for
/// Lambda and EventBridge Scheduler): "*" is their only resource.
const WITHOUT_RESOURCES: [&str; 2] = ["lambda:GetAccountSettings", "scheduler:ListSchedules"];
const JOB_EVENTS: &[&str] = &["Job Succeeded", "Job Failed", "Job Deferred"];
const READ_SECRET: &str = "secretsmanager:GetSecretValue";
const CONSUME: [&str; 4] =
    ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"];

/// One path of the design: who reaches what, and how.
pub enum Path {
    /// The function's schedules invoke it (their role) and dead-letter to the delivery DLQ.
    ScheduleToFunction(&'static str),
    /// The follow-up rules targeting the function invoke it (Lambda permission) and dead-letter
    /// to the delivery DLQ (its queue policy).
    RuleToFunction(&'static str),
    /// The job-problems rule publishes to the alerts topic (topic policy, key policy).
    RuleToTopic,
    /// Every alarm publishes to the alerts topic (topic policy, key policy).
    AlarmsToTopic,
    /// The function publishes these detail types, and only these, from `tis.sync`; and the
    /// preflight describes the bus from inside it.
    FunctionToBus(&'static str, &'static [&'static str]),
    FunctionToQueue(&'static str, &'static [&'static str], &'static str),
    /// The revalidation feed reads the broker's login (when the feeds send to RabbitMQ).
    FeedToBrokerSecret(&'static str),
    /// The queue drives the function (event source mapping; the role may consume it).
    QueueToFunction(&'static str, &'static str),
    FunctionToBucket(&'static str),
    /// The function may read its own database secret, `<DatabaseSecretPrefix><name>`.
    FunctionToSecret(&'static str, &'static str),
    /// The function's asynchronous failures go to the failed-invocation queue.
    FunctionToFailureQueue(&'static str),
    WatchdogToJobs,
    /// The index job describes its domain and reaches its own indexes and alias on it (the
    /// alias's parameter).
    IndexToDomain(&'static str, &'static str),
    /// sync-status describes the domain and reads each alias and its live index's count.
    StatusToDomain,
    /// The revalidation service's account reads the stack's queue (its queue policy), nobody else.
    ConsumerToRevalQueue,
    /// CloudFormation invokes sync-migrate for the `Migrations` custom resource (as the deployer,
    /// in this account: no resource policy), and sync-migrate PUTs its answer to CloudFormation's
    /// presigned URL on S3, out of the VPC through the S3 endpoint.
    DeployToMigrate,
    /// sync-preflight probes every other function, reads the account's concurrency
    /// and lists the schedules.
    PreflightProbes,
}

/// Every path the design needs.
pub fn matrix() -> Vec<Path> {
    use Path::*;
    let mut paths = vec![
        RuleToTopic,
        AlarmsToTopic,
        ScheduleToFunction("EsrExportDispatchFunction"),
        ScheduleToFunction("SyncWatchdogFunction"),
        FunctionToQueue("EsrExportDispatchFunction", &["sqs:SendMessage", "sqs:GetQueueAttributes"], "EsrCommandQueue"),
        FunctionToQueue("SyncStatusFunction", &["sqs:GetQueueAttributes"], "EsrCommandDeadLetterQueue"),
        QueueToFunction("EsrCommandQueue", "EsrExportFunction"),
        QueueToFunction("EsrRecordQueue", "EsrIntakeFunction"),
        FunctionToBucket("EsrExportFunction"),
        FunctionToBus("EsrExportFunction", &["ESR File Exported"]),
        FunctionToBus("SyncWatchdogFunction", &["Job Missed", "Job Succeeded"]),
        FunctionToFailureQueue("EsrExportDispatchFunction"),
        FunctionToFailureQueue("SyncWatchdogFunction"),
        WatchdogToJobs,
        IndexToDomain("PersonElasticsearchSyncFunction", "PersonsIndexAlias"),
        IndexToDomain("PostElasticsearchSyncFunction", "PostsIndexAlias"),
        StatusToDomain,
        FunctionToQueue("RevalCurrentPmSyncFunction", &["sqs:SendMessage", "sqs:GetQueueAttributes"], REVAL_QUEUE),
        FunctionToQueue(
            "RevalCurrentPlacementSyncFunction",
            &["sqs:SendMessage", "sqs:GetQueueAttributes"],
            REVAL_QUEUE,
        ),
        ConsumerToRevalQueue,
        FeedToBrokerSecret("RevalCurrentPmSyncFunction"),
        FeedToBrokerSecret("RevalCurrentPlacementSyncFunction"),
        DeployToMigrate,
        PreflightProbes,
    ];
    for (function, name) in FUNCTIONS {
        paths.push(FunctionToSecret(function, name));
    }
    for job in JOBS {
        paths.extend([FunctionToBus(job, JOB_EVENTS), FunctionToFailureQueue(job)]);
    }
    for head in [
        "PersonOwnerRebuildFunction",
        "PersonPlacementEmployingBodyTrustFunction",
        "PostEmployingBodyTrustFunction",
        "PersonRecordStatusFunction",
        "PostFundingStatusFunction",
        "RevalCurrentPmSyncFunction",
        "RevalCurrentPlacementSyncFunction",
    ] {
        paths.push(ScheduleToFunction(head));
    }
    for follower in [
        "PersonPlacementTrainingBodyTrustFunction",
        "PostTrainingBodyTrustFunction",
        "PersonElasticsearchSyncFunction",
        "PostElasticsearchSyncFunction",
    ] {
        paths.push(RuleToFunction(follower));
    }
    paths
}

/// The resource a policy or property names: a logical id for `Ref`/`GetAtt` (and a `Sub` of
/// one), else the `Sub` template or the literal. A conditional one reads `If(condition, a, b)`,
/// or just `a` when it is otherwise absent (`AWS::NoValue`).
pub fn target(value: &Value) -> String {
    if let Some([condition, then, otherwise]) = value.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
        let condition = condition.as_str().unwrap_or_default();
        return match target(otherwise).as_str() {
            "AWS::NoValue" => target(then),
            otherwise => format!("If({condition}, {}, {otherwise})", target(then)),
        };
    }
    if let Some(id) = value.get("Ref").and_then(Value::as_str) {
        return id.to_string();
    }
    if let Some(id) = value.get("Fn::GetAtt").and_then(|g| g[0].as_str()) {
        return id.to_string();
    }
    match value.get("Fn::Sub") {
        Some(Value::String(template)) => template.clone(),
        Some(Value::Array(parts)) => {
            let mut text = parts[0].as_str().unwrap_or_default().to_string();
            if let Some(vars) = parts[1].as_object() {
                for (name, value) in vars {
                    text = text.replace(&format!("${{{name}}}"), &target(value));
                }
            }
            text
        }
        _ => value.as_str().map(String::from).unwrap_or_else(|| value.to_string()),
    }
}

fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

fn strings(value: &Value) -> Vec<String> {
    list(value).iter().filter_map(|v| v.as_str().map(String::from)).collect()
}

/// The deployed template and the checks over it; each check adds what it found wrong.
pub struct Deployed<'a> {
    resources: &'a serde_json::Map<String, Value>,
    problems: Vec<String>,
    /// What each role was expected to grant, filled by the paths.
    expected: Vec<(String, String, String)>,
    /// The calls the functions make out of the VPC, `(action, resource)`, filled by the paths.
    out_of_the_vpc: Vec<(String, String)>,
}

impl<'a> Deployed<'a> {
    fn resource(&mut self, id: &str) -> Value {
        match self.resources.get(id) {
            Some(r) => r.clone(),
            None => {
                self.problems.push(format!("no resource {id}"));
                Value::Null
            }
        }
    }

    fn of_type(&self, kind: &str) -> Vec<(String, Value)> {
        self.resources.iter().filter(|(_, r)| r["Type"] == kind).map(|(k, r)| (k.clone(), r.clone())).collect()
    }

    fn role_of(&mut self, function: &str) -> String {
        target(&self.resource(function)["Properties"]["Role"])
    }

    /// The managed policies of this template (`AWS::IAM::ManagedPolicy`) a role has: their
    /// grants are the role's, checked as its inline policies are.
    fn own_managed_policies(&self, role: &Value) -> Vec<Value> {
        list(&role["Properties"]["ManagedPolicyArns"])
            .iter()
            .filter_map(|arn| self.resources.get(&target(arn)))
            .filter(|policy| policy["Type"] == "AWS::IAM::ManagedPolicy")
            .map(|policy| policy["Properties"].clone())
            .collect()
    }

    /// Allow statements of a role's inline policies and of the template's own managed policies
    /// it has. A statement there only under a condition (`Fn::If` with `AWS::NoValue`
    /// otherwise) names its resources `condition: resource`.
    fn statements(&self, role: &str) -> Vec<Value> {
        let Some(role) = self.resources.get(role) else { return vec![] };
        list(&role["Properties"]["Policies"])
            .into_iter()
            .chain(self.own_managed_policies(role))
            .flat_map(|p| list(&p["PolicyDocument"]["Statement"]))
            .map(|s| match s.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
                Some([condition, then, otherwise]) if target(otherwise) == "AWS::NoValue" => {
                    let mut statement = then.clone();
                    let resources: Vec<Value> = list(&then["Resource"])
                        .iter()
                        .map(|r| Value::String(format!("{}: {}", condition.as_str().unwrap_or_default(), target(r))))
                        .collect();
                    statement["Resource"] = Value::Array(resources);
                    statement
                }
                _ => s,
            })
            .filter(|s| s["Effect"] == "Allow")
            .collect()
    }

    /// (action, target) pairs the role's inline policies grant.
    fn grants(&self, role: &str) -> BTreeSet<(String, String)> {
        let mut grants = BTreeSet::new();
        for statement in self.statements(role) {
            for action in strings(&statement["Action"]) {
                for resource in list(&statement["Resource"]) {
                    grants.insert((action.clone(), target(&resource)));
                }
            }
        }
        grants
    }

    fn expect(&mut self, role: &str, actions: &[&str], resource: &str) {
        for action in actions {
            self.expected.push((role.to_string(), action.to_string(), resource.to_string()));
        }
    }

    /// A call a function makes from its code leaves the VPC through the endpoint of its service
    /// (when the stack makes them: `VpcEndpoints`), whose policy lets this account's principals
    /// make it; `anyone`: a call signed by someone else (CloudFormation's presigned answer URL).
    fn check_endpoint(&mut self, action: &str, resource: &str, anyone: bool) {
        self.out_of_the_vpc.push((action.to_string(), resource.to_string()));
        let service = action.split(':').next().unwrap_or_default();
        let endpoint = self.of_type("AWS::EC2::VPCEndpoint").into_iter().find(|(_, e)| {
            target(&e["Properties"]["ServiceName"]) == format!("com.amazonaws.${{AWS::Region}}.{service}")
        });
        let Some((id, endpoint)) = endpoint else {
            self.problems.push(format!("no VPC endpoint takes {action} out of the VPC"));
            return;
        };
        let allowed = list(&endpoint["Properties"]["PolicyDocument"]["Statement"]).iter().any(|s| {
            let resources: Vec<String> = list(&s["Resource"]).iter().map(target).collect();
            s["Effect"] == "Allow"
                && s["Principal"] == "*"
                && strings(&s["Action"]).iter().any(|a| a == action)
                && resources.iter().any(|r| r == "*" || r == resource)
                && (anyone || target(&s["Condition"]["StringEquals"]["aws:PrincipalAccount"]) == "AWS::AccountId")
        });
        if !allowed {
            self.problems
                .push(format!("endpoint {id}'s policy does not let the functions make {action} on {resource}"));
        }
    }

    fn check_role_grants(&mut self, role: &str, actions: &[&str], resource: &str) {
        let grants = self.grants(role);
        for action in actions {
            if !grants.contains(&(action.to_string(), resource.to_string())) {
                self.problems.push(format!("role {role} does not grant {action} on {resource}"));
            }
        }
        self.expect(role, actions, resource);
    }

    /// A statement of a resource policy (or key policy) letting `service` do `actions`, under
    /// conditions the caller checks.
    fn service_statement(&self, document: &Value, service: &str, actions: &[&str]) -> Option<Value> {
        list(&document["Statement"]).into_iter().find(|s| {
            s["Effect"] == "Allow"
                && strings(&s["Principal"]["Service"]).iter().any(|p| p == service)
                && actions.iter().all(|a| strings(&s["Action"]).iter().any(|x| x == a))
        })
    }

    fn check(&mut self, path: &Path) {
        match path {
            Path::ScheduleToFunction(function) => {
                let schedules: Vec<Value> = self
                    .of_type("AWS::Scheduler::Schedule")
                    .into_iter()
                    .map(|(_, s)| s)
                    .filter(|s| target(&s["Properties"]["Target"]["Arn"]) == *function)
                    .collect();
                if schedules.is_empty() {
                    self.problems.push(format!("no schedule invokes {function}"));
                }
                for schedule in schedules {
                    let role = target(&schedule["Properties"]["Target"]["RoleArn"]);
                    let trust = self.resource(&role)["Properties"]["AssumeRolePolicyDocument"].clone();
                    if self.service_statement(&trust, "scheduler.amazonaws.com", &["sts:AssumeRole"]).is_none() {
                        self.problems.push(format!("schedule role {role} is not assumable by EventBridge Scheduler"));
                    }
                    self.check_role_grants(&role, &["lambda:InvokeFunction"], function);
                    let dlq = target(&schedule["Properties"]["Target"]["DeadLetterConfig"]["Arn"]);
                    self.check_role_grants(&role, &["sqs:SendMessage"], &dlq);
                }
            }
            Path::RuleToFunction(function) => {
                let rules: Vec<(String, Value)> = self
                    .of_type("AWS::Events::Rule")
                    .into_iter()
                    .filter(|(_, r)| list(&r["Properties"]["Targets"]).iter().any(|t| target(&t["Arn"]) == *function))
                    .collect();
                if rules.is_empty() {
                    self.problems.push(format!("no rule invokes {function}"));
                }
                let permissions = self.of_type("AWS::Lambda::Permission");
                for (rule, definition) in rules {
                    let allowed = permissions.iter().any(|(_, p)| {
                        let p = &p["Properties"];
                        target(&p["FunctionName"]) == *function
                            && p["Action"] == "lambda:InvokeFunction"
                            && p["Principal"] == "events.amazonaws.com"
                            && target(&p["SourceArn"]) == rule
                    });
                    if !allowed {
                        self.problems.push(format!("no Lambda permission lets rule {rule} invoke {function}"));
                    }
                    for t in list(&definition["Properties"]["Targets"]) {
                        self.check_rule_dead_letter_queue(&rule, &t);
                    }
                }
            }
            Path::RuleToTopic => {
                let rule = self.resource("JobProblemsToAlerts");
                let targets = list(&rule["Properties"]["Targets"]);
                if !targets.iter().any(|t| target(&t["Arn"]) == "AlertsTopic") {
                    self.problems.push("the job-problems rule does not target the alerts topic".into());
                }
                let policy = self.topic_policy();
                match self.service_statement(&policy, "events.amazonaws.com", &["sns:Publish"]) {
                    Some(s) if target(&s["Condition"]["ArnEquals"]["aws:SourceArn"]) == "JobProblemsToAlerts" => {}
                    _ => {
                        self.problems.push("the topic policy does not let the job-problems rule (only) publish".into())
                    }
                }
                self.check_documented_key_statement("events.amazonaws.com", "the job-problems rule");
                for t in targets {
                    self.check_rule_dead_letter_queue("JobProblemsToAlerts", &t);
                }
            }
            Path::AlarmsToTopic => {
                let alarm_arns =
                    "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*";
                for (id, alarm) in self.of_type("AWS::CloudWatch::Alarm") {
                    let p = &alarm["Properties"];
                    if !list(&p["AlarmActions"]).iter().any(|a| target(a) == "AlertsTopic") {
                        self.problems.push(format!("alarm {id} does not notify the alerts topic"));
                    }
                    let named = p["AlarmName"]["Fn::Sub"].as_str().unwrap_or_default();
                    if !named.starts_with("${AWS::StackName}-") {
                        self.problems
                            .push(format!("alarm {id} is not named ${{AWS::StackName}}-…, so no policy names it"));
                    }
                }
                let policy = self.topic_policy();
                match self.service_statement(&policy, "cloudwatch.amazonaws.com", &["sns:Publish"]) {
                    Some(s)
                        if target(&s["Condition"]["ArnLike"]["aws:SourceArn"]) == alarm_arns
                            && target(&s["Condition"]["StringEquals"]["aws:SourceAccount"]) == "AWS::AccountId" => {}
                    _ => self.problems.push("the topic policy does not let this stack's alarms (only) publish".into()),
                }
                self.check_documented_key_statement("cloudwatch.amazonaws.com", "the alarms");
            }
            Path::FunctionToBus(function, detail_types) => {
                let role = self.role_of(function);
                self.check_role_grants(&role, &["events:PutEvents", "events:DescribeEventBus"], "JobEventBus");
                self.check_endpoint("events:PutEvents", "JobEventBus", false);
                self.check_endpoint("events:DescribeEventBus", "JobEventBus", false);
                for statement in self.statements(&role) {
                    if !strings(&statement["Action"]).iter().any(|a| a == "events:PutEvents") {
                        continue;
                    }
                    let condition = &statement["Condition"]["StringEquals"];
                    let types: BTreeSet<String> = strings(&condition["events:detail-type"]).into_iter().collect();
                    let wanted: BTreeSet<String> = detail_types.iter().map(|t| t.to_string()).collect();
                    if condition["events:source"] != "tis.sync" || types != wanted {
                        self.problems.push(format!(
                            "{function} may put events beyond source tis.sync and {wanted:?}: {}",
                            statement["Condition"]
                        ));
                    }
                }
            }
            Path::FunctionToQueue(function, actions, queue) => {
                let role = self.role_of(function);
                self.check_role_grants(&role, actions, queue);
                for action in *actions {
                    self.check_endpoint(action, queue, false);
                }
            }
            Path::FeedToBrokerSecret(function) => {
                let role = self.role_of(function);
                self.check_role_grants(&role, &[READ_SECRET], REVAL_BROKER_SECRET);
                self.check_endpoint(READ_SECRET, REVAL_BROKER_SECRET, false);
            }
            Path::QueueToFunction(queue, function) => {
                let mapped = self.of_type("AWS::Lambda::EventSourceMapping").iter().any(|(_, m)| {
                    target(&m["Properties"]["EventSourceArn"]) == *queue
                        && target(&m["Properties"]["FunctionName"]) == *function
                });
                if !mapped {
                    self.problems.push(format!("no event source mapping from {queue} to {function}"));
                }
                let role = self.role_of(function);
                self.check_role_grants(&role, &CONSUME, queue);
            }
            Path::FunctionToBucket(function) => {
                let role = self.role_of(function);
                self.check_role_grants(&role, &["s3:PutObject"], "${EsrExportBucket.Arn}/${EsrExportPrefix}*");
                self.check_endpoint("s3:PutObject", "${EsrExportBucket.Arn}/${EsrExportPrefix}*", false);
                // The bucket encrypts under a key of the stack's own: the writer makes data keys
                // with it, through S3 only; the key policy leaves its use to IAM.
                let encryption = &self.resource("EsrExportBucket")["Properties"]["BucketEncryption"];
                let rule = &encryption["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
                let key = target(&rule["KMSMasterKeyID"]);
                if rule["SSEAlgorithm"] != "aws:kms"
                    || self.resources.get(&key).map(|k| &k["Type"]) != Some(&"AWS::KMS::Key".into())
                {
                    self.problems
                        .push(format!("the export bucket is not encrypted with a key of the stack's own: {rule}"));
                    return;
                }
                self.check_role_grants(&role, &["kms:GenerateDataKey"], &key);
                let via_s3 = self.statements(&role).iter().any(|s| {
                    strings(&s["Action"]).iter().any(|a| a == "kms:GenerateDataKey")
                        && target(&s["Condition"]["StringEquals"]["kms:ViaService"])
                            == "s3.${AWS::Region}.amazonaws.com"
                });
                if !via_s3 {
                    self.problems.push(format!("{role} may use {key} other than through S3"));
                }
                let policy = self.resource(&key)["Properties"]["KeyPolicy"].clone();
                let delegates = list(&policy["Statement"]).iter().any(|s| {
                    s["Effect"] == "Allow"
                        && target(&s["Principal"]["AWS"]) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
                });
                if !delegates {
                    self.problems.push(format!("{key}'s key policy does not leave its use to the account's IAM"));
                }
                self.check_access_logging();
            }
            Path::FunctionToSecret(function, name) => {
                let role = self.role_of(function);
                let secret = format!(
                    "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{DatabaseSecretPrefix}}{name}-??????"
                );
                self.check_role_grants(&role, &[READ_SECRET], &secret);
                self.check_endpoint(READ_SECRET, &secret, false);
            }
            Path::FunctionToFailureQueue(function) => {
                let configured = self.of_type("AWS::Lambda::EventInvokeConfig").iter().any(|(_, c)| {
                    target(&c["Properties"]["FunctionName"]) == *function
                        && target(&c["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
                            == "FailedInvocationQueue"
                });
                if !configured {
                    self.problems.push(format!("{function}'s failures go nowhere"));
                }
                let role = self.role_of(function);
                self.check_role_grants(&role, &["sqs:SendMessage"], "FailedInvocationQueue");
            }
            Path::PreflightProbes => {
                let role = self.role_of("SyncPreflightFunction");
                let others = FUNCTIONS.iter().map(|(id, _)| *id).filter(|id| *id != "SyncPreflightFunction");
                for function in others {
                    self.check_role_grants(&role, &["lambda:InvokeFunction"], function);
                    self.check_endpoint("lambda:InvokeFunction", function, false);
                }
                for action in WITHOUT_RESOURCES {
                    self.check_role_grants(&role, &[action], "*");
                    self.check_endpoint(action, "*", false);
                }
            }
            Path::WatchdogToJobs => {
                let role = self.role_of("SyncWatchdogFunction");
                for job in JOBS {
                    self.check_role_grants(&role, &["lambda:InvokeFunction"], job);
                    self.check_endpoint("lambda:InvokeFunction", job, false);
                }
            }
            Path::ConsumerToRevalQueue => {
                let policies = self.of_type("AWS::SQS::QueuePolicy");
                let policy = policies.iter().find(|(_, p)| {
                    list(&p["Properties"]["Queues"]).iter().any(|q| target(q) == "RevalTraineeUpdateQueue")
                });
                let Some((_, policy)) = policy else {
                    self.problems.push("the revalidation queue has no queue policy".into());
                    return;
                };
                let consumer = "If(RevalConsumerIsAnotherAccount, arn:${AWS::Partition}:iam::${RevalConsumerAccountId}:root, arn:${AWS::Partition}:iam::${AWS::AccountId}:root)";
                let statements = list(&policy["Properties"]["PolicyDocument"]["Statement"]);
                if statements.is_empty() {
                    self.problems.push("the revalidation queue's policy lets nobody read it".into());
                }
                for statement in statements {
                    let actions: BTreeSet<String> = strings(&statement["Action"]).into_iter().collect();
                    let wanted: BTreeSet<String> = CONSUME.iter().map(|a| a.to_string()).collect();
                    let principal = target(&statement["Principal"]["AWS"]);
                    if statement["Effect"] != "Allow"
                        || principal != consumer
                        || actions != wanted
                        || target(&statement["Resource"]) != "RevalTraineeUpdateQueue"
                    {
                        self.problems.push(format!(
                            "the revalidation queue's policy grants more or other than the consumer's reads: {statement}"
                        ));
                    }
                }
            }
            Path::IndexToDomain(function, alias) => {
                let role = self.role_of(function);
                let domain = "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/${OpenSearchDomainName}";
                self.check_role_grants(&role, &["es:DescribeDomain"], domain);
                self.check_endpoint("es:DescribeDomain", domain, false);
                let all = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"];
                self.check_role_grants(&role, &all, &format!("{domain}/${{{alias}}}-*"));
                self.check_role_grants(&role, &["es:ESHttpPost"], &format!("{domain}/_aliases"));
                for read in [format!("${{{alias}}}"), format!("_alias/${{{alias}}}")] {
                    self.check_role_grants(&role, &["es:ESHttpGet", "es:ESHttpHead"], &format!("{domain}/{read}"));
                }
            }
            Path::DeployToMigrate => {
                let migrations = self.resource("Migrations");
                if target(&migrations["Properties"]["ServiceToken"]) != "SyncMigrateFunction" {
                    self.problems
                        .push(format!("the Migrations custom resource does not call sync-migrate: {migrations}"));
                }
                let answer = "arn:${AWS::Partition}:s3:::cloudformation-custom-resource-response-*/*";
                self.check_endpoint("s3:PutObject", answer, true);
            }
            Path::StatusToDomain => {
                let role = self.role_of("SyncStatusFunction");
                let domain = "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/${OpenSearchDomainName}";
                self.check_role_grants(&role, &["es:DescribeDomain"], domain);
                self.check_endpoint("es:DescribeDomain", domain, false);
                for alias in ["PersonsIndexAlias", "PostsIndexAlias"] {
                    for read in [format!("_alias/${{{alias}}}"), format!("${{{alias}}}-*/_count")] {
                        self.check_role_grants(&role, &["es:ESHttpGet"], &format!("{domain}/{read}"));
                    }
                }
            }
        }
    }

    /// The export bucket logs its access, and S3's log delivery may write exactly there: the
    /// log bucket's policy lets `logging.s3.amazonaws.com` put objects under the configured
    /// prefix, for this bucket and account only.
    fn check_access_logging(&mut self) {
        let logging = self.resource("EsrExportBucket")["Properties"]["LoggingConfiguration"].clone();
        if logging.is_null() {
            self.problems.push("the export bucket has no access logging".into());
            return;
        }
        let (log_bucket, prefix) = (target(&logging["DestinationBucketName"]), target(&logging["LogFilePrefix"]));
        let policies = self.of_type("AWS::S3::BucketPolicy");
        let allowed = policies.iter().any(|(_, p)| {
            target(&p["Properties"]["Bucket"]) == log_bucket
                && self
                    .service_statement(
                        &p["Properties"]["PolicyDocument"],
                        "logging.s3.amazonaws.com",
                        &["s3:PutObject"],
                    )
                    .is_some_and(|st| {
                        target(&st["Resource"]) == format!("${{{log_bucket}.Arn}}/{prefix}*")
                            && target(&st["Condition"]["ArnEquals"]["aws:SourceArn"]) == "EsrExportBucket"
                            && target(&st["Condition"]["StringEquals"]["aws:SourceAccount"]) == "AWS::AccountId"
                    })
        });
        if !allowed {
            self.problems.push(format!(
                "{log_bucket}'s policy does not let S3 log delivery (only, for the export bucket) write under {prefix}"
            ));
        }
    }

    fn check_rule_dead_letter_queue(&mut self, rule: &str, rule_target: &Value) {
        let dlq = target(&rule_target["DeadLetterConfig"]["Arn"]);
        if dlq != "DeliveryDeadLetterQueue" {
            self.problems.push(format!("rule {rule}'s target has no delivery dead-letter queue"));
            return;
        }
        let policies = self.of_type("AWS::SQS::QueuePolicy");
        let allowed = policies.iter().any(|(_, p)| {
            list(&p["Properties"]["Queues"]).iter().any(|q| target(q) == dlq)
                && self
                    .service_statement(&p["Properties"]["PolicyDocument"], "events.amazonaws.com", &["sqs:SendMessage"])
                    .is_some_and(|s| {
                        target(&s["Condition"]["ArnLike"]["aws:SourceArn"])
                            == "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${JobEventBus}/*"
                    })
        });
        if !allowed {
            self.problems.push(format!("{dlq}'s queue policy does not let rule {rule} (only rules of the bus) send"));
        }
    }

    fn topic_policy(&mut self) -> Value {
        let policies = self.of_type("AWS::SNS::TopicPolicy");
        match policies.iter().find(|(_, p)| list(&p["Properties"]["Topics"]).iter().any(|t| target(t) == "AlertsTopic"))
        {
            Some((_, p)) => p["Properties"]["PolicyDocument"].clone(),
            None => {
                self.problems.push("the alerts topic has no topic policy".into());
                Value::Null
            }
        }
    }

    /// The key policy of the key the alerts topic is encrypted with: a key of the stack's own
    /// (an AWS-managed key's policy cannot be edited to let alarms and rules use it).
    fn alerts_key_policy(&mut self) -> Value {
        let key = target(&self.resource("AlertsTopic")["Properties"]["KmsMasterKeyId"]);
        match self.resources.get(&key) {
            Some(k) if k["Type"] == "AWS::KMS::Key" => k["Properties"]["KeyPolicy"].clone(),
            _ => {
                self.problems.push(format!("the alerts topic is encrypted with {key}, not a key of the stack's own"));
                Value::Null
            }
        }
    }

    /// The alerts key lets `service` make and open data keys exactly as Amazon SNS documents
    /// for AWS event sources publishing to an encrypted topic (sns-key-management.html,
    /// "Enable compatibility between event sources from AWS services and encrypted topics"): its
    /// principal, `kms:GenerateDataKey*` and `kms:Decrypt` on `*`, and no condition the service's
    /// call may not carry. Which alarms or rules may publish is the topic policy's to say.
    fn check_documented_key_statement(&mut self, service: &str, who: &str) {
        let key = self.alerts_key_policy();
        let statements: Vec<Value> = list(&key["Statement"])
            .into_iter()
            .filter(|s| strings(&s["Principal"]["Service"]).iter().any(|p| p == service))
            .collect();
        let documented = statements.len() == 1 && {
            let s = &statements[0];
            let actions: BTreeSet<String> = strings(&s["Action"]).into_iter().collect();
            s["Effect"] == "Allow"
                && actions == BTreeSet::from(["kms:GenerateDataKey*".to_string(), "kms:Decrypt".to_string()])
                && s["Resource"] == "*"
                && s.get("Condition").is_none()
        };
        if !documented {
            self.problems
                .push(format!("the alerts key policy does not let {who} encrypt as AWS documents: {statements:?}"));
        }
    }

    /// Nothing else is granted: every role grants exactly what the paths expect of it, no
    /// wildcard action or `*` resource on a data service, and no managed policy beyond the
    /// execution basics and the template's own (whose grants are the role's, checked here).
    fn check_nothing_else(&mut self) {
        let basics = [
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
            "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
            "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess",
        ];
        for (role, definition) in self.of_type("AWS::IAM::Role") {
            for managed in list(&definition["Properties"]["ManagedPolicyArns"]) {
                let arn = target(&managed);
                let own = self.resources.get(&arn).is_some_and(|r| r["Type"] == "AWS::IAM::ManagedPolicy");
                if !basics.contains(&arn.as_str()) && !own {
                    self.problems.push(format!("role {role} has the managed policy {arn}"));
                }
            }
            let expected: BTreeSet<(String, String)> =
                self.expected.iter().filter(|(r, _, _)| *r == role).map(|(_, a, t)| (a.clone(), t.clone())).collect();
            for (action, resource) in self.grants(&role) {
                let service = action.split(':').next().unwrap_or_default();
                let data = ["sqs", "s3", "kms", "events", "es", "sns", "lambda", "secretsmanager"].contains(&service);
                let unscoped = resource == "*" && !WITHOUT_RESOURCES.contains(&action.as_str());
                if data && (unscoped || action.ends_with('*')) {
                    self.problems.push(format!("role {role} grants {action} on {resource}"));
                }
                if !expected.contains(&(action.clone(), resource.clone())) {
                    self.problems.push(format!("role {role} grants {action} on {resource}, which no path needs"));
                }
            }
        }
    }

    /// No VPC endpoint lets anything through that no path makes.
    fn check_endpoints_let_nothing_else(&mut self) {
        for (id, endpoint) in self.of_type("AWS::EC2::VPCEndpoint") {
            for statement in list(&endpoint["Properties"]["PolicyDocument"]["Statement"]) {
                for action in strings(&statement["Action"]) {
                    for resource in list(&statement["Resource"]).iter().map(target) {
                        let made = self
                            .out_of_the_vpc
                            .iter()
                            .any(|(a, r)| *a == action && (resource == "*" || *r == resource));
                        if !made || action.ends_with('*') {
                            self.problems.push(format!(
                                "endpoint {id} lets {action} on {resource} through, which no path makes"
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Every problem found in the deployed template; empty when the matrix holds.
pub fn problems(template: &Value) -> Vec<String> {
    let resources = template["Resources"].as_object().expect("a template has Resources");
    let mut deployed = Deployed { resources, problems: Vec::new(), expected: Vec::new(), out_of_the_vpc: Vec::new() };
    for path in matrix() {
        deployed.check(&path);
    }
    deployed.check_nothing_else();
    deployed.check_endpoints_let_nothing_else();
    deployed.problems
}
