//! Building the long-lived dependencies (database handle, event publisher, runner, exporter,
//! dispatcher) from settings, once per process: shared by the functions and the CLI.

use crate::broker::{Broker, BrokerSecret};
use crate::config::{RevalTarget, Settings};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::esr::dispatch::Dispatcher;
use crate::esr::export::{Exporter, FileStore};
use crate::events::EventPublisher;
use crate::jobs::reval_feed::RevalFeed;
use crate::queue::Queue;
use crate::runner::Runner;
use crate::search::{IndexTarget, OpenSearchIndex, Search, SearchDomain};
use crate::watchdog::InvokeFunction;
use sync_core::esr::schedule::{Dispatch, Dispatches};
use sync_core::{Function, JobName};

/// What every entry point needs: settings, AWS configuration when any AWS client is used, the
/// database and the event publisher.
pub struct Context {
    pub settings: Settings,
    pub aws: Option<aws_config::SdkConfig>,
    pub database: Database,
    pub events: EventPublisher,
}

impl Context {
    /// `function` reaches the database with its own secret; `None` (the CLI) by `DATABASE_URL`.
    pub async fn from_env(function: Option<Function>) -> Result<Self> {
        Self::new(Settings::from_env()?, function).await
    }

    pub async fn new(settings: Settings, function: Option<Function>) -> Result<Self> {
        let aws = if settings.needs_aws() {
            Some(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await)
        } else {
            None
        };
        let database =
            Database::from_source(&settings.database_source(function)?, aws.as_ref(), settings.database_ca.as_deref())
                .await?;
        let events = match (&settings.event_bus, &aws) {
            (Some(bus), Some(aws)) => EventPublisher::new(aws_sdk_eventbridge::Client::new(aws), bus.clone()),
            _ => EventPublisher::disabled(),
        };
        Ok(Context { settings, aws, database, events })
    }

    /// The runner, with the search indexes and the revalidation feed's target when they are
    /// configured.
    pub async fn runner(&self) -> Result<Runner> {
        let mut runner = Runner::new(self.database.clone(), self.events.clone());
        if let Some(search) = self.search().await? {
            runner = runner.with_search(search);
        }
        if let Some(feed) = self.reval_feed()? {
            runner = runner.with_reval_feed(feed);
        }
        Ok(runner)
    }

    /// Where the revalidation feeds send, when configured: TIS's RabbitMQ or an SQS queue.
    pub fn reval_feed(&self) -> Result<Option<RevalFeed>> {
        let feed = match &self.settings.reval_target {
            None => return Ok(None),
            Some(RevalTarget::Queue { url }) => {
                RevalFeed::Queue(Queue::new(aws_sdk_sqs::Client::new(self.aws()?), url.clone()))
            }
            Some(RevalTarget::Broker { url, secret, ca_file, exchange, routing_key }) => {
                let login = match secret {
                    Some(id) => {
                        Some(BrokerSecret { client: aws_sdk_secretsmanager::Client::new(self.aws()?), id: id.clone() })
                    }
                    None => None,
                };
                let broker = Broker::new(url, login, ca_file.as_deref(), exchange.clone(), routing_key.clone())?;
                RevalFeed::Broker(Box::new(broker))
            }
        };
        Ok(Some(feed))
    }

    /// The search server, when one is configured. A managed domain (`OPENSEARCH_DOMAIN_NAME`) is
    /// described now, so its endpoint is the one its control plane names and a missing domain
    /// is an error naming it; a self-managed server is `OPENSEARCH_URL`.
    pub async fn search(&self) -> Result<Option<Search>> {
        let (index, domain) = match (&self.settings.opensearch_domain_name, &self.settings.opensearch_url) {
            (Some(name), _) => {
                let aws = self.aws()?;
                let domain = SearchDomain::new(aws, name.clone());
                let url = domain.url().await?;
                tracing::info!(domain = %name, endpoint = %url, "the search domain's endpoint, from its control plane");
                (OpenSearchIndex::connect(&url, Some(aws))?, Some(domain))
            }
            (None, Some(url)) => (OpenSearchIndex::connect(url, self.aws.as_ref())?, None),
            (None, None) => return Ok(None),
        };
        Ok(Some(Search {
            index,
            domain,
            persons: IndexTarget::new(self.settings.persons_index_alias.clone()),
            posts: IndexTarget::new(self.settings.posts_index_alias.clone()),
        }))
    }

    /// The jobs deployed here (`Settings::deployed_jobs`).
    pub fn deployed_jobs(&self) -> Vec<JobName> {
        self.settings.deployed_jobs()
    }

    pub fn exporter(&self) -> Result<Exporter> {
        let bucket =
            self.require(&self.settings.esr_export_bucket, "ESR_EXPORT_BUCKET", "the bucket ESR files are written to")?;
        let aws = self.aws()?;
        // Path-style addressing works with every S3 endpoint, AWS's and a local one alike.
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(aws).force_path_style(true).build());
        let store = FileStore::new(s3, bucket, self.settings.esr_export_prefix.clone());
        Ok(Exporter::new(self.database.clone(), store, self.events.clone()))
    }

    pub fn dispatcher(&self) -> Result<Dispatcher> {
        let queue =
            self.require(&self.settings.esr_command_queue_url, "ESR_COMMAND_QUEUE_URL", "the export command queue")?;
        let aws = self.aws()?;
        Ok(Dispatcher::new(self.database.clone(), aws_sdk_sqs::Client::new(aws), queue))
    }

    /// Invokes job functions for the watchdog's catch-ups.
    pub fn function_invoker(&self) -> Result<InvokeFunction> {
        let prefix =
            self.require(&self.settings.job_function_prefix, "JOB_FUNCTION_PREFIX", "the job functions' name prefix")?;
        let aws = self.aws()?;
        Ok(InvokeFunction::new(aws_sdk_lambda::Client::new(aws), prefix))
    }

    /// When each kind of ESR file is dispatched, as deployed (what the watchdog expects).
    pub fn dispatches(&self) -> Result<Dispatches> {
        let mut dispatches = Dispatches::default();
        if let Some(expression) = &self.settings.esr_app_files_schedule {
            dispatches.app = Dispatch::parse(expression)?;
        }
        Ok(dispatches)
    }

    /// The export commands' dead-letter queue depth, when its URL is configured.
    pub async fn dead_letter_depth(&self) -> Result<Option<i64>> {
        match (&self.settings.esr_command_dlq_url, &self.aws) {
            (Some(url), Some(aws)) => Ok(Some(crate::status::queue_depth(&aws_sdk_sqs::Client::new(aws), url).await?)),
            _ => Ok(None),
        }
    }

    /// The AWS configuration, loaded when a setting names an AWS resource (`needs_aws`).
    fn aws(&self) -> Result<&aws_config::SdkConfig> {
        self.aws
            .as_ref()
            .ok_or_else(|| Error::Config("no setting names an AWS resource, so AWS is not configured".into()))
    }

    fn require(&self, value: &Option<String>, variable: &str, what: &str) -> Result<String> {
        value.clone().ok_or_else(|| Error::Config(format!("{variable} is not set ({what})")))
    }
}
