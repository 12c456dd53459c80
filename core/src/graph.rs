//! The job graph: which jobs are scheduled and when, and which follow which. The one source of
//! truth; template.yaml must agree (a test parses the template and checks it against this).
//!
//! The person index reads person_owner, person_trust and the persons' status, so it follows both
//! person chains and the record status; the posts index reads post_trust and the posts' funding
//! status. As a follow-up of several jobs, an index runs only once all its predecessors have
//! succeeded for the same as-of date (the runner's fan-in rule).

use chrono::{DateTime, NaiveDate, Utc};

use crate::job::JobName;
use JobName::*;

/// A scheduled head: its time of day (UTC) as an EventBridge Scheduler cron expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Schedule {
    pub cron: &'static str,
    /// HH:MM UTC, for people.
    pub at: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub job: JobName,
    /// `None`: started only as a follow-up (or by hand).
    pub schedule: Option<Schedule>,
    /// Run after this job succeeds, in this order.
    pub follow_ups: &'static [JobName],
}

/// jobs.md "The job graph", in dependency order.
pub const GRAPH: &[Node] = &[
    Node {
        job: PersonOwnerRebuild,
        schedule: Some(Schedule { cron: "cron(5 0 * * ? *)", at: "00:05" }),
        follow_ups: &[PersonElasticsearchSync],
    },
    Node {
        job: PersonPlacementEmployingBodyTrust,
        schedule: Some(Schedule { cron: "cron(9 0 * * ? *)", at: "00:09" }),
        follow_ups: &[PersonPlacementTrainingBodyTrust, PersonElasticsearchSync],
    },
    Node { job: PersonPlacementTrainingBodyTrust, schedule: None, follow_ups: &[PersonElasticsearchSync] },
    Node {
        job: PostEmployingBodyTrust,
        schedule: Some(Schedule { cron: "cron(9 1 * * ? *)", at: "01:09" }),
        follow_ups: &[PostTrainingBodyTrust],
    },
    Node { job: PostTrainingBodyTrust, schedule: None, follow_ups: &[PostElasticsearchSync] },
    // The index shows each person's status: it waits for this too (fan-in).
    Node {
        job: PersonRecordStatus,
        schedule: Some(Schedule { cron: "cron(0 1 * * ? *)", at: "01:00" }),
        follow_ups: &[PersonElasticsearchSync],
    },
    Node {
        job: PostFundingStatus,
        schedule: Some(Schedule { cron: "cron(45 1 * * ? *)", at: "01:45" }),
        follow_ups: &[PostElasticsearchSync],
    },
    // The revalidation feeds (crate::reval): read-only, so nothing follows them.
    Node {
        job: RevalCurrentPmSync,
        schedule: Some(Schedule { cron: "cron(39 1 * * ? *)", at: "01:39" }),
        follow_ups: &[],
    },
    Node {
        job: RevalCurrentPlacementSync,
        schedule: Some(Schedule { cron: "cron(49 1 * * ? *)", at: "01:49" }),
        follow_ups: &[],
    },
    Node { job: PersonElasticsearchSync, schedule: None, follow_ups: &[] },
    // The posts index shows each post's trusts and funding status: it waits for both (fan-in).
    Node { job: PostElasticsearchSync, schedule: None, follow_ups: &[] },
];

pub fn node(job: JobName) -> &'static Node {
    GRAPH.iter().find(|n| n.job == job).expect("every job is in the graph")
}

pub fn follow_ups(job: JobName) -> &'static [JobName] {
    node(job).follow_ups
}

/// The jobs `job` follows.
pub fn predecessors(job: JobName) -> Vec<JobName> {
    GRAPH.iter().filter(|n| n.follow_ups.contains(&job)).map(|n| n.job).collect()
}

/// The scheduled heads, in schedule order.
pub fn heads() -> Vec<&'static Node> {
    GRAPH.iter().filter(|n| n.schedule.is_some()).collect()
}

/// Every job `job` leads to (itself first), each once, in dependency order: what `tis-sync run`
/// runs with follow-ups.
pub fn downstream(job: JobName) -> Vec<JobName> {
    let mut reached = vec![job];
    let mut i = 0;
    while i < reached.len() {
        for next in follow_ups(reached[i]) {
            if !reached.contains(next) {
                reached.push(*next);
            }
        }
        i += 1;
    }
    // GRAPH is in dependency order: keep that order.
    GRAPH.iter().map(|n| n.job).filter(|j| reached.contains(j)).collect()
}

/// Every job in dependency order: what `tis-sync nightly` runs.
pub fn nightly_order() -> Vec<JobName> {
    GRAPH.iter().map(|n| n.job).collect()
}

/// Where a predecessor of a fan-in job stands for the as-of date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predecessor {
    /// A run of it is running now.
    Running,
    /// It has no successful run for the date.
    NotSucceeded,
    /// Its latest successful run for the date finished then.
    SucceededAt(DateTime<Utc>),
}

/// The fan-in rule's answer for a job that follows several others (the index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanIn {
    Ready,
    /// Some predecessor is running or has not succeeded for the as-of date (why, each).
    Waiting(Vec<String>),
    /// The job already succeeded for the date after its predecessors' latest successes.
    UpToDate,
}

