//! Shared test support: a fresh (usually migrated) Postgres database per test (on the server `make test`
//! starts), fixtures, and helpers to watch and interfere with job connections.

use std::time::Duration;

use chrono::NaiveDate;
use shared::db::{Database, Session};
use shared::events::EventPublisher;
use shared::retry::RetryPolicy;

use shared::runner::Runner;
use tokio_postgres::Client;

/// The admin connection string tests create their databases with.
pub fn admin_url() -> String {
    std::env::var("TIS_SYNC_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .expect("TIS_SYNC_TEST_DATABASE_URL (or DATABASE_URL) must name a Postgres the tests can create databases on: run the tests through `make test`")
}

/// A database of its own for one test, migrated, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub database: Database,
}

impl TestDb {
    /// Migrated, with the TCS fixture.
    pub async fn new() -> TestDb {
        let db = TestDb::empty().await;
        let mut session = db.database.connect("tis-sync-test:migrate").await.unwrap();
        shared::migrate::migrate(&mut session.client, shared::migrate::TcsTables::Fixture)
            .await
            .expect("migrations apply");
        db
    }

    /// Nothing in it: not even the TCS tables.
    pub async fn empty() -> TestDb {
        let admin = Database::from_url(&admin_url()).expect("admin url parses");
        let name = format!("tis_sync_test_{}", uuid::Uuid::new_v4().simple());
        let session = admin.connect("tis-sync-test:admin").await.expect("connect to the test Postgres");
        session.client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
        let url = with_database(&admin_url(), &name);
        let database = Database::from_url(&url).unwrap();
        TestDb { name, url, database }
    }

    pub async fn client(&self) -> Session {
        self.database.connect("tis-sync-test").await.expect("connect to the test database")
    }

    /// A runner with no event bus and quick retries.
    pub fn runner(&self) -> Runner {
        Runner::new(self.database.clone(), EventPublisher::disabled()).with_retry_policy(quick_retries())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop the database from a plain thread: Drop cannot await, and the test's runtime may be
        // shutting down. Failures only leave a database that `make test` sweeps up next time.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(admin) = Database::from_url(&admin_url()) {
                    if let Ok(session) = admin.connect("tis-sync-test:admin").await {
                        let _ =
                            session.client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    }
                }
            })
        })
        .join();
    }
}

pub use shared::db::with_database;

