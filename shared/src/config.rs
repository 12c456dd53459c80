//! Configuration, read once at init from the environment into typed settings. A missing or
//! malformed setting fails init with a message naming the variable.

use std::path::PathBuf;

use crate::error::{Error, Result};
use sync_core::function::FUNCTION_VARIABLE;
use sync_core::{reval, search_index, Function, JobName};

/// A setting from the environment; set but blank is unset.
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The function this process is: `TIS_SYNC_FUNCTION`, which template.yaml sets on each function
/// to its name. Unset or unknown, the binary refuses to start, naming the variable.
pub fn deployed_function(var: impl Fn(&str) -> Option<String>) -> Result<Function> {
    let name = var(FUNCTION_VARIABLE).ok_or_else(|| {
        Error::Config(format!("{FUNCTION_VARIABLE} is not set (template.yaml names each function's handler with it)"))
    })?;
    name.parse().map_err(|e: sync_core::InvalidInput| Error::Config(format!("{FUNCTION_VARIABLE}: {}", e.0)))
}

/// A setting a deployed function cannot work without, beyond the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    EventBus,
    SearchServer,
    RevalTarget,
    CommandQueue,
    ExportBucket,
    CommandDeadLetterQueue,
    JobFunctionPrefix,
}

impl Need {
    /// What `function` needs, as template.yaml deploys it.
    fn of(function: Function) -> Vec<Need> {
        match function {
            Function::Job(job) if reval::FEEDS.contains(&job) => vec![Need::EventBus, Need::RevalTarget],
            Function::Job(JobName::PersonElasticsearchSync | JobName::PostElasticsearchSync) => {
                vec![Need::EventBus, Need::SearchServer]
            }
            Function::Job(_) => vec![Need::EventBus],
            Function::EsrExportDispatch => vec![Need::CommandQueue],
            Function::EsrExport => vec![Need::EventBus, Need::ExportBucket],
            Function::SyncWatchdog => vec![Need::EventBus, Need::JobFunctionPrefix],
            Function::SyncPreflight => vec![Need::JobFunctionPrefix],
            Function::SyncStatus => vec![Need::CommandDeadLetterQueue, Need::SearchServer],
            Function::EsrIntake | Function::SyncMigrate => vec![],
        }
    }

    fn met(self, settings: &Settings) -> bool {
        match self {
            Need::EventBus => settings.event_bus.is_some(),
            Need::SearchServer => settings.opensearch_domain_name.is_some() || settings.opensearch_url.is_some(),
            Need::RevalTarget => settings.reval_target.is_some(),
            Need::CommandQueue => settings.esr_command_queue_url.is_some(),
            Need::ExportBucket => settings.esr_export_bucket.is_some(),
            Need::CommandDeadLetterQueue => settings.esr_command_dlq_url.is_some(),
            Need::JobFunctionPrefix => settings.job_function_prefix.is_some(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Need::EventBus => "EVENT_BUS_NAME (where its events go: Job Succeeded starts the follow-ups)",
            Need::SearchServer => "OPENSEARCH_DOMAIN_NAME or OPENSEARCH_URL (the search server)",
            Need::RevalTarget => "REVAL_BROKER_URL or REVAL_QUEUE_URL (where the revalidation feed goes)",
            Need::CommandQueue => "ESR_COMMAND_QUEUE_URL (where export commands are sent)",
            Need::ExportBucket => "ESR_EXPORT_BUCKET (where ESR files are written)",
            Need::CommandDeadLetterQueue => "ESR_COMMAND_DLQ_URL (the export commands' dead-letter queue)",
            Need::JobFunctionPrefix => {
                "JOB_FUNCTION_PREFIX (the functions' name prefix, <stack>-: to start jobs, or probe every function)"
            }
        }
    }
}

/// Whether `function` sends the revalidation feed (and so reaches its broker or queue).
pub fn needs_reval_target(function: Function) -> bool {
    Need::of(function).contains(&Need::RevalTarget)
}

/// Where one process reaches the database.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseSource {
    /// `DATABASE_URL`: the CLI, local work, tests, and operators with a tunnel.
    Url(String),
    /// In AWS, a Secrets Manager secret (name or ARN) in the RDS format (`host`, `port`,
    /// `username`, `password`, `dbname`); TLS is required.
    Secret(String),
}

