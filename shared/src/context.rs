//! Building the long-lived dependencies (database handle, event publisher, runner) from
//! settings, once per process: shared by the functions and the CLI.

use crate::config::{self, Settings};
use crate::error::Result;
use crate::events::EventPublisher;
use crate::runner::Runner;
use crate::search::{IndexTarget, OpenSearchIndex, PersonSearch};

/// AWS configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

pub async fn runner(settings: &Settings) -> Result<Runner> {
    let aws = if settings.needs_aws() { Some(aws().await) } else { None };
    let database = config::database(&settings.database, aws.as_ref()).await?;
    let events = match (&settings.event_bus, &aws) {
        (Some(bus), Some(aws)) => EventPublisher::new(aws_sdk_eventbridge::Client::new(aws), bus.clone()),
        _ => EventPublisher::disabled(),
    };
    let mut runner = Runner::new(database, events);
    if let Some(url) = &settings.opensearch_url {
        runner = runner.with_search(PersonSearch {
            index: OpenSearchIndex::connect(url, aws.as_ref())?,
            target: IndexTarget::new(settings.persons_index_alias.clone()),
        });
    }
    Ok(runner)
}
