//! Who starts a succeeded run's follow-ups (`graph::follow_ups`): one interface, two ways.
//!
//! The runner decides when they are due, in one place (`Runner::follow_ups_started`): the run
//! succeeded, asked for them, and its success was announced. It then asks its `FollowUps` to
//! start them, and the answer is what the run reports it started (`RunSummary::triggered`).
//! - `ByEventBridge` (the functions, in AWS): the `Job Succeeded` event says `followUps: true`
//!   and the bus's rules (template.yaml) start each follow-up with it.
//! - `InProcess` (the CLI): the follow-ups wait in this process until its loop runs them, and
//!   the events say `followUps: false` so no rule starts them a second time.

use std::sync::Mutex;

use sync_core::{graph, JobName};

use super::{After, RunRequest};
use crate::events::EventPublisher;
use crate::ledger::RunRecord;

pub trait FollowUps: Send + Sync {
    /// Whether the run's `Job Succeeded` event is what starts its follow-ups.
    fn started_by_the_event(&self) -> bool;

    /// Starts `jobs`, the follow-ups of `run`, whose success has been announced; answers those
    /// started.
    fn start(&self, run: &RunRecord, jobs: &[JobName]) -> Vec<JobName>;
}

/// The bus's rules start the follow-ups from the published event; without a bus to publish it
/// on (`EVENT_BUS_NAME` unset, a function run locally), nothing starts them.
pub struct ByEventBridge {
    bus: bool,
}

impl ByEventBridge {
    pub fn on(events: &EventPublisher) -> Self {
        ByEventBridge { bus: events.is_enabled() }
    }
}

impl FollowUps for ByEventBridge {
    fn started_by_the_event(&self) -> bool {
        true
    }

    fn start(&self, _run: &RunRecord, jobs: &[JobName]) -> Vec<JobName> {
        if self.bus {
            jobs.to_vec()
        } else {
            Vec::new()
        }
    }
}

/// The follow-ups wait here, in the graph's dependency order, until the caller takes them
/// (`next`) and runs them: what the bus's rules do in AWS, done by one process. A job started
/// again before it ran (the index, by each of its predecessors) runs once, as the follow-up of
/// the latest: the runner's fan-in rule answers the same for it, and here no deferred run is
/// recorded for the earlier ones. One chain at a time: the queue is the process's.
#[derive(Default)]
pub struct InProcess {
    due: Mutex<Vec<RunRequest>>,
}

impl InProcess {
    /// Adds a run to wait its turn (the chain's first jobs; the follow-ups come by `start`).
    pub fn add(&self, request: RunRequest) {
        let mut due = self.due.lock().expect("the queue is never left poisoned");
        due.retain(|waiting| waiting.job != request.job);
        due.push(request);
    }

    /// The next run due: the one earliest in the graph, so a job runs after every predecessor
    /// that was going to run.
    pub fn next(&self) -> Option<RunRequest> {
        let mut due = self.due.lock().expect("the queue is never left poisoned");
        let position = |job: JobName| graph::GRAPH.iter().position(|n| n.job == job);
        let first = (0..due.len()).min_by_key(|&i| position(due[i].job))?;
        Some(due.remove(first))
    }
}

impl FollowUps for InProcess {
    fn started_by_the_event(&self) -> bool {
        false
    }

    fn start(&self, run: &RunRecord, jobs: &[JobName]) -> Vec<JobName> {
        let after = After { job: run.job, run_id: run.run_id };
        for &job in jobs {
            // Nothing delivers it but this process, once: it has no delivery to repeat (in AWS
            // the rule's event does, and `After::delivery_key` names it).
            self.add(RunRequest::follow_up(job, after, run.as_of, run.correlation_id.clone()));
        }
        jobs.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};
    use sync_core::JobName::*;
    use sync_core::{RunStatus, Trigger};
    use uuid::Uuid;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 8, 4).unwrap()
    }

    fn request(job: JobName) -> RunRequest {
        RunRequest { as_of: as_of(), ..RunRequest::manual(job) }
    }

    fn succeeded(job: JobName) -> RunRecord {
        RunRecord {
            run_id: Uuid::new_v4(),
            job,
            trigger: Trigger::Manual,
            as_of: as_of(),
            follow_ups: true,
            delivery_key: None,
            correlation_id: Some("cli-1".into()),
            status: RunStatus::Succeeded,
            started_at: Utc::now(),
            finished_at: Some(Utc::now()),
            rows: Some(1),
            attempts: 1,
            error: None,
            detail: None,
            published_at: None,
            duration_ms: Some(1),
        }
    }

    #[test]
    fn runs_wait_in_dependency_order_and_a_job_started_twice_runs_once_as_the_latest() {
        let position = |job: JobName| graph::GRAPH.iter().position(|n| n.job == job);
        assert!(position(PersonOwnerRebuild) < position(PersonElasticsearchSync));
        let queue = InProcess::default();
        queue.add(request(PersonElasticsearchSync));
        queue.add(request(PersonOwnerRebuild));
        queue.add(RunRequest { correlation_id: Some("the latest".into()), ..request(PersonElasticsearchSync) });
        assert_eq!(queue.next().map(|r| r.job), Some(PersonOwnerRebuild));
        let index = queue.next().unwrap();
        assert_eq!((index.job, index.correlation_id.as_deref()), (PersonElasticsearchSync, Some("the latest")));
        assert_eq!(queue.next(), None);
    }

    #[test]
    fn in_process_the_follow_ups_started_wait_as_follow_ups_of_the_run_with_no_delivery_key() {
        let queue = InProcess::default();
        let run = succeeded(PersonPlacementEmployingBodyTrust);
        let jobs = graph::follow_ups(run.job);
        assert_eq!(queue.start(&run, jobs), jobs.to_vec());
        let mut waiting = Vec::new();
        while let Some(request) = queue.next() {
            assert_eq!(request.trigger, Trigger::FollowUp);
            assert_eq!(request.after, Some(After { job: run.job, run_id: run.run_id }));
            assert_eq!((request.as_of, request.correlation_id.as_deref()), (as_of(), Some("cli-1")));
            assert_eq!(request.delivery_key, None);
            waiting.push(request.job);
        }
        assert_eq!(waiting, jobs.to_vec());
        assert!(!queue.started_by_the_event());
    }

    #[test]
    fn by_eventbridge_the_event_starts_them_and_without_a_bus_nothing_does() {
        let run = succeeded(PersonOwnerRebuild);
        let jobs = graph::follow_ups(run.job);
        let without_a_bus = ByEventBridge::on(&EventPublisher::disabled());
        assert!(without_a_bus.started_by_the_event());
        assert_eq!(without_a_bus.start(&run, jobs), vec![]);
        assert_eq!(ByEventBridge { bus: true }.start(&run, jobs), jobs.to_vec());
    }
}
