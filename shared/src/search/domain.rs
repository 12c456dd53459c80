//! The OpenSearch domain's control plane (`aws-sdk-opensearch`): `DescribeDomain`, read at init
//! to find where requests go, before each rebuild to see whether the domain is busy, and by
//! `sync-status` to report it.

use aws_sdk_opensearch::operation::describe_domain::DescribeDomainError;
use sync_core::search_domain::{before_rebuild, BeforeRebuild, DomainState};

use crate::error::{Cause, Error, Result};

#[derive(Clone)]
pub struct SearchDomain {
    client: aws_sdk_opensearch::Client,
    name: String,
}

impl SearchDomain {
    /// The domain `name` (`OPENSEARCH_DOMAIN_NAME`) in the account and region of `aws`.
    pub fn new(aws: &aws_config::SdkConfig, name: impl Into<String>) -> Self {
        SearchDomain { client: aws_sdk_opensearch::Client::new(aws), name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn describe(&self) -> Result<DomainState> {
        let answer = self.client.describe_domain().domain_name(&self.name).send().await.map_err(|e| {
            match e.as_service_error() {
                Some(DescribeDomainError::ResourceNotFoundException(_)) => Error::Config(format!(
                    "the OpenSearch domain '{}' (OPENSEARCH_DOMAIN_NAME) does not exist in this account and region",
                    self.name
                )),
                _ => Error::Search {
                    operation: format!("describing the OpenSearch domain '{}'", self.name),
                    reason: Cause::aws(e),
                },
            }
        })?;
        let status = answer.domain_status().ok_or_else(|| Error::Search {
            operation: format!("describing the OpenSearch domain '{}'", self.name),
            reason: "the answer held no domain status".to_string().into(),
        })?;
        Ok(DomainState {
            name: status.domain_name().to_string(),
            processing: status.processing().unwrap_or(false),
            upgrade_processing: status.upgrade_processing().unwrap_or(false),
            processing_status: status.domain_processing_status().map(|s| s.as_str().to_string()),
            engine_version: status.engine_version().map(str::to_string),
            endpoint: status.endpoint().map(str::to_string),
            vpc_endpoint: status.endpoints().and_then(|e| e.get("vpc")).cloned(),
            deleted: status.deleted().unwrap_or(false),
        })
    }

    /// The https URL of the domain's endpoint (its VPC endpoint when in a VPC).
    pub async fn url(&self) -> Result<String> {
        self.describe().await?.url().map_err(|e| Error::Config(e.0))
    }

    /// Waits while the domain is busy, as `before_rebuild` decides; answers why the rebuild
    /// must be deferred, or `None` to run it now. `time_left`: until the invocation must stop.
    pub async fn ready_for_rebuild(
        &self,
        time_left: impl Fn() -> Option<std::time::Duration>,
    ) -> Result<Option<String>> {
        wait_until_ready(|| self.describe(), time_left).await
    }
}

/// The wait loop of `ready_for_rebuild`, over any source of states (unit-tested on a sequence).
async fn wait_until_ready<F, Fut>(
    describe: F,
    time_left: impl Fn() -> Option<std::time::Duration>,
) -> Result<Option<String>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<DomainState>>,
{
    let started = tokio::time::Instant::now();
    loop {
        let state = describe().await?;
        match before_rebuild(&state, started.elapsed(), time_left()) {
            BeforeRebuild::Run => return Ok(None),
            BeforeRebuild::Wait(pause) => {
                tracing::info!(
                    domain = %state.name,
                    reason = state.busy().unwrap_or_default(),
                    waited_s = started.elapsed().as_secs(),
                    "waiting for the search domain before rebuilding"
                );
                tokio::time::sleep(pause).await;
            }
            BeforeRebuild::Defer(reason) => return Ok(Some(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    fn state(processing: bool) -> DomainState {
        DomainState {
            name: "tis-search".into(),
            processing,
            upgrade_processing: false,
            processing_status: Some(if processing { "Modifying" } else { "Active" }.into()),
            engine_version: Some("OpenSearch_2.15".into()),
            endpoint: Some("search-tis.eu-west-2.es.amazonaws.com".into()),
            vpc_endpoint: None,
            deleted: false,
        }
    }

    /// Answers the states in order, then the last one for ever; counts the calls.
    fn sequence(
        states: Vec<bool>,
    ) -> (impl Fn() -> std::future::Ready<Result<DomainState>>, std::sync::Arc<Mutex<usize>>) {
        let calls = std::sync::Arc::new(Mutex::new(0usize));
        let counter = calls.clone();
        let describe = move || {
            let mut n = counter.lock().unwrap();
            let processing = states[(*n).min(states.len() - 1)];
            *n += 1;
            std::future::ready(Ok(state(processing)))
        };
        (describe, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn a_domain_that_finishes_processing_is_waited_for_then_rebuilt() {
        let (describe, calls) = sequence(vec![true, true, false]);
        let started = tokio::time::Instant::now();
        let answer = wait_until_ready(describe, || Some(Duration::from_secs(880))).await.unwrap();
        assert_eq!(answer, None, "ready");
        assert_eq!(*calls.lock().unwrap(), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(30), "two polls of 15 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_domain_still_processing_after_the_wait_defers_the_rebuild() {
        let (describe, calls) = sequence(vec![true]);
        let started = tokio::time::Instant::now();
        let stop = started + Duration::from_secs(880);
        let reason = wait_until_ready(describe, || Some(stop - tokio::time::Instant::now())).await.unwrap();
        let waited = started.elapsed();
        assert!(waited <= Duration::from_secs(300), "never more than five minutes: {waited:?}");
        assert!(waited >= Duration::from_secs(270), "about a third of the time left: {waited:?}");
        assert!(*calls.lock().unwrap() > 10);
        let reason = reason.expect("deferred");
        assert!(
            reason.starts_with("the OpenSearch domain 'tis-search' is processing a configuration change"),
            "{reason}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_domain_that_is_not_processing_is_asked_once() {
        let (describe, calls) = sequence(vec![false]);
        assert_eq!(wait_until_ready(describe, || None).await.unwrap(), None);
        assert_eq!(*calls.lock().unwrap(), 1);
    }
}