/// May a job with these predecessors (each with its state for `as_of`) run now, given when its
/// own latest success for the date started? A job with fewer than two predecessors is not a
/// fan-in and is always ready.
pub fn fan_in(as_of: NaiveDate, predecessors: &[(JobName, Predecessor)], own_success: Option<DateTime<Utc>>) -> FanIn {
    if predecessors.len() < 2 {
        return FanIn::Ready;
    }
    let mut waiting = Vec::new();
    let mut latest = None;
    for &(job, state) in predecessors {
        match state {
            Predecessor::Running => waiting.push(format!("{job} (running now)")),
            Predecessor::NotSucceeded => waiting.push(format!("{job} (no successful run for {as_of})")),
            Predecessor::SucceededAt(finished) => latest = latest.max(Some(finished)),
        }
    }
    if !waiting.is_empty() {
        return FanIn::Waiting(waiting);
    }
    match own_success {
        Some(started) if Some(started) >= latest => FanIn::UpToDate,
        _ => FanIn::Ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_is_in_the_graph_once_and_in_dependency_order() {
        assert_eq!(GRAPH.len(), JobName::ALL.len());
        for job in JobName::ALL {
            assert_eq!(GRAPH.iter().filter(|n| n.job == job).count(), 1, "{job}");
        }
        for (position, n) in GRAPH.iter().enumerate() {
            for next in n.follow_ups {
                let after = GRAPH.iter().position(|m| m.job == *next).unwrap();
                assert!(after > position, "{next} must come after {}", n.job);
            }
        }
    }

    #[test]
    fn heads_are_the_scheduled_jobs_of_the_runbook_and_of_todays_nightly() {
        let heads: Vec<(JobName, &str)> = heads().iter().map(|n| (n.job, n.schedule.unwrap().at)).collect();
        assert_eq!(
            heads,
            vec![
                (PersonOwnerRebuild, "00:05"),
                (PersonPlacementEmployingBodyTrust, "00:09"),
                (PostEmployingBodyTrust, "01:09"),
                (PersonRecordStatus, "01:00"),
                (PostFundingStatus, "01:45"),
                (RevalCurrentPmSync, "01:39"),
                (RevalCurrentPlacementSync, "01:49"),
            ]
        );
    }

    #[test]
    fn the_index_follows_both_person_chains_and_the_record_status() {
        assert_eq!(
            predecessors(PersonElasticsearchSync),
            vec![
                PersonOwnerRebuild,
                PersonPlacementEmployingBodyTrust,
                PersonPlacementTrainingBodyTrust,
                PersonRecordStatus
            ]
        );
    }

    #[test]
    fn the_posts_index_follows_the_post_trusts_and_the_funding_status() {
        assert_eq!(predecessors(PostElasticsearchSync), vec![PostTrainingBodyTrust, PostFundingStatus]);
    }

    #[test]
    fn downstream_runs_each_follow_up_once_after_everything_it_follows() {
        assert_eq!(
            downstream(PersonPlacementEmployingBodyTrust),
            vec![PersonPlacementEmployingBodyTrust, PersonPlacementTrainingBodyTrust, PersonElasticsearchSync]
        );
        assert_eq!(
            downstream(PostEmployingBodyTrust),
            vec![PostEmployingBodyTrust, PostTrainingBodyTrust, PostElasticsearchSync]
        );
        assert_eq!(downstream(PostTrainingBodyTrust), vec![PostTrainingBodyTrust, PostElasticsearchSync]);
        assert_eq!(downstream(PostFundingStatus), vec![PostFundingStatus, PostElasticsearchSync]);
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_fan_in_job_runs_once_all_its_predecessors_succeeded_and_only_if_it_has_not_since() {
        let as_of = NaiveDate::from_ymd_opt(2021, 8, 4).unwrap();
        let done = |t: &str| Predecessor::SucceededAt(at(t));
        let both = [
            (PersonOwnerRebuild, done("2021-08-04T00:10:00Z")),
            (PersonPlacementTrainingBodyTrust, done("2021-08-04T00:20:00Z")),
        ];
        assert_eq!(fan_in(as_of, &both, None), FanIn::Ready);
        assert_eq!(fan_in(as_of, &both, Some(at("2021-08-04T00:25:00Z"))), FanIn::UpToDate);
        assert_eq!(
            fan_in(as_of, &both, Some(at("2021-08-04T00:15:00Z"))),
            FanIn::Ready,
            "a predecessor finished since"
        );
        let one_running = [(PersonOwnerRebuild, Predecessor::Running), both[1]];
        assert_eq!(
            fan_in(as_of, &one_running, None),
            FanIn::Waiting(vec!["person-owner-rebuild (running now)".into()])
        );
        let one_missing = [both[0], (PersonPlacementTrainingBodyTrust, Predecessor::NotSucceeded)];
        assert_eq!(
            fan_in(as_of, &one_missing, Some(at("2021-08-05T00:00:00Z"))),
            FanIn::Waiting(vec!["person-placement-training-body-trust (no successful run for 2021-08-04)".into()])
        );
        assert_eq!(
            fan_in(as_of, &[(PersonOwnerRebuild, Predecessor::NotSucceeded)], None),
            FanIn::Ready,
            "not a fan-in"
        );
    }
}
