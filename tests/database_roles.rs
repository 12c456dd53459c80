//! Each function's database role, as its login reaches it: it can do its function's work, and it
//! cannot write what another function owns (tables, columns, other jobs' ledger rows).

use chrono::Utc;
use integration_tests::{aws, TestDb};
use serde_json::json;
use shared::db::Database;
use shared::esr::export::{Exporter, FileStore};
use shared::esr::intake::{self, IntakeMessage};
use shared::events::EventPublisher;
use shared::runner::{Outcome, Runner};
use shared::watchdog::{CatchUp, Watchdog};
use sync_core::esr::{Command, Kind};
use sync_core::Function;
use sync_core::JobName;
use tokio_postgres::error::SqlState;

use crate::function::{event, run, seeded};

/// A write some function owns: what it does and which functions may do it.
struct Probe {
    what: &'static str,
    sql: &'static str,
    owners: &'static [&'static str],
}

const PERSON_TRUST_JOBS: &[&str] = &["person-placement-employing-body-trust", "person-placement-training-body-trust"];
const POST_TRUST_JOBS: &[&str] = &["post-employing-body-trust", "post-training-body-trust"];

/// Every probe touches rows that exist (the database is seeded and every function has done its
/// work first), so a write that is allowed changes at least one row.
const PROBES: &[Probe] = &[
    Probe { what: "tcs.person_owner", sql: "DELETE FROM tcs.person_owner", owners: &["person-owner-rebuild"] },
    Probe { what: "tcs.person_trust", sql: "DELETE FROM tcs.person_trust", owners: PERSON_TRUST_JOBS },
    Probe { what: "tcs.post_trust", sql: "DELETE FROM tcs.post_trust", owners: POST_TRUST_JOBS },
    Probe {
        what: "a person's record status",
        sql: "UPDATE tcs.person SET status = status, amended_date = now()",
        owners: &["person-record-status"],
    },
    Probe { what: "TCS's own tcs.person", sql: "UPDATE tcs.person SET role = role", owners: &[] },
    Probe {
        what: "a post's funding status",
        sql: "UPDATE tcs.post SET funding_status = funding_status",
        owners: &["post-funding-status"],
    },
    Probe { what: "TCS's own tcs.post", sql: "UPDATE tcs.post SET owner = owner", owners: &[] },
    Probe { what: "TCS's own tcs.post_funding", sql: "DELETE FROM tcs.post_funding", owners: &[] },
    Probe { what: "TCS's own tcs.placement", sql: "DELETE FROM tcs.placement", owners: &[] },
    Probe {
        what: "applicant records' status",
        sql: "UPDATE esr.generated_app_record SET status = status",
        owners: &["esr-export", "esr-intake"],
    },
    Probe {
        what: "applicant records' content",
        sql: "UPDATE esr.generated_app_record SET applicant = applicant",
        owners: &["esr-intake"],
    },
    Probe { what: "esr.export_file", sql: "UPDATE esr.export_file SET uploaded_at = now()", owners: &["esr-export"] },
    Probe {
        what: "the file-number counter",
        sql: "UPDATE esr.file_counter SET last_sequence = last_sequence",
        owners: &["esr-export"],
    },
    Probe { what: "an exported file's content", sql: "UPDATE esr.export_file SET content = content", owners: &[] },
    Probe { what: "esr.deanery", sql: "UPDATE esr.deanery SET active = active", owners: &[] },
    Probe {
        what: "person-owner-rebuild's ledger rows",
        sql: "UPDATE sync.job_run SET error = 'forged' WHERE job = 'person-owner-rebuild'",
        owners: &["person-owner-rebuild"],
    },
    Probe {
        what: "a forged Job Succeeded row for post-training-body-trust",
        sql: "INSERT INTO sync.job_run (run_id, job, trigger, as_of, follow_ups, status)
              VALUES (gen_random_uuid(), 'post-training-body-trust', 'manual', current_date, true, 'succeeded')",
        owners: &["post-training-body-trust"],
    },
    Probe {
        what: "another job's pause",
        sql: "INSERT INTO sync.job_pause (job, reason) VALUES ('person-owner-rebuild', 'probe')",
        owners: &["person-owner-rebuild"],
    },
    Probe { what: "the migrations' record", sql: "DELETE FROM sync.schema_migration", owners: &[] },
    Probe { what: "a new table", sql: "CREATE TABLE tcs.probe (id int)", owners: &[] },
];

/// The function's login in the test's database, made the way `tis-sync logins` makes it.
async fn login(db: &TestDb, function: Function, environment: &str) -> Database {
    let admin = db.client().await;
    let login = shared::logins::grant(&admin.client, function, environment).await.unwrap();
    let mut config = db.database.config();
    config.user(&login.username).password(login.password);
    let local_ca = shared::config::database_ca(&shared::config::environment);
    Database::trusting(config, shared::db::trusted_roots(local_ca.as_deref()).unwrap()).unwrap()
}

struct NoteCatchUp;

impl CatchUp for NoteCatchUp {
    async fn start(&self, job: JobName, _as_of: chrono::NaiveDate) -> shared::Result<String> {
        Ok(format!("would start {job}"))
    }
}

