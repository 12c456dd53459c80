//! What the watchdog must do about each job, given the ledger's facts for a date: a decision
//! over data, so every case is unit-tested here; the watchdog gathers the facts and acts.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::function::Function;
use crate::graph::{self, GRAPH};
use crate::job::JobName;
use crate::run::RunStatus;

/// A run, as much of it as the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    pub run_id: Uuid,
    pub as_of: NaiveDate,
    pub status: RunStatus,
    pub error: Option<String>,
}

/// What the ledger says of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFacts {
    pub job: JobName,
    /// Paused by an operator: since when and why, as people read it.
    pub paused: Option<String>,
    /// The run whose output is live now (the latest success).
    pub live: Option<RunFacts>,
    /// Who holds the job's lock now, if anyone.
    pub holder: Option<Holder>,
    /// Its latest run for the date checked.
    pub last_for_date: Option<RunFacts>,
    /// Its live success was never announced and has just been (the watchdog's sweep): its
    /// follow-ups start from that event, not from a catch-up.
    pub announced_now: bool,
}

/// The session holding a job's lock, as much as the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Who it is, as people read it (the run and its session, or a session that is no run).
    pub who: String,
    /// How long its run has held it; `None` when the session is not a run of the job.
    pub held_for: Option<std::time::Duration>,
}

/// The watchdog's verdict on one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its live output is for the date or newer (`reason` when newer).
    Ok { reason: Option<String> },
    /// Running now, within its function's timeout: left alone.
    Running,
    /// Its lock is held past its function's timeout, or by a session that is no run of it: no
    /// run can start while it is, so it is reported (with the holder) for an operator.
    Stuck { holder: String },
    /// Paused (why): left alone.
    Paused(String),
    /// Follows a paused job: left alone.
    Held { paused: JobName },
    /// Missed for the date (why). Started again unless it follows a job that is missed, running
    /// or just announced, whose catch-up, own success or event brings it along.
    Missed { reason: String, waits_for: Option<JobName> },
}

/// The verdict on every job in `facts`, in the graph's dependency order.
pub fn judge(as_of: NaiveDate, facts: &[JobFacts]) -> Vec<(JobName, Verdict)> {
    let mut verdicts: Vec<(JobName, Verdict)> = Vec::new();
    let mut held: Vec<JobName> = Vec::new();
    for node in GRAPH {
        let Some(f) = facts.iter().find(|f| f.job == node.job) else { continue };
        let paused_predecessor = graph::predecessors(f.job).into_iter().find(|p| held.contains(p));
        let verdict = if let Some(since) = &f.paused {
            held.push(f.job);
            Verdict::Paused(since.clone())
        } else if let Some(paused) = paused_predecessor {
            held.push(f.job);
            Verdict::Held { paused }
        } else {
            match &f.live {
                Some(live) if live.as_of >= as_of => Verdict::Ok {
                    reason: (live.as_of > as_of).then(|| format!("newer output, as of {}, is live", live.as_of)),
                },
                _ if f.holder.is_some() => {
                    let holder = f.holder.as_ref().expect("checked");
                    match holder.held_for {
                        Some(held) if held <= Function::Job(f.job).timeout() => Verdict::Running,
                        Some(held) => Verdict::Stuck {
                            holder: format!(
                                "{} has held its lock for {} min, past its function's {} s timeout",
                                holder.who,
                                held.as_secs() / 60,
                                Function::Job(f.job).timeout().as_secs()
                            ),
                        },
                        None => Verdict::Stuck { holder: format!("{} holds its lock and is no run of it", holder.who) },
                    }
                }
                live => Verdict::Missed {
                    reason: missed_reason(as_of, f.last_for_date.as_ref(), live.as_ref()),
                    waits_for: None,
                },
            }
        };
        verdicts.push((f.job, verdict));
    }
    let announced = facts.iter().filter(|f| f.announced_now).map(|f| f.job);
    let blocking: Vec<JobName> = verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Missed { .. } | Verdict::Running | Verdict::Stuck { .. }))
        .map(|(job, _)| *job)
        .chain(announced)
        .collect();
    for (job, verdict) in &mut verdicts {
        if let Verdict::Missed { waits_for, .. } = verdict {
            *waits_for = graph::predecessors(*job).into_iter().find(|p| blocking.contains(p));
        }
    }
    verdicts
}

