//! The fault-injection soak (issue 30; `make soak`, and a smoke in `make test`): the night and
//! the ESR exports run again and again on the local cloud, each iteration under 1 to 3 faults
//! drawn from its seed, then quiesced, the watchdog run (its 07:00 round), and the invariants
//! checked. An iteration is replayed exactly by its seed (`SEED=<seed> ITERATIONS=1`); its date
//! is the next free one.
//!
//! Where the emulator does not do what AWS does, the harness does it and says so here: ministack
//! does not retry a failed asynchronous invoke (Lambda retries twice), so a run killed mid-way is
//! left to the watchdog, which is what catches it in AWS when the retries are spent too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use chrono::NaiveDate;
use serde_json::{json, Value};
use shared::db::{Database, Session};
use sync_core::{graph, JobName};

use crate::aws;
use crate::fault_proxy::{FaultProxy, Loss};

/// One fault an iteration suffers. Faults strike the night (and the day's exports); the
/// watchdog's round after it runs clean, as what goes wrong in that round is the next round's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A running function's process killed (-9) this long into the night: a crash, out of
    /// memory, Lambda's timeout.
    KillFunction { after_ms: u64 },
    /// A job's function killed at an exact step (shared/src/crash_point.rs): between the work's
    /// commit and the ledger's finish (`work-committed`), or between publishing its
    /// `Job Succeeded` and recording that (`published`).
    CrashInJob { step: &'static str, job: JobName },
    /// An export killed at an exact step: between the file's commit and its upload
    /// (`esr-committed`), the upload and its record (`esr-uploaded`), or the event and its record
    /// (`esr-published`), for the deanery at this place in the dispatch order. The killed
    /// handling is the CLI's (`tis-sync esr export`, the exporter's own code), so the command is
    /// handled again by the day's dispatch at once: as SQS would after the queue's 6-minute
    /// visibility timeout, without the wait.
    CrashInExport { step: &'static str, deanery: usize },
    /// The AWS emulator stopped (SIGSTOP) this long into the night for `for_ms`: every call to
    /// an AWS service hangs, then is answered late.
    EmulatorPaused { after_ms: u64, for_ms: u64 },
    /// Every connection the functions hold terminated by the server this long into the night:
    /// a failover, an idle reaper, an operator.
    TerminateConnections { after_ms: u64 },
    /// Postgres restarted this long into the night.
    RestartPostgres { after_ms: u64 },
    /// Every function's database login given a new password, and its secret the new one
    /// (`tis-sync logins`, as a rotation does), this long into the night.
    SecretRotated { after_ms: u64 },
    /// The next `times` requests `method path` from the functions to OpenSearch answered
    /// 429 or 503 by the domain, or their reply lost after the domain applied them.
    Search { method: &'static str, path: &'static str, loss: Loss, times: usize },
    /// A head's schedule delivered twice at once (EventBridge Scheduler delivers at least once).
    ScheduleTwice { job: JobName },
    /// Every `Job Succeeded` of the night delivered again after it (EventBridge delivers at
    /// least once).
    EventsRedelivered,
    /// Every `Job Succeeded` of the night delivered again late (after the watchdog's round)
    /// and in the reverse order.
    EventsLateAndReordered,
    /// The ESR dispatch delivered twice at once.
    DispatchTwice,
    /// The day's notification command for the deanery at this place in the dispatch order is
    /// in the dead-letter queue (it failed 5 times), and the operator redrives it after the night.
    DeadLetterRedriven { deanery: usize },
    /// Records arrive from upstream in 3 versions each, shuffled and some repeated: the intake
    /// must hold each record's latest version (a last-writer-wins model of what was sent).
    IntakeShuffled,
}

impl Fault {
    /// The fault classes, by name (the note's tally).
    pub fn class(&self) -> &'static str {
        match self {
            Fault::KillFunction { .. } => "function killed at a random moment",
            Fault::CrashInJob { step: "work-committed", .. } => "job killed between its commit and the ledger",
            Fault::CrashInJob { .. } => "job killed between publishing and its record",
            Fault::CrashInExport { step: "esr-committed", .. } => "export killed between its commit and the upload",
            Fault::CrashInExport { step: "esr-uploaded", .. } => "export killed between the upload and its record",
            Fault::CrashInExport { .. } => "export killed between its event and its record",
            Fault::EmulatorPaused { .. } => "AWS emulator paused",
            Fault::TerminateConnections { .. } => "connections terminated",
            Fault::RestartPostgres { .. } => "Postgres restarted",
            Fault::SecretRotated { .. } => "secret rotated",
            Fault::Search { loss: Loss::Status(429), .. } => "OpenSearch answered 429",
            Fault::Search { loss: Loss::Status(_), .. } => "OpenSearch answered 503",
            Fault::Search { path: "/_aliases", .. } => "OpenSearch alias swap's reply lost",
            Fault::Search { .. } => "OpenSearch bulk reply lost",
            Fault::ScheduleTwice { .. } => "schedule delivered twice",
            Fault::EventsRedelivered => "Job Succeeded redelivered",
            Fault::EventsLateAndReordered => "Job Succeeded late and reordered",
            Fault::DispatchTwice => "ESR dispatch delivered twice",
            Fault::DeadLetterRedriven { .. } => "ESR command dead-lettered and redriven",
            Fault::IntakeShuffled => "intake messages reordered and repeated",
        }
    }

    /// 1 to 3 faults, drawn from `seed` alone.
    pub fn plan(seed: u64) -> Vec<Fault> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let heads: Vec<JobName> = graph::heads().iter().map(|n| n.job).collect();
        let moment = |rng: &mut fastrand::Rng| rng.u64(500..8_000);
        (0..rng.usize(1..=3))
            .map(|_| match rng.usize(0..16) {
                0 => Fault::KillFunction { after_ms: moment(&mut rng) },
                1 => Fault::CrashInJob {
                    step: ["work-committed", "published"][rng.usize(0..2)],
                    job: JobName::ALL[rng.usize(0..JobName::ALL.len())],
                },
                2 => Fault::CrashInExport {
                    step: ["esr-committed", "esr-uploaded", "esr-published"][rng.usize(0..3)],
                    deanery: rng.usize(0..100),
                },
                3 => Fault::EmulatorPaused { after_ms: moment(&mut rng), for_ms: rng.u64(1_000..10_000) },
                4 => Fault::TerminateConnections { after_ms: moment(&mut rng) },
                5 => Fault::RestartPostgres { after_ms: moment(&mut rng) },
                6 => Fault::SecretRotated { after_ms: moment(&mut rng) },
                7 => {
                    Fault::Search { method: "POST", path: "*/_bulk", loss: Loss::Status(429), times: rng.usize(1..=4) }
                }
                8 => {
                    Fault::Search { method: "POST", path: "*/_bulk", loss: Loss::Status(503), times: rng.usize(1..=2) }
                }
                9 => Fault::Search { method: "POST", path: "*/_bulk", loss: Loss::Reply, times: 1 },
                10 => Fault::Search { method: "POST", path: "/_aliases", loss: Loss::Reply, times: 1 },
                11 => Fault::ScheduleTwice { job: heads[rng.usize(0..heads.len())] },
                12 => Fault::EventsRedelivered,
                13 => Fault::EventsLateAndReordered,
                14 => Fault::DispatchTwice,
                _ => match rng.bool() {
                    true => Fault::DeadLetterRedriven { deanery: rng.usize(0..100) },
                    false => Fault::IntakeShuffled,
                },
            })
            .collect()
    }

    /// How long into the night a timed fault strikes.
    fn after_ms(&self) -> Option<u64> {
        match self {
            Fault::KillFunction { after_ms }
            | Fault::EmulatorPaused { after_ms, .. }
            | Fault::TerminateConnections { after_ms }
            | Fault::RestartPostgres { after_ms }
            | Fault::SecretRotated { after_ms } => Some(*after_ms),
            _ => None,
        }
    }
}