/// Does the function's own work as its role; panics when a grant it needs is missing. Every
/// function answers the preflight's probe, which compares its role's grants with what the
/// migrations recorded: it may read both.
async fn work(db: &TestDb, function: Function, database: Database) {
    let name = function.name();
    let session = database.connect("tis-sync-test:role").await.unwrap();
    let role = function.database_role().unwrap();
    let grants = shared::preflight::grants_check(&session.client, name, &role).await;
    assert!(grants.passed, "{name}: {grants:?}");
    match function {
        Function::Job(job) => {
            let mut runner = Runner::new(database, EventPublisher::disabled());
            if matches!(job, JobName::PersonElasticsearchSync | JobName::PostElasticsearchSync) {
                runner = integration_tests::with_search(db, runner);
            }
            if sync_core::reval::FEEDS.contains(&job) {
                runner = runner.with_reval_feed(integration_tests::reval_queue().await.0);
            }
            let summary = run(&runner, job, json!({"followUps": false})).await;
            assert_eq!(summary.status, Outcome::Succeeded, "{name}: {summary:?}");
            let pause = run_pause(&runner, job).await;
            assert!(pause, "{name} pauses and resumes itself");
        }
        Function::EsrIntake => {
            let session = database.connect("tis-sync-test:role").await.unwrap();
            let message = IntakeMessage::parse(
                &json!({"kind": "app", "record": {
                    "id": 990001, "placementId": 990001, "deanery": "LDN", "positionNumber": "P1",
                    "startDate": (Utc::now().date_naive() + chrono::Days::new(10)).to_string(),
                    "applicant": {"lastName": "Role"},
                    "changedAt": "2021-07-30T10:00:00Z"
                }})
                .to_string(),
            )
            .unwrap();
            intake::apply(&session.client, &message).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        Function::EsrExport => {
            let config = aws::config().await;
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
            );
            let bucket = format!("roles-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
            let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                .build();
            s3.create_bucket().bucket(&bucket).create_bucket_configuration(location).send().await.unwrap();
            let exporter =
                Exporter::new(database, FileStore::new(s3, bucket, "exports/".into()), EventPublisher::disabled());
            let command = Command {
                deanery: "LDN".into(),
                date: Utc::now().date_naive(),
                kind: Kind::App,
                force: false,
                command_id: Some(uuid::Uuid::new_v4().to_string()),
            };
            let file = exporter.export(&command).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(file.records > 0, "{name}: the intake's record waited to be exported");
        }
        Function::EsrExportDispatch => {
            let session = database.connect("tis-sync-test:role").await.unwrap();
            let active: i64 = session
                .client
                .query_one("SELECT count(*) FROM esr.deanery WHERE active", &[])
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .get(0);
            assert_eq!(active, 13);
        }
        Function::SyncWatchdog => {
            let events = EventPublisher::disabled();
            let watchdog = Watchdog {
                db: &database,
                events: &events,
                catch_up: &NoteCatchUp,
                metrics: None,
                dispatches: Default::default(),
                jobs: sync_core::JobName::ALL.to_vec(),
            };
            watchdog.check(Utc::now().date_naive(), Utc::now()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        Function::SyncMigrate => unreachable!("{name} has no role of its own"),
        // Its own database work is reading the TCS tables' catalog (its grants are below, as
        // every function's).
        Function::SyncPreflight => {
            let session = database.connect("tis-sync-test:role").await.unwrap();
            shared::migrate::check_tcs(&session.client).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        Function::SyncStatus => {
            let session = database.connect("tis-sync-test:role").await.unwrap();
            let status = shared::status::status(&session.client, Utc::now().date_naive(), None, None)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!status.jobs.is_empty(), "{name} reads the ledger");
        }
    }
}

async fn run_pause(runner: &Runner, job: JobName) -> bool {
    let paused = functions::handle(runner, job, event(json!({"pause": "role check"}))).await;
    let resumed = functions::handle(runner, job, event(json!({"resume": true}))).await;
    paused.is_ok() && resumed.is_ok()
}

/// Whether the probe's write went through: an error other than a refused privilege (or row
/// security) is a broken probe, not a refusal.
async fn wrote(database: &Database, probe: &Probe) -> bool {
    let mut session = database.connect("tis-sync-test:probe").await.unwrap();
    let tx = session.client.transaction().await.unwrap();
    let outcome = tx.execute(probe.sql, &[]).await;
    tx.rollback().await.unwrap();
    match outcome {
        Ok(rows) => rows > 0,
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => false,
        Err(e) => panic!("probe {}: {e:?}", probe.what),
    }
}

#[tokio::test]
async fn each_function_role_does_its_work_and_writes_nothing_it_does_not_own() {
    let db = seeded().await;
    let environment = format!("probe_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut logins = Vec::new();
    // Intake before export (the record it takes in is what the exporter then exports).
    // sync-migrate has no role: it applies the migrations as the owner (the cloud test invokes it).
    let with_roles = Function::all().filter(|f| f.database_role().is_some());
    let order = with_roles.filter(|f| *f != Function::EsrExport).chain([Function::EsrExport]);
    for function in order {
        let database = login(&db, function, &environment).await;
        work(&db, function, database.clone()).await;
        logins.push((function, database));
    }
    let mut wrong = Vec::new();
    for (function, database) in &logins {
        for probe in PROBES {
            let owns = probe.owners.contains(&function.name());
            if wrote(database, probe).await != owns {
                wrong.push(format!("{function} {} {}", if owns { "cannot write" } else { "can write" }, probe.what));
            }
        }
    }
    let admin = db.client().await;
    for (function, _) in &logins {
        let login = shared::logins::login_name(*function, &environment).unwrap();
        admin.client.batch_execute(&format!("DROP ROLE \"{login}\"")).await.unwrap();
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