fn missed_reason(as_of: NaiveDate, last: Option<&RunFacts>, live: Option<&RunFacts>) -> String {
    match (last, live) {
        // It did succeed for the date, but a later run for an earlier date replaced it.
        (Some(run), Some(live)) if run.status == RunStatus::Succeeded => format!(
            "its live output is as of {} (run {}), not {as_of}: a later run for another date replaced it",
            live.as_of, live.run_id
        ),
        (None, Some(live)) => {
            format!("no run for {as_of}; its live output is as of {} (run {})", live.as_of, live.run_id)
        }
        (None, None) => format!("no run for {as_of}"),
        (Some(run), _) => match (run.status, &run.error) {
            (RunStatus::Failed, Some(error)) => format!("its last run for {as_of} failed: {error}"),
            (status, error) => {
                format!("its last run for {as_of} is {} {}", status.as_str(), error.as_deref().unwrap_or(""))
                    .trim_end()
                    .to_string()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobName::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn run(as_of: &str, status: RunStatus, error: Option<&str>) -> RunFacts {
        RunFacts { run_id: Uuid::nil(), as_of: day(as_of), status, error: error.map(String::from) }
    }

    fn fine(job: JobName, as_of: &str) -> JobFacts {
        let done = run(as_of, RunStatus::Succeeded, None);
        JobFacts {
            job,
            paused: None,
            live: Some(done.clone()),
            holder: None,
            last_for_date: Some(done),
            announced_now: false,
        }
    }

    fn verdict(verdicts: &[(JobName, Verdict)], job: JobName) -> Verdict {
        verdicts.iter().find(|(j, _)| *j == job).unwrap().1.clone()
    }

    fn night(as_of: &str) -> Vec<JobFacts> {
        JobName::ALL.iter().map(|&job| fine(job, as_of)).collect()
    }

    #[test]
    fn a_night_that_ran_needs_nothing_and_newer_output_is_said() {
        let verdicts = judge(day("2021-08-04"), &night("2021-08-04"));
        assert!(verdicts.iter().all(|(_, v)| *v == Verdict::Ok { reason: None }), "{verdicts:?}");
        let newer = judge(day("2021-08-03"), &night("2021-08-04"));
        assert_eq!(
            verdict(&newer, PersonOwnerRebuild),
            Verdict::Ok { reason: Some("newer output, as of 2021-08-04, is live".into()) }
        );
    }

    #[test]
    fn a_failed_job_is_started_again_and_what_follows_it_waits_for_it() {
        let mut facts = night("2021-08-04");
        facts[1] = JobFacts {
            live: Some(run("2021-08-03", RunStatus::Succeeded, None)),
            last_for_date: Some(run("2021-08-04", RunStatus::Failed, Some("deadlock"))),
            ..facts[1].clone()
        };
        facts[2].live = Some(run("2021-08-03", RunStatus::Succeeded, None));
        facts[2].last_for_date = None;
        let verdicts = judge(day("2021-08-04"), &facts);
        assert_eq!(
            verdict(&verdicts, PersonPlacementEmployingBodyTrust),
            Verdict::Missed { reason: "its last run for 2021-08-04 failed: deadlock".into(), waits_for: None }
        );
        assert_eq!(
            verdict(&verdicts, PersonPlacementTrainingBodyTrust),
            Verdict::Missed {
                reason: "no run for 2021-08-04; its live output is as of 2021-08-03 (run 00000000-0000-0000-0000-000000000000)".into(),
                waits_for: Some(PersonPlacementEmployingBodyTrust),
            }
        );
    }

    #[test]
    fn a_follow_up_of_a_success_announced_just_now_waits_for_that_event() {
        let mut facts = night("2021-08-04");
        // person-owner-rebuild succeeded but its event never went out; the index never ran.
        let owner = facts.iter_mut().find(|f| f.job == PersonOwnerRebuild).unwrap();
        owner.announced_now = true;
        let index = facts.iter_mut().find(|f| f.job == PersonElasticsearchSync).unwrap();
        index.live = Some(run("2021-08-03", RunStatus::Succeeded, None));
        index.last_for_date = None;
        let verdicts = judge(day("2021-08-04"), &facts);
        assert_eq!(verdict(&verdicts, PersonOwnerRebuild), Verdict::Ok { reason: None });
        assert!(
            matches!(
                verdict(&verdicts, PersonElasticsearchSync),
                Verdict::Missed { waits_for: Some(PersonOwnerRebuild), .. }
            ),
            "{verdicts:?}"
        );
    }

    #[test]
    fn an_index_deferred_for_a_busy_search_domain_is_started_again() {
        let mut facts = night("2021-08-04");
        let index = facts.iter().position(|f| f.job == PostElasticsearchSync).unwrap();
        let deferred =
            "deferred: the OpenSearch domain 'tis' is processing a configuration change; waited 300 s for it";
        facts[index].live = Some(run("2021-08-03", RunStatus::Succeeded, None));
        facts[index].last_for_date = Some(run("2021-08-04", RunStatus::Deferred, Some(deferred)));
        let verdicts = judge(day("2021-08-04"), &facts);
        assert_eq!(
            verdict(&verdicts, PostElasticsearchSync),
            Verdict::Missed { reason: format!("its last run for 2021-08-04 is deferred {deferred}"), waits_for: None }
        );
    }

    #[test]
    fn running_paused_and_held_jobs_are_left_alone() {
        let mut facts = night("2021-08-03");
        for f in &mut facts {
            f.last_for_date = None;
        }
        let minutes = |m: u64| Some(std::time::Duration::from_secs(m * 60));
        facts[0].holder = Some(Holder { who: "run r1".into(), held_for: minutes(4) });
        facts[3].paused = Some("paused since 2021-08-04 09:00 UTC (TCS outage)".into());
        let verdicts = judge(day("2021-08-04"), &facts);
        assert_eq!(verdict(&verdicts, PersonOwnerRebuild), Verdict::Running);
        assert_eq!(
            verdict(&verdicts, PostEmployingBodyTrust),
            Verdict::Paused("paused since 2021-08-04 09:00 UTC (TCS outage)".into())
        );
        assert_eq!(verdict(&verdicts, PostTrainingBodyTrust), Verdict::Held { paused: PostEmployingBodyTrust });
        assert_eq!(
            verdict(&verdicts, PersonElasticsearchSync),
            Verdict::Missed {
                reason: "no run for 2021-08-04; its live output is as of 2021-08-03 (run 00000000-0000-0000-0000-000000000000)".into(),
                waits_for: Some(PersonOwnerRebuild),
            },
            "the index follows the running job"
        );
    }

    #[test]
    fn a_lock_held_past_the_functions_timeout_or_by_no_run_is_stuck() {
        let mut facts = night("2021-08-03");
        for f in &mut facts {
            f.last_for_date = None;
        }
        let minutes = |m: u64| Some(std::time::Duration::from_secs(m * 60));
        // 6 minutes past a 300 s function; 14 minutes inside the index's 900 s; a CLI session.
        facts[0].holder = Some(Holder { who: "run r1 (pid 7)".into(), held_for: minutes(6) });
        let index = facts.iter_mut().find(|f| f.job == PersonElasticsearchSync).unwrap();
        index.holder = Some(Holder { who: "run r2".into(), held_for: minutes(14) });
        let status = facts.iter_mut().find(|f| f.job == PostFundingStatus).unwrap();
        status.holder = Some(Holder { who: "session 'psql' (pid 9)".into(), held_for: None });
        let verdicts = judge(day("2021-08-04"), &facts);
        assert_eq!(
            verdict(&verdicts, PersonOwnerRebuild),
            Verdict::Stuck {
                holder: "run r1 (pid 7) has held its lock for 6 min, past its function's 300 s timeout".into()
            }
        );
        assert_eq!(verdict(&verdicts, PersonElasticsearchSync), Verdict::Running);
        assert_eq!(
            verdict(&verdicts, PostFundingStatus),
            Verdict::Stuck { holder: "session 'psql' (pid 9) holds its lock and is no run of it".into() }
        );
    }
}