/// Where the revalidation feeds send; one of the two is configured (the template's
/// RevalFeedTarget chooses).
#[derive(Debug, Clone, PartialEq)]
pub enum RevalTarget {
    /// `REVAL_BROKER_URL` (`amqps://host:port/vhost`): the RabbitMQ broker TCS reads the feed
    /// from. `REVAL_BROKER_SECRET` names the login (in AWS); `REVAL_BROKER_CA_FILE` adds a CA
    /// (a local broker); `REVAL_BROKER_EXCHANGE` and `REVAL_BROKER_ROUTING_KEY` default to TIS's.
    Broker { url: String, secret: Option<String>, ca_file: Option<String>, exchange: String, routing_key: String },
    /// `REVAL_QUEUE_URL`: an SQS queue, for a consumer that reads SQS.
    Queue { url: String },
}

/// The revalidation target the settings name, if any; both, or a broker setting without its
/// URL, is refused.
fn reval_target(var: &impl Fn(&str) -> Option<String>) -> Result<Option<RevalTarget>> {
    let broker_settings =
        ["REVAL_BROKER_SECRET", "REVAL_BROKER_CA_FILE", "REVAL_BROKER_EXCHANGE", "REVAL_BROKER_ROUTING_KEY"];
    match (var("REVAL_BROKER_URL"), var("REVAL_QUEUE_URL")) {
        (Some(_), Some(_)) => Err(Error::Config(
            "set REVAL_BROKER_URL (RabbitMQ) or REVAL_QUEUE_URL (SQS), not both: the feeds send to one place".into(),
        )),
        (Some(url), None) => Ok(Some(RevalTarget::Broker {
            url,
            secret: var("REVAL_BROKER_SECRET"),
            ca_file: var("REVAL_BROKER_CA_FILE"),
            exchange: var("REVAL_BROKER_EXCHANGE").unwrap_or_else(|| reval::EXCHANGE.into()),
            routing_key: var("REVAL_BROKER_ROUTING_KEY").unwrap_or_else(|| reval::ROUTING_KEY.into()),
        })),
        (None, queue) => match broker_settings.into_iter().find(|name| var(name).is_some()) {
            Some(name) => {
                Err(Error::Config(format!("{name} is set but REVAL_BROKER_URL is not (the broker it is for)")))
            }
            None => Ok(queue.map(|url| RevalTarget::Queue { url })),
        },
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `DATABASE_URL`; when set it wins.
    pub database_url: Option<String>,
    /// `DATABASE_SECRET_PREFIX`: each function reads the secret `<prefix><function>`, holding
    /// the login of its own database role.
    pub database_secret_prefix: Option<String>,
    /// `EVENT_BUS_NAME`; `None` means events are not published (said in the log).
    pub event_bus: Option<String>,
    /// `OPENSEARCH_DOMAIN_NAME` (AWS): the managed domain; its endpoint (or VPC endpoint) and
    /// state come from its control plane (`DescribeDomain`), its requests are SigV4-signed.
    pub opensearch_domain_name: Option<String>,
    /// `OPENSEARCH_URL` (local, CLI): a self-managed OpenSearch-API server, no control plane;
    /// plain http, or https signed like a domain's.
    pub opensearch_url: Option<String>,
    /// `PERSONS_INDEX_ALIAS`, default `persons`: the alias readers query.
    pub persons_index_alias: String,
    /// `POSTS_INDEX_ALIAS`, default `posts`: the alias TCS's post search queries.
    pub posts_index_alias: String,
    /// `ESR_COMMAND_QUEUE_URL`: where export commands are sent.
    pub esr_command_queue_url: Option<String>,
    /// `ESR_EXPORT_BUCKET` and `ESR_EXPORT_PREFIX` (default empty): where files are written.
    pub esr_export_bucket: Option<String>,
    pub esr_export_prefix: String,
    /// `ESR_COMMAND_DLQ_URL`: the export commands' dead-letter queue (status reports its depth).
    pub esr_command_dlq_url: Option<String>,
    /// `ESR_APP_FILES_SCHEDULE`: the app-files dispatch as deployed (the template's
    /// EsrAppFilesSchedule); production's default when unset.
    pub esr_app_files_schedule: Option<String>,
    /// Where the revalidation feeds send: TIS's RabbitMQ, or an SQS queue.
    pub reval_target: Option<RevalTarget>,
    /// `REVAL_ENABLED` (`true` when unset): whether the feeds are deployed (the template's
    /// RevalEnabled), so the watchdog expects them only then.
    pub reval_enabled: bool,
    /// `JOB_FUNCTION_PREFIX`: job functions are named `<prefix><job>` (the watchdog invokes them).
    pub job_function_prefix: Option<String>,
    /// `METRICS_NAMESPACE`: the stack's own CloudWatch namespace (template.yaml gives every
    /// function `TisSync/<stack>`), so two stages in one account never feed each other's
    /// alarms; `emf::NAMESPACE` when unset (the CLI, local runs).
    pub metrics_namespace: Option<String>,
    /// `PGSSLROOTCERT` (`database_ca`): more CAs the database's certificate may chain to.
    pub database_ca: Option<PathBuf>,
}

/// `PGSSLROOTCERT`, libpq's variable: a PEM file of CAs trusted beside the OS store and RDS's
/// (the local Postgres's CA, or another a database is signed by).
pub fn database_ca(var: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    var("PGSSLROOTCERT").map(PathBuf::from)
}

/// An index alias setting, `default` when unset; refused unless its indexes' names are its own.
fn alias(var: &impl Fn(&str) -> Option<String>, setting: &str, default: &str) -> Result<String> {
    let alias = var(setting).unwrap_or_else(|| default.into());
    search_index::check_alias(setting, &alias).map_err(|e| Error::Config(e.0))?;
    Ok(alias)
}

impl Settings {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(environment)
    }

    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let (database_url, database_secret_prefix) = (var("DATABASE_URL"), var("DATABASE_SECRET_PREFIX"));
        if database_url.is_none() && database_secret_prefix.is_none() {
            return Err(Error::Config(
                "set DATABASE_URL (local, CLI) or DATABASE_SECRET_PREFIX (AWS) to reach the database".into(),
            ));
        }
        let (opensearch_domain_name, opensearch_url) = (var("OPENSEARCH_DOMAIN_NAME"), var("OPENSEARCH_URL"));
        if opensearch_domain_name.is_some() && opensearch_url.is_some() {
            return Err(Error::Config(
                "set OPENSEARCH_DOMAIN_NAME (a managed domain, AWS) or OPENSEARCH_URL (a self-managed server), not both: \
                 they could name different servers"
                    .into(),
            ));
        }
        Ok(Settings {
            database_url,
            database_secret_prefix,
            event_bus: var("EVENT_BUS_NAME"),
            opensearch_domain_name,
            opensearch_url,
            persons_index_alias: alias(&var, "PERSONS_INDEX_ALIAS", "persons")?,
            posts_index_alias: alias(&var, "POSTS_INDEX_ALIAS", "posts")?,
            esr_command_queue_url: var("ESR_COMMAND_QUEUE_URL"),
            esr_export_bucket: var("ESR_EXPORT_BUCKET"),
            esr_export_prefix: var("ESR_EXPORT_PREFIX").unwrap_or_default(),
            esr_command_dlq_url: var("ESR_COMMAND_DLQ_URL"),
            esr_app_files_schedule: var("ESR_APP_FILES_SCHEDULE"),
            reval_target: reval_target(&var)?,
            reval_enabled: match var("REVAL_ENABLED").as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => {
                    return Err(Error::Config(format!("REVAL_ENABLED is '{other}'; it must be true or false")))
                }
            },
            job_function_prefix: var("JOB_FUNCTION_PREFIX"),
            metrics_namespace: var("METRICS_NAMESPACE"),
            database_ca: database_ca(&var),
        })
    }

    /// Refuses `function` a start without every setting it needs, naming each one missing: a
    /// deployed function fails at init, not at its first run.
    pub fn check_for(&self, function: Function) -> Result<()> {
        let missing: Vec<&str> =
            Need::of(function).into_iter().filter(|need| !need.met(self)).map(Need::describe).collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Config(format!("{function} cannot start without {}", missing.join("; "))))
    }

    /// Where `function` reaches the database; `None` is the CLI, which has no secret of its own.
    pub fn database_source(&self, function: Option<Function>) -> Result<DatabaseSource> {
        match (&self.database_url, &self.database_secret_prefix, function) {
            (Some(url), _, _) => Ok(DatabaseSource::Url(url.clone())),
            (None, Some(prefix), Some(function)) => Ok(DatabaseSource::Secret(function.secret_name(prefix))),
            _ => Err(Error::Config(
                "DATABASE_SECRET_PREFIX names each function's own secret; the CLI reaches the database by DATABASE_URL"
                    .into(),
            )),
        }
    }

    /// The jobs deployed: every job of the graph, less the revalidation feeds when the template
    /// leaves them out (what the watchdog expects to have run).
    pub fn deployed_jobs(&self) -> Vec<JobName> {
        JobName::ALL.into_iter().filter(|job| self.reval_enabled || !reval::FEEDS.contains(job)).collect()
    }

    /// Whether any AWS client is needed (to avoid loading AWS configuration when none is).
    pub fn needs_aws(&self) -> bool {
        self.event_bus.is_some()
            || self.esr_command_queue_url.is_some()
            || self.esr_export_bucket.is_some()
            || self.esr_command_dlq_url.is_some()
            || matches!(
                self.reval_target,
                Some(RevalTarget::Queue { .. } | RevalTarget::Broker { secret: Some(_), .. })
            )
            || self.job_function_prefix.is_some()
            || (self.database_url.is_none() && self.database_secret_prefix.is_some())
            || self.opensearch_domain_name.is_some()
            || self.opensearch_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use sync_core::function::AwsService;

    /// Core's list of the AWS services each function calls (what its VPC endpoints must cover)
    /// is what its settings reach: every function's database secret, then each need's service.
    #[test]
    fn each_functions_aws_services_are_its_secret_and_what_its_settings_name() {
        for function in Function::all() {
            let mut from_settings: Vec<AwsService> = Need::of(function)
                .into_iter()
                .map(|need| match need {
                    Need::EventBus => AwsService::EventBridge,
                    Need::SearchServer => AwsService::OpenSearch,
                    // The broker's login is a secret; a queue target is SQS.
                    Need::RevalTarget => AwsService::Sqs,
                    Need::CommandQueue | Need::CommandDeadLetterQueue => AwsService::Sqs,
                    Need::ExportBucket => AwsService::S3,
                    Need::JobFunctionPrefix => AwsService::Lambda,
                })
                .collect();
            from_settings.push(AwsService::SecretsManager);
            if function == Function::SyncMigrate {
                // CloudFormation's answer, PUT to a presigned S3 URL (functions::custom_resource).
                from_settings.push(AwsService::S3);
            }
            if function == Function::SyncPreflight {
                // The stack's schedules, named by the same prefix (shared::preflight).
                from_settings.push(AwsService::Scheduler);
            }
            from_settings.sort();
            let mut listed = function.aws_services().to_vec();
            listed.sort();
            assert_eq!(listed, from_settings, "{function}");
        }
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn the_binary_is_the_function_its_variable_names_and_refuses_any_other() {
        let lookup =
            |value: Option<&'static str>| move |name: &str| (name == FUNCTION_VARIABLE).then_some(value?.to_string());
        assert_eq!(deployed_function(lookup(Some("esr-intake"))).unwrap(), Function::EsrIntake);
        assert_eq!(
            deployed_function(lookup(Some("person-owner-rebuild"))).unwrap(),
            Function::Job(JobName::PersonOwnerRebuild)
        );
        let unknown = deployed_function(lookup(Some("esr-exporter"))).unwrap_err().to_string();
        assert!(unknown.contains("TIS_SYNC_FUNCTION") && unknown.contains("'esr-exporter'"), "{unknown}");
        assert!(unknown.contains("esr-export,"), "the known names are listed: {unknown}");
        let unset = deployed_function(lookup(None)).unwrap_err().to_string();
        assert!(unset.contains("TIS_SYNC_FUNCTION is not set"), "{unset}");
    }

    #[test]
    fn each_function_refuses_to_start_without_what_it_needs_naming_it() {
        let bare = settings(&[("DATABASE_URL", "postgres://h/db")]).unwrap();
        for function in [Function::EsrIntake, Function::SyncMigrate] {
            bare.check_for(function).unwrap();
        }
        let feed = bare.check_for(Function::Job(JobName::RevalCurrentPmSync)).unwrap_err().to_string();
        assert!(feed.contains("reval-current-pm-sync cannot start without EVENT_BUS_NAME"), "{feed}");
        assert!(feed.contains("REVAL_BROKER_URL or REVAL_QUEUE_URL"), "{feed}");
        let index = bare.check_for(Function::Job(JobName::PostElasticsearchSync)).unwrap_err().to_string();
        assert!(index.contains("OPENSEARCH_DOMAIN_NAME or OPENSEARCH_URL"), "{index}");
        let watchdog = bare.check_for(Function::SyncWatchdog).unwrap_err().to_string();
        assert!(watchdog.contains("JOB_FUNCTION_PREFIX"), "{watchdog}");
        assert!(bare.check_for(Function::EsrExport).unwrap_err().to_string().contains("ESR_EXPORT_BUCKET"));
        assert!(bare.check_for(Function::EsrExportDispatch).unwrap_err().to_string().contains("ESR_COMMAND_QUEUE_URL"));
        assert!(bare.check_for(Function::SyncStatus).unwrap_err().to_string().contains("ESR_COMMAND_DLQ_URL"));

        // As template.yaml deploys them, every function starts.
        let deployed = settings(&[
            ("DATABASE_SECRET_PREFIX", "tis-sync/database/"),
            ("EVENT_BUS_NAME", "tis-sync-jobs"),
            ("OPENSEARCH_DOMAIN_NAME", "tis-search"),
            ("REVAL_BROKER_URL", "amqps://mq.example:5671/%2f"),
            ("ESR_COMMAND_QUEUE_URL", "https://sqs.eu-west-2.amazonaws.com/1/c"),
            ("ESR_COMMAND_DLQ_URL", "https://sqs.eu-west-2.amazonaws.com/1/d"),
            ("ESR_EXPORT_BUCKET", "exports"),
            ("JOB_FUNCTION_PREFIX", "tis-sync-prod-"),
        ])
        .unwrap();
        for function in Function::all() {
            deployed.check_for(function).unwrap();
        }
    }

    #[test]
    fn missing_database_settings_name_both_variables() {
        let error = settings(&[]).unwrap_err().to_string();
        assert!(error.contains("DATABASE_URL") && error.contains("DATABASE_SECRET_PREFIX"), "{error}");
    }

    #[test]
    fn url_wins_over_secret_and_bus_is_optional() {
        let s = settings(&[("DATABASE_URL", "postgres://x@h/db"), ("DATABASE_SECRET_PREFIX", "tis-sync/")]).unwrap();
        assert_eq!(
            s.database_source(Some(Function::EsrIntake)).unwrap(),
            DatabaseSource::Url("postgres://x@h/db".into())
        );
        assert_eq!(s.event_bus, None);
        assert!(!s.needs_aws());
        let s = settings(&[("DATABASE_SECRET_PREFIX", "tis-sync/database/"), ("EVENT_BUS_NAME", "tis-sync")]).unwrap();
        assert_eq!(
            s.database_source(Some(Function::EsrIntake)).unwrap(),
            DatabaseSource::Secret("tis-sync/database/esr-intake".into())
        );
        assert!(s.needs_aws());
        assert_eq!(s.event_bus.as_deref(), Some("tis-sync"));
    }

    #[test]
    fn each_function_reads_its_own_secret_and_the_cli_none() {
        let s = settings(&[("DATABASE_SECRET_PREFIX", "p/")]).unwrap();
        let secrets: Vec<DatabaseSource> = Function::all().map(|f| s.database_source(Some(f)).unwrap()).collect();
        for (i, secret) in secrets.iter().enumerate() {
            assert!(!secrets[..i].contains(secret), "{secret:?} is shared");
        }
        let error = s.database_source(None).unwrap_err().to_string();
        assert!(error.contains("DATABASE_URL"), "{error}");
    }

    #[test]
    fn the_feeds_are_expected_unless_the_template_leaves_them_out() {
        let enabled = settings(&[("DATABASE_URL", "postgres://h/db")]).unwrap();
        assert_eq!(enabled.deployed_jobs(), JobName::ALL.to_vec());
        let disabled = settings(&[("DATABASE_URL", "postgres://h/db"), ("REVAL_ENABLED", "false")]).unwrap();
        let expected: Vec<JobName> = JobName::ALL.into_iter().filter(|j| !j.as_str().starts_with("reval-")).collect();
        assert_eq!(disabled.deployed_jobs(), expected);
        assert_eq!(expected.len(), JobName::ALL.len() - 2);
        let error = settings(&[("DATABASE_URL", "postgres://h/db"), ("REVAL_ENABLED", "no")]).unwrap_err().to_string();
        assert!(error.contains("REVAL_ENABLED is 'no'"), "{error}");
    }

    #[test]
    fn the_search_server_is_a_managed_domain_or_a_url_never_both() {
        let domain =
            settings(&[("DATABASE_URL", "postgres://h/db"), ("OPENSEARCH_DOMAIN_NAME", "tis-search")]).unwrap();
        assert_eq!(domain.opensearch_domain_name.as_deref(), Some("tis-search"));
        assert!(domain.needs_aws(), "its control plane is an AWS API");
        let local =
            settings(&[("DATABASE_URL", "postgres://h/db"), ("OPENSEARCH_URL", "http://127.0.0.1:9200")]).unwrap();
        assert!(!local.needs_aws());
        let error = settings(&[
            ("DATABASE_URL", "postgres://h/db"),
            ("OPENSEARCH_DOMAIN_NAME", "tis-search"),
            ("OPENSEARCH_URL", "http://127.0.0.1:9200"),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("OPENSEARCH_DOMAIN_NAME") && error.contains("not both"), "{error}");
    }

    #[test]
    fn an_alias_whose_indexes_another_alias_could_claim_is_refused_at_load() {
        let url = ("DATABASE_URL", "postgres://h/db");
        let stage = settings(&[url, ("PERSONS_INDEX_ALIAS", "persons-stage")]).unwrap();
        assert_eq!((stage.persons_index_alias.as_str(), stage.posts_index_alias.as_str()), ("persons-stage", "posts"));
        let error = settings(&[url, ("POSTS_INDEX_ALIAS", "posts-2024")]).unwrap_err().to_string();
        assert!(error.contains("POSTS_INDEX_ALIAS is 'posts-2024'"), "{error}");
    }

    #[test]
    fn the_feeds_send_to_one_place_and_a_broker_setting_needs_its_broker() {
        let url = ("DATABASE_URL", "postgres://x");
        let broker = ("REVAL_BROKER_URL", "amqps://b-1.mq.eu-west-2.amazonaws.com:5671/%2f");
        let queue = ("REVAL_QUEUE_URL", "https://sqs.eu-west-2.amazonaws.com/1/q");
        let error = settings(&[url, broker, queue]).unwrap_err().to_string();
        assert!(error.contains("not both"), "{error}");
        let error = settings(&[url, queue, ("REVAL_BROKER_SECRET", "tis-sync/reval-broker")]).unwrap_err().to_string();
        assert!(error.contains("REVAL_BROKER_SECRET is set but REVAL_BROKER_URL is not"), "{error}");
        assert_eq!(
            settings(&[url, broker]).unwrap().reval_target,
            Some(RevalTarget::Broker {
                url: broker.1.into(),
                secret: None,
                ca_file: None,
                exchange: "reval.exchange".into(),
                routing_key: "reval.trainee.update".into(),
            }),
            "TIS's exchange and routing key unless told otherwise"
        );
        assert_eq!(settings(&[url, queue]).unwrap().reval_target, Some(RevalTarget::Queue { url: queue.1.into() }));
        assert_eq!(settings(&[url]).unwrap().reval_target, None);
    }
}
