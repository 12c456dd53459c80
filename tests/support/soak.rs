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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use chrono::NaiveDate;
use serde_json::{json, Value};
use shared::db::{Database, Session};
use sync_core::{graph, JobName};

use crate::aws;

/// One fault an iteration suffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A running function's process killed (-9) this long into the night: a crash, out of
    /// memory, Lambda's timeout.
    KillFunction { after_ms: u64 },
    /// Every connection the functions hold terminated by the server this long into the night:
    /// a failover, an idle reaper, an operator.
    TerminateConnections { after_ms: u64 },
    /// Postgres restarted this long into the night.
    RestartPostgres { after_ms: u64 },
    /// A head's schedule delivered twice at once (EventBridge Scheduler delivers at least once).
    ScheduleTwice { job: JobName },
    /// Every `Job Succeeded` of the night delivered again after it (EventBridge delivers at
    /// least once).
    EventsRedelivered,
    /// The ESR dispatch delivered twice at once.
    DispatchTwice,
}

impl Fault {
    /// The fault classes, by name (the note's tally).
    pub fn class(&self) -> &'static str {
        match self {
            Fault::KillFunction { .. } => "function killed",
            Fault::TerminateConnections { .. } => "connections terminated",
            Fault::RestartPostgres { .. } => "Postgres restarted",
            Fault::ScheduleTwice { .. } => "schedule delivered twice",
            Fault::EventsRedelivered => "Job Succeeded redelivered",
            Fault::DispatchTwice => "ESR dispatch delivered twice",
        }
    }

    /// 1 to 3 faults, drawn from `seed` alone.
    pub fn plan(seed: u64) -> Vec<Fault> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let heads: Vec<JobName> = graph::heads().iter().map(|n| n.job).collect();
        (0..rng.usize(1..=3))
            .map(|_| match rng.usize(0..6) {
                0 => Fault::KillFunction { after_ms: rng.u64(500..8_000) },
                1 => Fault::TerminateConnections { after_ms: rng.u64(500..8_000) },
                2 => Fault::RestartPostgres { after_ms: rng.u64(500..8_000) },
                3 => Fault::ScheduleTwice { job: heads[rng.usize(0..heads.len())] },
                4 => Fault::EventsRedelivered,
                _ => Fault::DispatchTwice,
            })
            .collect()
    }
}

/// What one iteration found.
#[derive(Debug)]
pub struct Iteration {
    pub seed: u64,
    pub as_of: NaiveDate,
    pub faults: Vec<Fault>,
    pub violations: Vec<String>,
}

/// The deployed local cloud the soak drives (`infra/local/cloud.sh up`'s environment).
pub struct Soak {
    env: BTreeMap<String, String>,
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    eventbridge: aws_sdk_eventbridge::Client,
    db: Session,
    /// Where every job event of the stack is copied (a rule of the soak's own on the bus).
    events: String,
}

const JOB_EVENTS: [&str; 3] = ["Job Succeeded", "Job Failed", "Job Missed"];

