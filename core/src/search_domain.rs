//! The OpenSearch domain the indexes live on, as its control plane describes it
//! (`DescribeDomain`), and what an index job does about it: where to send requests, and whether a
//! rebuild may start now. While a domain processes a configuration change (a blue/green
//! deployment: bulk requests slow down, 429s multiply, the 900 s timeout comes close) a rebuild
//! waits, at most a third of the time the invocation has left and never over five minutes, and
//! then defers: the run is recorded `deferred` with the reason and the watchdog starts it again.

use std::time::Duration;

use serde::Serialize;

/// The part of a domain's status the jobs and `sync-status` use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainState {
    pub name: String,
    /// A configuration change is in progress.
    pub processing: bool,
    /// An engine upgrade is in progress.
    pub upgrade_processing: bool,
    /// The control plane's word for what it is doing (`Active`, `Modifying`, ...), when given.
    pub processing_status: Option<String>,
    pub engine_version: Option<String>,
    /// The public endpoint (a host name, no scheme), for a domain outside a VPC.
    pub endpoint: Option<String>,
    /// The VPC endpoint, for a domain inside a VPC.
    pub vpc_endpoint: Option<String>,
    /// The domain is being deleted.
    pub deleted: bool,
}

impl DomainState {
    /// The https URL requests go to: the VPC endpoint when the domain has one (the functions
    /// run in the VPC), else the public one. An error names the domain.
    pub fn url(&self) -> crate::Result<String> {
        if self.deleted {
            return Err(crate::InvalidInput(format!("the OpenSearch domain '{}' is being deleted", self.name)));
        }
        match self.vpc_endpoint.as_deref().or(self.endpoint.as_deref()).filter(|e| !e.is_empty()) {
            Some(host) => Ok(format!("https://{host}")),
            None => Err(crate::InvalidInput(format!(
                "the OpenSearch domain '{}' has no endpoint yet (still being created?)",
                self.name
            ))),
        }
    }

    /// What the domain is busy with, when a rebuild should not start now.
    pub fn busy(&self) -> Option<String> {
        let doing = match (self.processing, self.upgrade_processing) {
            (false, false) => return None,
            (_, true) => "upgrading its engine",
            (true, false) => "processing a configuration change",
        };
        let status = self.processing_status.as_deref().map(|s| format!(" (status {s})")).unwrap_or_default();
        Some(format!("the OpenSearch domain '{}' is {doing}{status}", self.name))
    }
}

/// How often a waiting rebuild asks again.
pub const POLL: Duration = Duration::from_secs(15);
/// The longest a rebuild waits for a busy domain.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// What a rebuild does, given the domain's state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeforeRebuild {
    Run,
    /// Ask again after this long.
    Wait(Duration),
    /// Record the run deferred, with this reason.
    Defer(String),
}

/// `waited`: how long this run has waited so far; `time_left`: until the invocation must stop
/// (`None` without a deadline, as from the command line).
pub fn before_rebuild(state: &DomainState, waited: Duration, time_left: Option<Duration>) -> BeforeRebuild {
    let Some(busy) = state.busy() else {
        return BeforeRebuild::Run;
    };
    let budget = time_left.map_or(MAX_WAIT, |left| (waited + left / 3).min(MAX_WAIT));
    if waited + POLL <= budget {
        BeforeRebuild::Wait(POLL)
    } else {
        BeforeRebuild::Defer(format!("{busy}; waited {} s for it", waited.as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> DomainState {
        DomainState {
            name: "tis-search".into(),
            processing: false,
            upgrade_processing: false,
            processing_status: Some("Active".into()),
            engine_version: Some("OpenSearch_2.15".into()),
            endpoint: Some("search-tis-abc.eu-west-2.es.amazonaws.com".into()),
            vpc_endpoint: None,
            deleted: false,
        }
    }

    fn seconds(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_domain_that_is_not_processing_is_rebuilt_at_once() {
        assert_eq!(before_rebuild(&domain(), seconds(0), Some(seconds(880))), BeforeRebuild::Run);
        assert_eq!(before_rebuild(&domain(), seconds(0), None), BeforeRebuild::Run);
    }

    #[test]
    fn a_processing_domain_is_waited_for_then_the_run_defers_naming_the_reason() {
        let busy = DomainState { processing: true, processing_status: Some("Modifying".into()), ..domain() };
        // 880 s left: the wait may take a third of it, capped at five minutes.
        assert_eq!(before_rebuild(&busy, seconds(0), Some(seconds(880))), BeforeRebuild::Wait(POLL));
        assert_eq!(before_rebuild(&busy, seconds(285), Some(seconds(595))), BeforeRebuild::Wait(POLL));
        assert_eq!(
            before_rebuild(&busy, seconds(300), Some(seconds(580))),
            BeforeRebuild::Defer(
                "the OpenSearch domain 'tis-search' is processing a configuration change (status Modifying); waited 300 s for it"
                    .into()
            )
        );
        // With little time left the wait is shorter: a third of 60 s is under one poll.
        assert!(matches!(before_rebuild(&busy, seconds(0), Some(seconds(30))), BeforeRebuild::Defer(_)));
        // Without a deadline, five minutes.
        assert_eq!(before_rebuild(&busy, seconds(285), None), BeforeRebuild::Wait(POLL));
        assert!(matches!(before_rebuild(&busy, seconds(290), None), BeforeRebuild::Defer(_)));
    }

    #[test]
    fn an_engine_upgrade_counts_as_busy() {
        let upgrading = DomainState { upgrade_processing: true, processing_status: None, ..domain() };
        assert_eq!(upgrading.busy().unwrap(), "the OpenSearch domain 'tis-search' is upgrading its engine");
        assert_eq!(domain().busy(), None);
    }

    #[test]
    fn requests_go_to_the_vpc_endpoint_when_there_is_one_and_an_endpointless_domain_is_an_error() {
        assert_eq!(domain().url().unwrap(), "https://search-tis-abc.eu-west-2.es.amazonaws.com");
        let vpc = DomainState {
            endpoint: None,
            vpc_endpoint: Some("vpc-tis-abc.eu-west-2.es.amazonaws.com".into()),
            ..domain()
        };
        assert_eq!(vpc.url().unwrap(), "https://vpc-tis-abc.eu-west-2.es.amazonaws.com");
        let creating = DomainState { endpoint: None, ..domain() };
        assert_eq!(
            creating.url().unwrap_err().0,
            "the OpenSearch domain 'tis-search' has no endpoint yet (still being created?)"
        );
        let deleting = DomainState { deleted: true, ..domain() };
        assert!(deleting.url().unwrap_err().0.contains("'tis-search' is being deleted"));
    }
}