/// What one iteration found.
#[derive(Debug)]
pub struct Iteration {
    pub seed: u64,
    pub as_of: NaiveDate,
    pub faults: Vec<Fault>,
    /// The faults armed that nothing reached (a crash point no process came to, a refusal no
    /// request met): planned, not injected.
    pub unreached: Vec<Fault>,
    pub violations: Vec<String>,
}

/// The deployed local cloud the soak drives (`infra/local/cloud.sh up soak`'s environment).
pub struct Soak {
    env: BTreeMap<String, String>,
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    eventbridge: aws_sdk_eventbridge::Client,
    /// Where every job event of the stack is copied (a rule of the soak's own on the bus).
    events: String,
    /// Between the functions and OpenSearch, on the address cloud.sh told them.
    search: FaultProxy,
    /// Where upstream's records arrive (esr-intake's queue).
    records_queue: String,
}

/// The ESR queues' visibility timeout in the soak (see `Soak::connect`).
const VISIBILITY: Duration = Duration::from_secs(30);

const JOB_EVENTS: [&str; 3] = ["Job Succeeded", "Job Failed", "Job Missed"];

impl Soak {
    pub async fn connect(env: BTreeMap<String, String>) -> Soak {
        let config = aws::config_at(&env["TIS_SYNC_MINISTACK_URL"]).await;
        let (sqs, eventbridge) = (aws_sdk_sqs::Client::new(&config), aws_sdk_eventbridge::Client::new(&config));
        let name = format!("soak-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let events = aws::queue(&sqs, &name).await;
        let arn = aws::queue_arn(&sqs, &events).await;
        let pattern = json!({"source": ["tis.sync"], "detail-type": JOB_EVENTS});
        aws::route_to_queue(&eventbridge, &env["EVENT_BUS_NAME"], &name, &pattern, &arn).await;
        let proxied = env["OPENSEARCH_URL"].trim_start_matches("http://").trim_end_matches('/').to_string();
        let search = FaultProxy::start_at(&proxied, &env["TIS_SYNC_SEARCH_SERVER_URL"]).await;
        let outputs: Value = serde_json::from_str(&std::fs::read_to_string(&env["TIS_SYNC_OUTPUTS"]).unwrap()).unwrap();
        let records_queue = outputs["EsrRecordQueueUrl"].as_str().unwrap().to_string();
        // Time compressed: a message whose handling failed comes back after its queue's
        // visibility timeout (the template's 6 and 3 minutes); here after VISIBILITY, so that it
        // comes back within its iteration. Every handling here takes seconds, so none overlaps
        // its own retry, which is what the template's margin is for.
        for queue in [&env["ESR_COMMAND_QUEUE_URL"], &records_queue] {
            sqs.set_queue_attributes()
                .queue_url(queue)
                .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, VISIBILITY.as_secs().to_string())
                .send()
                .await
                .unwrap();
        }
        Soak {
            lambda: aws_sdk_lambda::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
            ),
            sqs,
            eventbridge,
            events,
            search,
            records_queue,
            env,
        }
    }

    /// TCS's tables filled with `persons` synthetic people (their posts, placements, ESR records).
    pub async fn seed(&self, persons: i64) {
        let database = Database::from_url(&self.env["DATABASE_URL"]).unwrap();
        let mut session = database.connect("tis-sync-soak:seed").await.unwrap();
        seed::seed(&mut session.client, persons, 11).await.unwrap();
    }

    /// The day after the latest any run or file is for: every iteration a date of its own.
    async fn next_date(&self) -> NaiveDate {
        let row = self
            .fresh()
            .await
            .client
            .query_one(
                "SELECT greatest((SELECT max(as_of) FROM sync.job_run), (SELECT max(run_date) FROM esr.export_file),
                                 current_date + 40)::text",
                &[],
            )
            .await
            .unwrap();
        let latest: String = row.get(0);
        latest.parse::<NaiveDate>().unwrap() + chrono::Duration::days(1)
    }

    /// The deaneries, in the dispatch's order.
    async fn deaneries(&self) -> Vec<String> {
        let session = self.fresh().await;
        let rows = session.client.query("SELECT code FROM esr.deanery ORDER BY dispatch_order", &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    async fn invoke(&self, function: &str, payload: &Value, asynchronously: bool) -> Result<Value, String> {
        let answer = self
            .lambda
            .invoke()
            .function_name(format!("{}-{function}", self.env["TIS_SYNC_STACK"]))
            .invocation_type(if asynchronously { InvocationType::Event } else { InvocationType::RequestResponse })
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| format!("invoking {function}: {e}"))?;
        let body = answer.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match answer.function_error() {
            Some(_) => Err(format!("{function} failed: {}", shared::error::function_error(value))),
            None => Ok(value),
        }
    }

    /// One iteration: the night and the day's exports for the next date under `seed`'s faults,
    /// quiesced, the watchdog run, every invariant checked.
    pub async fn iteration(&self, seed: u64) -> Iteration {
        let as_of = self.next_date().await;
        let faults = Fault::plan(seed);
        let deaneries = self.deaneries().await;
        let deanery = |place: usize| deaneries[place % deaneries.len()].clone();
        let reader = AliasReader::start(
            &self.env["TIS_SYNC_SEARCH_SERVER_URL"],
            ["PERSONS_INDEX_ALIAS", "POSTS_INDEX_ALIAS"].map(|a| self.env[a].clone()),
        );
        let run = json!({"asOf": as_of.to_string(), "allowDistantAsOf": true});
        let mut violations = Vec::new();
        let mut unreached = Vec::new();
        let search_taken = self.search.taken().len();

        // Armed before the night.
        let mut intake = Vec::new();
        let (mut watching, stopped) = (Vec::new(), Arc::new(AtomicBool::new(false)));
        for fault in &faults {
            match fault {
                Fault::CrashInJob { step, job } => {
                    let point = format!("{step}.{job}");
                    self.arm(&point);
                    watching.push(replace_when_crashed(self.env.clone(), point, job.to_string(), stopped.clone()));
                }
                Fault::CrashInExport { step, deanery: place } => {
                    match self.crash_export(step, &deanery(*place), as_of).await {
                        Ok(true) => {}
                        Ok(false) => unreached.push(fault.clone()),
                        Err(e) => violations.push(e),
                    }
                }
                Fault::Search { method, path, loss, times } => self.search.arm(method, path, *loss, *times),
                Fault::DeadLetterRedriven { deanery: place } => self.dead_letter(&deanery(*place), as_of).await,
                Fault::IntakeShuffled => intake = self.send_intake(seed, as_of, &deanery(seed as usize)).await,
                _ => {}
            }
        }

        // The night: every head as its schedule starts it; the follow-ups by the stack's rules.
        let timed: Vec<_> = faults
            .iter()
            .filter_map(|fault| fault.after_ms().map(|after| (fault.clone(), after)))
            .map(|(fault, after)| {
                let env = self.env.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(after)).await;
                    inflict(&fault, &env).await
                })
            })
            .collect();
        for node in graph::heads() {
            let times = if faults.contains(&Fault::ScheduleTwice { job: node.job }) { 2 } else { 1 };
            for _ in 0..times {
                self.invoke(node.job.as_str(), &run, true).await.unwrap();
            }
        }
        let dispatch = json!({"date": as_of.to_string(), "kind": "app", "allowDistantDate": true});
        let times = if faults.contains(&Fault::DispatchTwice) { 2 } else { 1 };
        let dispatches =
            futures::future::join_all((0..times).map(|_| self.invoke("esr-export-dispatch", &dispatch, false))).await;
        // A dispatch that failed under a fault is retried as the schedule's retry policy would.
        if dispatches.iter().all(|d| d.is_err()) {
            if let Err(e) = self.invoke("esr-export-dispatch", &dispatch, false).await {
                violations.push(format!("the ESR dispatch failed twice: {e}"));
            }
        }
        for fault in timed {
            if let Err(e) = fault.await.unwrap() {
                violations.push(format!("the harness could not inflict a fault: {e}"));
            }
        }
        self.quiesce().await;

        // The night is over: what was armed and not reached is disarmed.
        stopped.store(true, Ordering::Relaxed);
        for watch in watching {
            if let Err(e) = watch.await.unwrap() {
                violations.push(format!("the harness could not replace a crashed function: {e}"));
            }
        }
        let left = self.disarm();
        self.search.disarm();
        let taken: Vec<_> = self.search.taken().into_iter().skip(search_taken).collect();
        for fault in &faults {
            let reached = match fault {
                Fault::CrashInJob { step, job } => !left.contains(&format!("{step}.{job}")),
                Fault::Search { method, loss, .. } => {
                    taken.iter().any(|(request, taken)| request.starts_with(method) && taken == loss)
                }
                _ => true,
            };
            if !reached {
                unreached.push(fault.clone());
            }
        }
        let mut events = self.job_events().await;
        if faults.contains(&Fault::EventsRedelivered) {
            self.redeliver(&events, false).await;
            self.quiesce().await;
        }
        for fault in &faults {
            if let Fault::DeadLetterRedriven { .. } = fault {
                violations.extend(self.redrive().await);
                self.quiesce().await;
            }
        }
        // The watchdog's round (07:00 in AWS): starts what the night missed.
        if let Err(e) = self.invoke("sync-watchdog", &run, false).await {
            violations.push(format!("the watchdog failed: {e}"));
        }
        self.quiesce().await;
        events.extend(self.job_events().await);
        if faults.contains(&Fault::EventsLateAndReordered) {
            self.redeliver(&events, true).await;
            self.quiesce().await;
            events.extend(self.job_events().await);
        }
        let seen = reader.stop();

        violations.extend(self.ledger_violations(as_of, &events).await);
        violations.extend(self.derived_table_violations(as_of).await);
        violations.extend(self.export_violations(as_of).await);
        for fault in &faults {
            if let Fault::DeadLetterRedriven { deanery: place } = fault {
                violations.extend(self.redriven_file_violations(&deanery(*place), as_of).await);
            }
        }
        violations.extend(self.intake_violations(&intake).await);
        violations.extend(seen);
        Iteration { seed, as_of, faults, unreached, violations }
    }

    /// Arms the crash point `point` (shared/src/crash_point.rs).
    fn arm(&self, point: &str) {
        std::fs::write(Path::new(&self.env["TIS_SYNC_CRASH_POINTS"]).join(point), b"").unwrap();
    }

    /// Disarms every crash point; the ones that were still armed (nothing reached them).
    fn disarm(&self) -> Vec<String> {
        let mut left = Vec::new();
        for entry in std::fs::read_dir(&self.env["TIS_SYNC_CRASH_POINTS"]).unwrap().flatten() {
            left.push(entry.file_name().to_string_lossy().into_owned());
            let _ = std::fs::remove_file(entry.path());
        }
        left
    }

    /// The deanery's app file for `as_of` made by the exporter's own code in a process that
    /// dies at `step`: true when it died there, false when it never came to the step.
    async fn crash_export(&self, step: &str, deanery: &str, as_of: NaiveDate) -> Result<bool, String> {
        self.arm(&format!("{step}.{deanery}"));
        let output = run(std::process::Command::new(tis_sync())
            .args(["esr", "export", "--deanery", deanery, "--kind", "app", "--date", &as_of.to_string()])
            .arg("--allow-distant-date")
            .envs(&self.env)
            .env("RUST_LOG", "error"))
        .unwrap();
        let left = self.disarm();
        use std::os::unix::process::ExitStatusExt;
        match output.status.signal() {
            // SIGABRT: crash_point::reached aborted it.
            Some(6) => Ok(true),
            _ if output.status.success() && !left.is_empty() => Ok(false),
            _ => Err(format!(
                "the export to be killed at {step} failed otherwise: {}",
                String::from_utf8_lossy(&output.stderr)
            )),
        }
    }

    /// The day's notification command for `deanery`, as the dead-letter queue holds one that
    /// failed 5 times.
    async fn dead_letter(&self, deanery: &str, as_of: NaiveDate) {
        let command = json!({"deanery": deanery, "date": as_of.to_string(), "kind": "notification"});
        self.sqs
            .send_message()
            .queue_url(&self.env["ESR_COMMAND_DLQ_URL"])
            .message_body(command.to_string())
            .send()
            .await
            .unwrap();
    }

    /// What the dead-letter alarm watches (ApproximateNumberOfMessagesVisible >= 1) seen, then
    /// the queue redriven to the command queue as the console's "Start DLQ redrive" does
    /// (StartMessageMoveTask; by hand where the emulator lacks it).
    async fn redrive(&self) -> Vec<String> {
        let dlq = &self.env["ESR_COMMAND_DLQ_URL"];
        if self.waiting(dlq).await.unwrap_or(0) == 0 {
            return vec!["a dead-lettered command was not visible to the dead-letter alarm".into()];
        }
        let (source, destination) =
            (aws::queue_arn(&self.sqs, dlq).await, aws::queue_arn(&self.sqs, &self.env["ESR_COMMAND_QUEUE_URL"]).await);
        let moved = self.sqs.start_message_move_task().source_arn(source).destination_arn(destination).send().await;
        if let Err(e) = moved {
            // ministack answers InvalidAction (it has no move tasks): the messages are moved as
            // the task moves them, each sent to the command queue, then deleted from the DLQ.
            if e.code() != Some("InvalidAction") {
                return vec![format!("the redrive was refused: {e:?}")];
            }
            let queue = &self.env["ESR_COMMAND_QUEUE_URL"];
            loop {
                let received = self.sqs.receive_message().queue_url(dlq).max_number_of_messages(10).send().await;
                let messages = received.map(|r| r.messages().to_vec()).unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                for message in messages {
                    let body = message.body().unwrap_or_default();
                    self.sqs.send_message().queue_url(queue).message_body(body).send().await.unwrap();
                    let handle = message.receipt_handle().unwrap_or_default();
                    self.sqs.delete_message().queue_url(dlq).receipt_handle(handle).send().await.unwrap();
                }
            }
        }
        for _ in 0..60 {
            if self.waiting(dlq).await == Some(0) {
                return Vec::new();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        vec!["the redrive left the dead-letter queue holding the command after 30 s".into()]
    }

    /// The redriven command's file was made.
    async fn redriven_file_violations(&self, deanery: &str, as_of: NaiveDate) -> Vec<String> {
        let session = self.fresh().await;
        let files: i64 = session
            .client
            .query_one(
                "SELECT count(*) FROM esr.export_file
                  WHERE deanery = $1 AND kind = 'notification' AND run_date = $2::text::date",
                &[&deanery, &as_of.to_string()],
            )
            .await
            .unwrap()
            .get(0);
        match files {
            1 => Vec::new(),
            n => vec![format!("the redriven notification command for {deanery} made {n} files, not 1")],
        }
    }

    /// Five new records from upstream in three versions each (changed a second apart), sent
    /// shuffled with some repeated; the latest version of each, which the intake must hold.
    /// Their start date is beyond any export window, so no export takes them meanwhile.
    async fn send_intake(&self, seed: u64, as_of: NaiveDate, deanery: &str) -> Vec<(i64, String)> {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
        let start = (as_of + chrono::Duration::days(400)).to_string();
        let mut messages = Vec::new();
        let mut latest = Vec::new();
        for i in 0..5 {
            let id = 9_000_000_000 + (seed % 10_000_000) as i64 * 10 + i;
            for version in 1..=3 {
                let message = json!({"kind": "app", "record": {
                    "id": id, "placementId": id, "deanery": deanery, "positionId": null,
                    "positionNumber": format!("soak-v{version}"), "startDate": start, "status": "TO_EXPORT",
                    "applicant": {"version": version}, "generationError": null,
                    "changedAt": format!("2026-01-01T00:00:0{version}Z")}});
                let copies = if rng.bool() { 2 } else { 1 };
                messages.extend(std::iter::repeat_n(message.to_string(), copies));
            }
            latest.push((id, "soak-v3".to_string()));
        }
        rng.shuffle(&mut messages);
        for message in messages {
            self.sqs.send_message().queue_url(&self.records_queue).message_body(message).send().await.unwrap();
        }
        latest
    }

    /// The intake holds each record's latest version.
    async fn intake_violations(&self, latest: &[(i64, String)]) -> Vec<String> {
        if latest.is_empty() {
            return Vec::new();
        }
        let session = self.fresh().await;
        let ids: Vec<i64> = latest.iter().map(|(id, _)| *id).collect();
        let rows = session
            .client
            .query("SELECT id, position_number FROM esr.generated_app_record WHERE id = ANY($1)", &[&ids])
            .await
            .unwrap();
        let held: BTreeMap<i64, Option<String>> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        latest
            .iter()
            .filter(|(id, version)| held.get(id).cloned().flatten().as_ref() != Some(version))
            .map(|(id, version)| format!("intake record {id} holds {:?}, not the latest {version}", held.get(id)))
            .collect()
    }

    /// Waits until no run is running and the ESR queues are empty, and have stayed so for 3 s
    /// (a follow-up's event may be on its way), or 4 minutes have passed.
    async fn quiesce(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        let mut quiet_since = None;
        while tokio::time::Instant::now() < deadline {
            let busy = self.busy().await;
            match (busy, quiet_since) {
                (true, _) => quiet_since = None,
                (false, None) => quiet_since = Some(tokio::time::Instant::now()),
                (false, Some(since)) if since.elapsed() >= Duration::from_secs(3) => return,
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn busy(&self) -> bool {
        // The admin's connection too may have been terminated by a fault: connect afresh.
        let Ok(database) = Database::from_url(&self.env["DATABASE_URL"]) else { return true };
        let Ok(session) = database.connect("tis-sync-soak:quiesce").await else { return true };
        // A run in progress holds its job's lock; a killed one's row waits for the next run.
        let mut running = 0;
        for job in JobName::ALL {
            running += shared::ledger::is_locked(&session.client, job).await.unwrap_or(true) as i64;
        }
        let mut waiting = 0;
        for queue in [&self.env["ESR_COMMAND_QUEUE_URL"], &self.records_queue] {
            waiting += self.waiting(queue).await.unwrap_or(1);
        }
        running > 0 || waiting > 0
    }

    /// The messages in `queue`, visible or being handled.
    async fn waiting(&self, queue: &str) -> Option<i64> {
        let answer = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .ok()?;
        let attributes = answer.attributes().cloned().unwrap_or_default();
        let count = |name: &str| {
            let key = aws_sdk_sqs::types::QueueAttributeName::from(name);
            attributes.get(&key).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0)
        };
        Some(count("ApproximateNumberOfMessages") + count("ApproximateNumberOfMessagesNotVisible"))
    }

    /// The job events the bus carried since the last call.
    async fn job_events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let answer =
                self.sqs.receive_message().queue_url(&self.events).max_number_of_messages(10).send().await.unwrap();
            let batch = answer.messages();
            if batch.is_empty() {
                return events;
            }
            for message in batch {
                events.push(serde_json::from_str(message.body().unwrap_or("null")).unwrap_or(Value::Null));
                self.sqs
                    .delete_message()
                    .queue_url(&self.events)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Every `Job Succeeded` among `events` put on the bus again, in their order or reversed.
    async fn redeliver(&self, events: &[Value], reversed: bool) {
        let mut succeeded: Vec<&Value> = events.iter().filter(|e| e["detail-type"] == "Job Succeeded").collect();
        if reversed {
            succeeded.reverse();
        }
        for event in succeeded {
            let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&self.env["EVENT_BUS_NAME"])
                .source("tis.sync")
                .detail_type("Job Succeeded")
                .detail(event["detail"].to_string())
                .build();
            self.eventbridge.put_events().entries(entry).send().await.unwrap();
        }
    }

    /// No run left running; every job succeeded for the date, or its failure was alerted
    /// (`Job Failed` or `Job Missed` on the bus, which the alerts topic receives).
    async fn ledger_violations(&self, as_of: NaiveDate, events: &[Value]) -> Vec<String> {
        let session = self.fresh().await;
        let rows = session
            .client
            .query("SELECT job, status FROM sync.job_run WHERE as_of = $1::text::date", &[&as_of.to_string()])
            .await
            .unwrap();
        let mut violations = Vec::new();
        let mut succeeded = BTreeSet::new();
        for row in &rows {
            let (job, status): (String, String) = (row.get(0), row.get(1));
            match status.as_str() {
                "running" => violations.push(format!("{job}: a run still running after the watchdog and quiescence")),
                "succeeded" => {
                    succeeded.insert(job);
                }
                _ => {}
            }
        }
        // Every success announced (its `Job Succeeded` accepted by the bus), or its follow-ups
        // ran all the same.
        let unannounced = session
            .client
            .query(
                "SELECT DISTINCT job FROM sync.job_run
                  WHERE as_of = $1::text::date AND status = 'succeeded' AND follow_ups AND published_at IS NULL",
                &[&as_of.to_string()],
            )
            .await
            .unwrap();
        for row in &unannounced {
            let job: String = row.get(0);
            let follow_ups = job.parse::<JobName>().map(graph::follow_ups).unwrap_or(&[]);
            let missing: Vec<_> = follow_ups.iter().filter(|f| !succeeded.contains(f.as_str())).collect();
            if !missing.is_empty() {
                violations.push(format!("{job}: a success never announced, and its follow-ups {missing:?} never ran"));
            }
        }
        for job in JobName::ALL {
            if succeeded.contains(job.as_str()) {
                continue;
            }
            let alerted = events.iter().any(|e| {
                ["Job Failed", "Job Missed"].contains(&e["detail-type"].as_str().unwrap_or_default())
                    && (e["detail"]["job"] == job.as_str()
                        || e["detail"]["jobs"]
                            .as_array()
                            .is_some_and(|j| j.iter().any(|j| j == job.as_str() || j["job"] == job.as_str())))
            });
            if !alerted {
                violations.push(format!("{job}: no success for {as_of} and no Job Failed or Job Missed"));
            }
        }
        violations
    }

    /// What the jobs derive equals what a clean run of the jobs' own SQL makes of the same data:
    /// the tables as the faulted night left them, then the night again in-process
    /// (`tis-sync nightly`), compared.
    async fn derived_table_violations(&self, as_of: NaiveDate) -> Vec<String> {
        let left = self.derived().await;
        let output = std::process::Command::new(tis_sync())
            .args(["nightly", "--as-of", &as_of.to_string(), "--allow-distant-as-of"])
            .envs(&self.env)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        if !output.status.success() {
            return vec![format!("the clean re-run failed: {}", String::from_utf8_lossy(&output.stderr))];
        }
        let clean = self.derived().await;
        left.iter()
            .filter(|(table, digest)| clean.get(*table) != Some(digest))
            .map(|(table, _)| format!("{table} differs from a clean run of its job"))
            .collect()
    }

    async fn derived(&self) -> BTreeMap<String, String> {
        const DIGESTS: &str = "
            SELECT 'tcs.person_owner', md5(coalesce(string_agg(format('%s|%s|%s', id, owner, rule), ',' ORDER BY id), ''))
              FROM tcs.person_owner
            UNION ALL
            SELECT 'tcs.person_trust', md5(coalesce(string_agg(format('%s|%s|%s', person_id, trust_id, source), ','
                   ORDER BY person_id, trust_id, source), '')) FROM tcs.person_trust
            UNION ALL
            SELECT 'tcs.post_trust', md5(coalesce(string_agg(format('%s|%s|%s', post_id, trust_id, source), ','
                   ORDER BY post_id, trust_id, source), '')) FROM tcs.post_trust
            UNION ALL
            SELECT 'tcs.person.status', md5(coalesce(string_agg(format('%s|%s', id, status), ',' ORDER BY id), ''))
              FROM tcs.person
            UNION ALL
            SELECT 'tcs.post.funding_status', md5(coalesce(string_agg(format('%s|%s', id, funding_status), ','
                   ORDER BY id), '')) FROM tcs.post";
        let session = self.fresh().await;
        session.client.query(DIGESTS, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    /// The ESR files: every active deanery's for the day made, or its command dead-lettered
    /// (alarmed); at most one not forced per deanery, kind and date; each kind's numbers
    /// consecutive; every exported record in exactly one file, the one it names; every file
    /// uploaded, the object's bytes the file's.
    async fn export_violations(&self, as_of: NaiveDate) -> Vec<String> {
        let session = self.fresh().await;
        let c = &session.client;
        let mut violations = Vec::new();
        // Every active deanery's app file for the day (the dispatch's), or its command waiting
        // in the dead-letter queue, whose alarm is the alert.
        let dead_lettered = self.waiting(&self.env["ESR_COMMAND_DLQ_URL"]).await.unwrap_or(0);
        let unmade = c
            .query(
                "SELECT code FROM esr.deanery d WHERE active AND NOT EXISTS
                   (SELECT FROM esr.export_file f WHERE f.deanery = d.code AND f.kind = 'app' AND f.run_date = $1::text::date)",
                &[&as_of.to_string()],
            )
            .await
            .unwrap();
        if !unmade.is_empty() && dead_lettered == 0 {
            let unmade: Vec<String> = unmade.iter().map(|r| r.get(0)).collect();
            violations.push(format!("no app file for {as_of} for {unmade:?}, and nothing in the dead-letter queue"));
        }
        let doubled = c
            .query(
                "SELECT deanery || ' ' || kind || ' ' || run_date FROM esr.export_file WHERE NOT forced
                    GROUP BY deanery, kind, run_date HAVING count(*) > 1",
                &[],
            )
            .await
            .unwrap();
        violations.extend(doubled.iter().map(|r| format!("two files for {}", r.get::<_, String>(0))));
        let gaps = c
            .query(
                "SELECT kind, count(*), max(sequence) - min(sequence) + 1 FROM esr.export_file GROUP BY kind
                    HAVING count(*) <> max(sequence) - min(sequence) + 1",
                &[],
            )
            .await
            .unwrap();
        violations.extend(gaps.iter().map(|r| {
            format!(
                "{} file numbers are not consecutive: {} files over {} numbers",
                r.get::<_, String>(0),
                r.get::<_, i64>(1),
                r.get::<_, i64>(2)
            )
        }));
        let misfiled = c
            .query(
                "SELECT 'app', r.id FROM esr.generated_app_record r WHERE r.status = 'EXPORTED' AND
                        (SELECT array_agg(f.file_name) FROM esr.export_file f
                          WHERE f.kind = 'app' AND r.id = ANY (f.record_ids)) IS DISTINCT FROM ARRAY[r.export_file]
                 UNION ALL
                 SELECT 'notification', r.id FROM esr.notification_record r WHERE r.status = 'EXPORTED' AND
                        (SELECT array_agg(f.file_name) FROM esr.export_file f
                          WHERE f.kind = 'notification' AND r.id = ANY (f.record_ids)) IS DISTINCT FROM ARRAY[r.export_file]",
                &[],
            )
            .await
            .unwrap();
        violations.extend(
            misfiled
                .iter()
                .map(|r| format!("{} record {} is not in exactly one file", r.get::<_, &str>(0), r.get::<_, i64>(1))),
        );
        let files = c.query("SELECT file_name, s3_key, content FROM esr.export_file", &[]).await.unwrap();
        for file in files {
            let (name, key, content): (String, Option<String>, Vec<u8>) = (file.get(0), file.get(1), file.get(2));
            let Some(key) = key else {
                violations.push(format!("{name} was never uploaded"));
                continue;
            };
            let object = self.s3.get_object().bucket(&self.env["ESR_EXPORT_BUCKET"]).key(&key).send().await;
            let bytes = match object {
                Ok(object) => object.body.collect().await.map(|b| b.into_bytes().to_vec()).unwrap_or_default(),
                Err(e) => {
                    violations.push(format!("{name}: s3://…/{key} unreadable: {e}"));
                    continue;
                }
            };
            if bytes != content {
                violations.push(format!("{name}: the uploaded bytes are not the file's"));
            }
        }
        violations
    }

    /// A connection of the soak's own, made now (a fault may have ended the last).
    async fn fresh(&self) -> Session {
        let database = Database::from_url(&self.env["DATABASE_URL"]).unwrap();
        for _ in 0..60 {
            if let Ok(session) = database.connect("tis-sync-soak:check").await {
                return session;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the database did not come back within 30 s");
    }
}

/// The workspace's `tis-sync`, beside this binary (target/debug) or above it (a test's deps/).
fn tis_sync() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let here = exe.parent().unwrap();
    [here, here.parent().unwrap()].iter().map(|d| d.join("tis-sync")).find(|p| p.exists()).expect("tis-sync is built")
}

/// Inflicts a timed fault.
async fn inflict(fault: &Fault, env: &BTreeMap<String, String>) -> Result<(), String> {
    match fault {
        Fault::KillFunction { after_ms } => {
            let running = function_processes();
            if running.is_empty() {
                return Ok(());
            }
            let (victim, function) = &running[(*after_ms as usize) % running.len()];
            signal("KILL", *victim)?;
            replace_environment(env, function).await
        }
        Fault::EmulatorPaused { for_ms, .. } => {
            let pid: u32 = std::fs::read_to_string(Path::new(&env["TIS_SYNC_STATE_DIR"]).join("ministack.pid"))
                .map_err(|e| format!("the emulator's pid: {e}"))?
                .trim()
                .parse()
                .map_err(|e| format!("the emulator's pid: {e}"))?;
            signal("STOP", pid)?;
            tokio::time::sleep(Duration::from_millis(*for_ms)).await;
            signal("CONT", pid)
        }
        Fault::TerminateConnections { .. } => postgres("terminate"),
        Fault::RestartPostgres { .. } => postgres("restart"),
        Fault::SecretRotated { .. } => {
            // Tried again while another fault has Postgres down: a rotation that fails is
            // rolled back, and rotations are retried.
            let mut failed = String::new();
            for _ in 0..10 {
                let output = run(std::process::Command::new(tis_sync())
                    .args(["logins", "--secret-prefix", &env["DATABASE_SECRET_PREFIX"]])
                    .args(["--environment", &format!("local_{}", env["TIS_SYNC_FLAVOUR"])])
                    .envs(env)
                    .env("RUST_LOG", "error"))
                .map_err(|e| e.to_string())?;
                if output.status.success() {
                    return Ok(());
                }
                failed = String::from_utf8_lossy(&output.stderr).into_owned();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(format!("tis-sync logins: {failed}"))
        }
        _ => Ok(()),
    }
}

/// Runs `command` to its end, telling the runtime this thread blocks (the other faults' timers
/// go on, on its other threads).
fn run(command: &mut std::process::Command) -> std::io::Result<std::process::Output> {
    tokio::task::block_in_place(|| command.output())
}

fn signal(signal: &str, pid: u32) -> Result<(), String> {
    let status = std::process::Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status();
    status.map_err(|e| e.to_string())?.success().then_some(()).ok_or_else(|| format!("kill -{signal} {pid} failed"))
}

/// `infra/local/postgres.sh <fault>`, as the server's superuser.
fn postgres(fault: &str) -> Result<(), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/local/postgres.sh");
    let output = std::process::Command::new(script).arg(fault).output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    output.status.success().then_some(()).ok_or_else(|| format!("postgres.sh {fault}: {stderr}"))
}

/// The functions' processes (each watcher's child, `TIS_SYNC_FUNCTION` in its environment),
/// with the function each is.
fn function_processes() -> Vec<(u32, String)> {
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let function = environ.split(|b| *b == 0).find_map(|v| v.strip_prefix(b"TIS_SYNC_FUNCTION=".as_slice()));
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if let Some(function) = function.filter(|_| !comm.contains("cargo-lambda")) {
            processes.push((pid, String::from_utf8_lossy(function).into_owned()));
        }
    }
    processes.sort();
    processes
}

/// What Lambda does when a function's process dies: the next invocation gets a new execution
/// environment. `cargo lambda watch` serves no invocation again once its function's process was
/// killed, so the harness restarts that function's watcher (`cloud.sh watch`), on its port.
async fn replace_environment(env: &BTreeMap<String, String>, function: &str) -> Result<(), String> {
    let state = Path::new(&env["TIS_SYNC_STATE_DIR"]);
    let watchers = std::fs::read_to_string(state.join("watchers")).map_err(|e| format!("the watchers: {e}"))?;
    let watcher: Vec<&str> = watchers
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&function))
        .ok_or_else(|| format!("no watcher for {function}"))?;
    let pidfile = state.join(format!("watch-{function}.pid"));
    if let Ok(pid) = std::fs::read_to_string(&pidfile) {
        // The watcher leads its own process group (setsid): end the group.
        let _ = std::process::Command::new("kill").args(["-TERM", "--", &format!("-{}", pid.trim())]).status();
    }
    let _ = std::fs::remove_file(&pidfile);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/local/cloud.sh");
    let output = run(std::process::Command::new(script).arg("watch").arg(&env["TIS_SYNC_FLAVOUR"]).args(&watcher))
        .map_err(|e| e.to_string())?;
    output
        .status
        .success()
        .then_some(())
        .ok_or_else(|| format!("restarting {function}'s watcher: {}", String::from_utf8_lossy(&output.stderr)))
}

/// Watches the crash point armed for `function` until it is reached (the file gone), then
/// replaces the function's environment as Lambda would; or until `stop`.
fn replace_when_crashed(
    env: BTreeMap<String, String>,
    point: String,
    function: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<(), String>> {
    tokio::spawn(async move {
        let armed = Path::new(&env["TIS_SYNC_CRASH_POINTS"]).join(point);
        while armed.exists() {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The process aborts right after removing the file.
        for _ in 0..50 {
            if !function_processes().iter().any(|(_, f)| *f == function) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        replace_environment(&env, &function).await
    })
}

/// A reader of each alias, counting its documents every 200 ms as TCS's searches would: it
/// must never see an error once the alias exists, nor a count other than the whole index's.
struct AliasReader {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    counts: Arc<Mutex<BTreeMap<String, BTreeSet<u64>>>>,
}

impl AliasReader {
    fn start(url: &str, aliases: [String; 2]) -> AliasReader {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let counts: Arc<Mutex<BTreeMap<String, BTreeSet<u64>>>> = Arc::default();
        let (stop2, seen2, counts2, url) =
            (stop.clone(), seen.clone(), counts.clone(), url.trim_end_matches('/').to_string());
        tokio::spawn(async move {
            let transport = opensearch::http::transport::Transport::single_node(&url).expect("the search server's URL");
            let client = opensearch::OpenSearch::new(transport);
            while !stop2.load(Ordering::Relaxed) {
                for alias in &aliases {
                    let answer = client.count(opensearch::CountParts::Index(&[alias])).send().await;
                    let seen_alias = counts2.lock().unwrap().contains_key(alias);
                    match answer {
                        // Before the first rebuild there is no alias yet.
                        Ok(answer) if answer.status_code().as_u16() == 404 && !seen_alias => {}
                        Ok(answer) if answer.status_code().is_success() => {
                            let body: Value = answer.json().await.unwrap_or(Value::Null);
                            if let Some(n) = body["count"].as_u64() {
                                counts2.lock().unwrap().entry(alias.clone()).or_default().insert(n);
                            }
                        }
                        Ok(answer) => {
                            seen2.lock().unwrap().push(format!("a reader of {alias} saw HTTP {}", answer.status_code()))
                        }
                        Err(e) => seen2.lock().unwrap().push(format!("a reader of {alias} saw {e}")),
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        AliasReader { stop, seen, counts }
    }

    /// Stops reading; what a reader must never have seen.
    fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut violations = self.seen.lock().unwrap().clone();
        for (alias, counts) in self.counts.lock().unwrap().iter() {
            if counts.len() > 1 {
                violations.push(format!("a reader of {alias} saw partial counts: {counts:?}"));
            }
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_exactly_its_faults_and_seeds_differ() {
        assert_eq!(Fault::plan(42), Fault::plan(42));
        let plans: BTreeSet<String> = (0..50).map(|seed| format!("{:?}", Fault::plan(seed))).collect();
        assert!(plans.len() > 45, "50 seeds gave only {} different plans", plans.len());
    }

    #[test]
    fn every_fault_class_is_drawn_one_to_three_at_a_time() {
        let mut classes = BTreeSet::new();
        for seed in 0..2_000 {
            let plan = Fault::plan(seed);
            assert!((1..=3).contains(&plan.len()), "seed {seed}: {plan:?}");
            classes.extend(plan.iter().map(Fault::class));
        }
        // The classes Fault::class names: every one of them comes up.
        assert_eq!(classes.len(), 20, "{classes:#?}");
    }
}