impl Soak {
    pub async fn connect(env: BTreeMap<String, String>) -> Soak {
        let config = aws::config_at(&env["TIS_SYNC_MINISTACK_URL"]).await;
        let db = Database::from_url(&env["DATABASE_URL"]).unwrap().connect("tis-sync-soak").await.unwrap();
        let (sqs, eventbridge) = (aws_sdk_sqs::Client::new(&config), aws_sdk_eventbridge::Client::new(&config));
        let name = format!("soak-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let events = aws::queue(&sqs, &name).await;
        let arn = aws::queue_arn(&sqs, &events).await;
        let pattern = json!({"source": ["tis.sync"], "detail-type": JOB_EVENTS});
        aws::route_to_queue(&eventbridge, &env["EVENT_BUS_NAME"], &name, &pattern, &arn).await;
        Soak {
            lambda: aws_sdk_lambda::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
            ),
            sqs,
            eventbridge,
            db,
            events,
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
            .db
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
        let reader = AliasReader::start(
            &self.env["OPENSEARCH_URL"],
            ["PERSONS_INDEX_ALIAS", "POSTS_INDEX_ALIAS"].map(|a| self.env[a].clone()),
        );
        let run = json!({"asOf": as_of.to_string(), "allowDistantAsOf": true});

        // The night: every head as its schedule starts it; the follow-ups by the stack's rules.
        let mut timed = Vec::new();
        for fault in &faults {
            let after = match fault {
                Fault::KillFunction { after_ms }
                | Fault::TerminateConnections { after_ms }
                | Fault::RestartPostgres { after_ms } => *after_ms,
                _ => continue,
            };
            let fault = fault.clone();
            timed.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(after)).await;
                inflict(&fault).await
            }));
        }
        for node in graph::heads() {
            let times = if faults.contains(&Fault::ScheduleTwice { job: node.job }) { 2 } else { 1 };
            for _ in 0..times {
                self.invoke(node.job.as_str(), &run, true).await.unwrap();
            }
        }
        let dispatch = json!({"date": as_of.to_string(), "kind": "app", "allowDistantDate": true});
        let times = if faults.contains(&Fault::DispatchTwice) { 2 } else { 1 };
        let mut violations = Vec::new();
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
        let events = self.job_events().await;
        if faults.contains(&Fault::EventsRedelivered) {
            for event in events.iter().filter(|e| e["detail-type"] == "Job Succeeded") {
                self.redeliver(event).await;
            }
            self.quiesce().await;
        }
        // The watchdog's round (07:00 in AWS): starts what the night missed.
        if let Err(e) = self.invoke("sync-watchdog", &run, false).await {
            violations.push(format!("the watchdog failed: {e}"));
        }
        self.quiesce().await;
        let mut events = events;
        events.extend(self.job_events().await);
        let seen = reader.stop();

        violations.extend(self.ledger_violations(as_of, &events).await);
        violations.extend(self.derived_table_violations(as_of).await);
        violations.extend(self.export_violations().await);
        violations.extend(seen);
        Iteration { seed, as_of, faults, violations }
    }

    /// Waits until no run is running and the export command queue is empty, and has stayed so
    /// for 5 s (a follow-up's event may be on its way), or 4 minutes have passed.
    async fn quiesce(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        let mut quiet_since = None;
        while tokio::time::Instant::now() < deadline {
            let busy = self.busy().await;
            match (busy, quiet_since) {
                (true, _) => quiet_since = None,
                (false, None) => quiet_since = Some(tokio::time::Instant::now()),
                (false, Some(since)) if since.elapsed() >= Duration::from_secs(5) => return,
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
        let queue = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.env["ESR_COMMAND_QUEUE_URL"])
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await;
        let waiting = queue.map(|q| {
            let attributes = q.attributes().cloned().unwrap_or_default();
            ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                .iter()
                .map(|a| {
                    let key = aws_sdk_sqs::types::QueueAttributeName::from(*a);
                    attributes.get(&key).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0)
                })
                .sum::<i64>()
        });
        running > 0 || waiting.unwrap_or(1) > 0
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

    async fn redeliver(&self, event: &Value) {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.env["EVENT_BUS_NAME"])
            .source("tis.sync")
            .detail_type(event["detail-type"].as_str().unwrap_or_default())
            .detail(event["detail"].to_string())
            .build();
        self.eventbridge.put_events().entries(entry).send().await.unwrap();
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

    /// The ESR files: at most one not forced per deanery, kind and date; each kind's numbers
    /// consecutive; every exported record in exactly one file, the one it names; every file
    /// uploaded, the object's bytes the file's.
    async fn export_violations(&self) -> Vec<String> {
        let session = self.fresh().await;
        let c = &session.client;
        let mut violations = Vec::new();
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
async fn inflict(fault: &Fault) -> Result<(), String> {
    match fault {
        Fault::KillFunction { after_ms } => {
            let running = function_processes();
            if running.is_empty() {
                return Ok(());
            }
            let victim = running[(*after_ms as usize) % running.len()];
            std::process::Command::new("kill")
                .args(["-9", &victim.to_string()])
                .status()
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Fault::TerminateConnections { .. } => postgres("terminate"),
        Fault::RestartPostgres { .. } => postgres("restart"),
        _ => Ok(()),
    }
}

/// `infra/local/postgres.sh <fault>`, as the server's superuser.
fn postgres(fault: &str) -> Result<(), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/local/postgres.sh");
    let output = std::process::Command::new(script).arg(fault).output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    output.status.success().then_some(()).ok_or_else(|| format!("postgres.sh {fault}: {stderr}"))
}

/// The functions' processes (each watcher's child, `TIS_SYNC_FUNCTION` in its environment).
fn function_processes() -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let is_function = environ.split(|b| *b == 0).any(|v| v.starts_with(b"TIS_SYNC_FUNCTION="));
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if is_function && !comm.contains("cargo-lambda") {
            pids.push(pid);
        }
    }
    pids.sort();
    pids
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