pub fn quick_retries() -> RetryPolicy {
    RetryPolicy { max_attempts: 3, first_delay: Duration::from_millis(50), max_delay: Duration::from_millis(200) }
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Terminates every backend whose application_name is `name`; returns how many.
pub async fn terminate(client: &Client, name: &str) -> i64 {
    client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

/// Waits until a backend named `name` is waiting for a lock (so a job is mid-transaction) and
/// returns its pid.
pub async fn wait_until_blocked(client: &Client, name: &str) -> i32 {
    for _ in 0..400 {
        let pid: Option<i32> = client
            .query_one(
                "SELECT min(pid) FROM pg_stat_activity
                 WHERE application_name = $1 AND datname = current_database() AND wait_event_type = 'Lock'",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no backend named {name} became blocked on a lock within 10 s");
}

/// Kills the next backend named `name` that blocks on a lock, and waits until it is gone, so a
/// following wait sees only a new attempt.
pub async fn kill_when_blocked(client: &Client, name: &str) {
    let pid = wait_until_blocked(client, name).await;
    let _: bool = client.query_one("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap().get(0);
    for _ in 0..400 {
        let alive: bool = client
            .query_one("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("backend {pid} did not end within 10 s of being terminated");
}

pub mod black_hole;
pub mod fault_proxy;
pub mod soak;

/// Small builders for hand-made TCS rows.
pub mod fixtures {
    use tokio_postgres::Client;

    pub async fn person(c: &Client, id: i64) {
        c.execute("INSERT INTO tcs.person (id, status) VALUES ($1, 'CURRENT')", &[&id]).await.unwrap();
    }

    pub async fn programme(c: &Client, id: i64, owner: Option<&str>) {
        c.execute(
            "INSERT INTO tcs.programme (id, owner, programme_name, programme_number, status)
             VALUES ($1, $2, $3, $4, 'CURRENT')",
            &[&id, &owner, &format!("Programme {id}"), &format!("PRG{id}")],
        )
        .await
        .unwrap();
    }

    /// A membership with a chosen uuid (its last hex digits), so tie-break order is known, and
    /// one curriculum membership (id = `uuid_suffix`), as nearly every real membership has.
    pub async fn membership(
        c: &Client,
        uuid_suffix: u32,
        person: i64,
        programme: i64,
        start: Option<&str>,
        end: Option<&str>,
    ) {
        let uuid = uuid::Uuid::parse_str(&format!("00000000-0000-0000-0000-{uuid_suffix:012}")).unwrap();
        c.execute(
            "INSERT INTO tcs.programme_membership
               (uuid, person_id, programme_id, programme_start_date, programme_end_date, programme_membership_type)
             VALUES ($1, $2, $3, $4::text::date, $5::text::date, 'SUBSTANTIVE')",
            &[&uuid, &person, &programme, &start, &end],
        )
        .await
        .unwrap();
        c.execute(
            "INSERT INTO tcs.curriculum_membership (id, programme_membership_uuid, curriculum_id) VALUES ($1, $2, 1)",
            &[&(uuid_suffix as i64), &uuid],
        )
        .await
        .unwrap();
    }

    pub async fn post(c: &Client, id: i64, owner: Option<&str>, employing: Option<i64>, training: Option<i64>) {
        c.execute(
            "INSERT INTO tcs.post (id, owner, employing_body_id, training_body_id, status)
             VALUES ($1, $2, $3, $4, 'CURRENT')",
            &[&id, &owner, &employing, &training],
        )
        .await
        .unwrap();
    }

    pub async fn placement(
        c: &Client,
        id: i64,
        trainee: Option<i64>,
        post: Option<i64>,
        from: Option<&str>,
        to: Option<&str>,
        lifecycle: &str,
    ) {
        c.execute(
            "INSERT INTO tcs.placement (id, trainee_id, post_id, date_from, date_to, lifecycle_state)
             VALUES ($1, $2, $3, $4::text::date, $5::text::date, $6)",
            &[&id, &trainee, &post, &from, &to, &lifecycle],
        )
        .await
        .unwrap();
    }
}

/// The OpenSearch-API server of this test process: one `osmem-server`, started on first use on
/// a free port of 127.0.0.1, ending when the test process does (it exits when its stdin closes).
pub mod search_server {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Mutex, OnceLock};

    static SERVER: OnceLock<(Mutex<Child>, String)> = OnceLock::new();

    fn binary() -> String {
        if let Ok(path) = std::env::var("TIS_SYNC_OSMEM") {
            return path;
        }
        let home = std::env::var("HOME").unwrap_or_default();
        let cache = std::env::var("XDG_CACHE_HOME").unwrap_or(format!("{home}/.cache"));
        format!("{cache}/tis-sync/tools/osmem/bin/osmem-server")
    }

    /// The server's base URL (http://127.0.0.1:PORT).
    pub fn url() -> String {
        SERVER
            .get_or_init(|| {
                let path = binary();
                let mut child = Command::new(&path)
                    .args(["-addr", "127.0.0.1:0"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start osmem-server at {path} ({e}): run the tests through `make test`, which installs it"));
                let mut first = String::new();
                BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
                let banner: serde_json::Value = serde_json::from_str(&first)
                    .unwrap_or_else(|e| panic!("osmem-server's first line is not its JSON banner ({e}): {first}"));
                let url = banner["url"].as_str().expect("the banner names the url").to_string();
                (Mutex::new(child), url)
            })
            .1
            .clone()
    }
}

/// template.yaml, parsed as it is (CloudFormation tags such as !Ref and !GetAtt kept).
pub mod template {
    use serde_norway::Value;

    pub fn load() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml is readable");
        serde_norway::from_str(&text).expect("template.yaml is valid YAML")
    }

    /// The Serverless functions: (logical id, definition).
    pub fn functions(template: &Value) -> Vec<(String, Value)> {
        resources_of_type(template, "AWS::Serverless::Function")
    }

    pub fn resources_of_type(template: &Value, kind: &str) -> Vec<(String, Value)> {
        template["Resources"]
            .as_mapping()
            .expect("Resources")
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(kind))
            .map(|(k, r)| (k.as_str().unwrap().to_string(), r.clone()))
            .collect()
    }

    /// The function a definition deploys, by the name its `TIS_SYNC_FUNCTION` gives the one
    /// binary (its job name for job functions).
    pub fn function_name(function: &Value) -> String {
        function["Properties"]["Environment"]["Variables"][sync_core::function::FUNCTION_VARIABLE]
            .as_str()
            .expect("TIS_SYNC_FUNCTION")
            .to_string()
    }

    /// `(event name, event)` of a function, of the given type.
    pub fn events(function: &Value, kind: &str) -> Vec<(String, Value)> {
        function["Properties"]["Events"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .filter(|(_, e)| e["Type"].as_str() == Some(kind))
                    .map(|(k, e)| (k.as_str().unwrap().to_string(), e.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A tagged value's tag and inner value, e.g. `!GetAtt X.Arn` -> ("GetAtt", "X.Arn").
    pub fn tagged(value: &Value) -> Option<(String, Value)> {
        match value {
            Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_string(), t.value.clone())),
            _ => None,
        }
    }

    /// The YAML value as JSON (for event patterns).
    pub fn to_json(value: &Value) -> serde_json::Value {
        serde_json::to_value(value).expect("plain YAML converts to JSON")
    }

    /// The template in CloudFormation's JSON form, each short tag in its long form (`!Ref X` is
    /// `{"Ref": "X"}`, `!Condition C` is `{"Condition": "C"}`, `!GetAtt A.B` is
    /// `{"Fn::GetAtt": ["A", "B"]}`, any other `!F v` is `{"Fn::F": v}`). The local deploy sends
    /// this, so template.yaml is read by one YAML parser here (and by SAM's own tools).
    pub fn cloudformation_json(value: &Value) -> serde_json::Value {
        use serde_json::Value as Json;
        match value {
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let tag = tag.trim_start_matches('!');
                let inner = match (tag, &tagged.value) {
                    ("GetAtt", Value::String(target)) => {
                        let (resource, attribute) =
                            target.split_once('.').unwrap_or_else(|| panic!("!GetAtt {target} names no attribute"));
                        serde_json::json!([resource, attribute])
                    }
                    (_, inner) => cloudformation_json(inner),
                };
                let key = match tag {
                    "Ref" | "Condition" => tag.to_string(),
                    function => format!("Fn::{function}"),
                };
                Json::Object([(key, inner)].into_iter().collect())
            }
            Value::Mapping(mapping) => Json::Object(
                mapping
                    .iter()
                    .map(|(k, v)| {
                        let key = k.as_str().unwrap_or_else(|| panic!("template key {k:?} is not a string"));
                        (key.to_string(), cloudformation_json(v))
                    })
                    .collect(),
            ),
            Value::Sequence(items) => Json::Array(items.iter().map(cloudformation_json).collect()),
            plain => to_json(plain),
        }
    }
}

/// `runner` with the person and post indexes on this process's OpenSearch-API server, under an alias of
/// the test's own (one per index).
pub fn with_search(_db: &TestDb, runner: Runner) -> Runner {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    runner.with_search(shared::search::Search {
        index: shared::search::OpenSearchIndex::connect(&search_server::url(), None).unwrap(),
        domain: None,
        persons: shared::search::IndexTarget::new(format!("persons_{}", &unique[..12])),
        posts: shared::search::IndexTarget::new(format!("posts_{}", &unique[..12])),
    })
}

/// A queue of the test's own on the local AWS for the revalidation feeds (its URL and a client).
pub async fn reval_queue() -> (shared::jobs::reval_feed::RevalFeed, String, aws_sdk_sqs::Client) {
    let sqs = aws_sdk_sqs::Client::new(&aws::config().await);
    let url = aws::queue(&sqs, &format!("reval-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).await;
    (shared::jobs::reval_feed::RevalFeed::Queue(shared::queue::Queue::new(sqs.clone(), url.clone())), url, sqs)
}

/// The test cloud's RabbitMQ (`make test` starts it: infra/local/rabbitmq.sh). The tests use its
/// vhost `tests`, which holds TIS's revalidation topology as `/` does for the cloud's functions,
/// and its logins: `tis-sync` publishes, `tcs` reads TCS's queue, `tis-sync-tests` declares
/// what a test needs of its own.
pub mod rabbitmq {
    use lapin::options::BasicGetOptions;
    use lapin::{Connection, ConnectionProperties};
    use shared::broker::Broker;
    use shared::jobs::reval_feed::RevalFeed;

    pub const PUBLISHER: (&str, &str) = ("tis-sync", "tis-sync-local");
    pub const TCS: (&str, &str) = ("tcs", "tcs-local");
    pub const ADMIN: (&str, &str) = ("tis-sync-tests", "tis-sync-tests-local");

    /// `amqps://<login>@localhost:<port>/tests`.
    pub fn url((user, password): (&str, &str)) -> String {
        let address = super::cloud_env().remove("TIS_SYNC_BROKER_ADDRESS").expect("cloud.env names the broker");
        format!("amqps://{user}:{password}@{address}/tests")
    }

    /// The local CA the broker's certificate is signed by.
    pub fn ca_file() -> String {
        super::cloud_env().remove("REVAL_BROKER_CA_FILE").expect("cloud.env names the broker's CA")
    }

    /// The feed as the functions publish it, as `tis-sync`, to `exchange` with `routing_key`.
    pub fn feed(exchange: &str, routing_key: &str) -> RevalFeed {
        let broker = Broker::new(&url(PUBLISHER), None, Some(&ca_file()), exchange.into(), routing_key.into()).unwrap();
        RevalFeed::Broker(Box::new(broker))
    }

    pub async fn connect(login: (&str, &str)) -> Connection {
        let tls = lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: Some(std::fs::read_to_string(ca_file()).unwrap()),
        };
        let runtime = lapin::runtime::default_runtime().unwrap();
        Connection::connect_with_config(&url(login), ConnectionProperties::default(), tls, runtime)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test broker as {}: {e}", login.0))
    }

    /// Every message waiting on `queue`, taken (acknowledged) one by one, as `login`.
    pub async fn drain(login: (&str, &str), queue: &str) -> Vec<lapin::message::Delivery> {
        let connection = connect(login).await;
        let channel = connection.create_channel().await.unwrap();
        let mut taken = Vec::new();
        while let Some(message) = channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            taken.push(message.delivery);
        }
        connection.close(200, "drained".into()).await.unwrap();
        taken
    }
}

impl TestDb {
    /// A runner publishing to a real bus (follow-ups by events, as the functions do).
    pub fn runner_with_events(&self, events: EventPublisher) -> Runner {
        Runner::new(self.database.clone(), events).with_retry_policy(quick_retries())
    }
}

/// The local AWS emulator (ministack) that `make test` starts: SDK configuration and helpers.
pub mod aws {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use std::time::Duration;

    pub fn endpoint() -> String {
        std::env::var("TIS_SYNC_MINISTACK_URL")
            .expect("TIS_SYNC_MINISTACK_URL must name the local AWS emulator: run the tests through `make test`, which starts it")
    }

    pub async fn config() -> SdkConfig {
        config_at(&endpoint()).await
    }

    pub async fn config_at(endpoint: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("eu-west-2"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await
    }

    pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
        sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_string()
    }

    pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone()
    }

    /// A new bus whose events `pattern` matches go to a new queue: (the bus's client, the bus,
    /// the queue's client, the queue's URL).
    pub async fn bus_routed_to_a_queue(
        pattern: &serde_json::Value,
    ) -> (aws_sdk_eventbridge::Client, String, aws_sdk_sqs::Client, String) {
        let config = config().await;
        let eventbridge = aws_sdk_eventbridge::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let bus = format!("tis-sync-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        eventbridge.create_event_bus().name(&bus).send().await.unwrap();
        let queue_url = queue(&sqs, &format!("{bus}-events")).await;
        let arn = queue_arn(&sqs, &queue_url).await;
        route_to_queue(&eventbridge, &bus, &format!("{bus}-rule"), pattern, &arn).await;
        (eventbridge, bus, sqs, queue_url)
    }

    /// A rule named `rule` on `bus` that sends what `pattern` matches to the queue `queue_arn`.
    pub async fn route_to_queue(
        eventbridge: &aws_sdk_eventbridge::Client,
        bus: &str,
        rule: &str,
        pattern: &serde_json::Value,
        queue_arn: &str,
    ) {
        eventbridge.put_rule().name(rule).event_bus_name(bus).event_pattern(pattern.to_string()).send().await.unwrap();
        eventbridge
            .put_targets()
            .rule(rule)
            .event_bus_name(bus)
            .targets(aws_sdk_eventbridge::types::Target::builder().id("queue").arn(queue_arn).build().unwrap())
            .send()
            .await
            .unwrap();
    }

    /// Receives and deletes every message of the queue, parsed as JSON (see `drain_raw`).
    pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<serde_json::Value> {
        drain_raw(sqs, url, expected).await.iter().map(|body| serde_json::from_str(body).unwrap()).collect()
    }

    /// Receives and deletes every message of the queue: waits until `expected` have arrived (or
    /// 10 s), then until the queue stays empty for a second.
    pub async fn drain_raw(sqs: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<String> {
        let mut messages = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let answer = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let batch = answer.messages();
            for message in batch {
                messages.push(message.body().unwrap_or_default().to_string());
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            if batch.is_empty() && (messages.len() >= expected || tokio::time::Instant::now() > deadline) {
                return messages;
            }
        }
    }
}

/// What this thread logs from now until the returned value is dropped (JSON lines, every
/// level): `#[tokio::test]` runs the test on one thread, so this sees everything it does.
pub fn capture_logs() -> Logs {
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || LogWriter(writer.clone()))
        .finish();
    Logs { buffer, _guard: tracing::subscriber::set_default(subscriber) }
}

pub struct Logs {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The local cloud's settings (`make test` deploys it and names the file in TIS_SYNC_CLOUD_ENV).
pub fn cloud_env() -> std::collections::BTreeMap<String, String> {
    let path = std::env::var("TIS_SYNC_CLOUD_ENV").expect(
        "TIS_SYNC_CLOUD_ENV must name the local cloud's env file: run the tests through `make test`, which deploys it",
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}
