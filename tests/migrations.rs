//! Migrations as a real deployment meets them: in AWS the TCS tables are TCS's, so migrate
//! checks them and creates none (naming each one missing, writing nothing); locally the fixture
//! creates exactly what the jobs use (the list in sync_core::tcs).

use std::collections::BTreeSet;

use integration_tests::TestDb;
use shared::migrate::{self, TcsTables, MIGRATIONS, TCS_FIXTURE};
use shared::runner::RunRequest;
use sync_core::tcs::TABLES;
use sync_core::JobName;
use tokio_postgres::Client;

async fn schemas(c: &Client) -> BTreeSet<String> {
    let rows =
        c.query("SELECT nspname::text FROM pg_namespace WHERE nspname IN ('tcs', 'sync', 'esr')", &[]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn tcs_columns(c: &Client) -> BTreeSet<(String, String)> {
    let rows = c
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'tcs'",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test]
async fn on_a_database_without_the_tcs_tables_migrate_names_every_one_and_writes_nothing() {
    let db = TestDb::empty().await;
    let mut session = db.client().await;
    let error = migrate::migrate(&mut session.client, TcsTables::Existing).await.unwrap_err().to_string();
    let every_table: Vec<String> = TABLES.iter().map(|t| format!("tcs.{}", t.name)).collect();
    assert_eq!(
        error,
        format!(
            "configuration: the TCS database lacks 20 of what the jobs read or write: {}; nothing was migrated",
            every_table.join(", ")
        )
    );
    assert_eq!(schemas(&session.client).await, BTreeSet::new(), "nothing was written");
}

#[tokio::test]
async fn a_tcs_database_missing_a_column_and_a_table_is_refused_naming_exactly_those() {
    let db = TestDb::empty().await;
    let mut session = db.client().await;
    session.client.batch_execute(TCS_FIXTURE.sql).await.unwrap();
    session
        .client
        .batch_execute("ALTER TABLE tcs.post DROP COLUMN intrepid_id; DROP TABLE tcs.programme_post;")
        .await
        .unwrap();
    let error = migrate::migrate(&mut session.client, TcsTables::Existing).await.unwrap_err().to_string();
    assert!(
        error.ends_with(
            "lacks 2 of what the jobs read or write: tcs.post.intrepid_id, tcs.programme_post; nothing was migrated"
        ),
        "{error}"
    );
    assert_eq!(schemas(&session.client).await, BTreeSet::from(["tcs".to_string()]), "only TCS's own schema");

    // Once TCS has them, the same call applies every project migration, and creates no TCS table.
    session
        .client
        .batch_execute(
            "ALTER TABLE tcs.post ADD COLUMN intrepid_id text;
             CREATE TABLE tcs.programme_post (id bigint PRIMARY KEY, post_id bigint NOT NULL, programme_id bigint);",
        )
        .await
        .unwrap();
    let tables_before: i64 =
        session.client.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'tcs'", &[]).await.unwrap().get(0);
    let applied = migrate::migrate(&mut session.client, TcsTables::Existing).await.unwrap();
    assert_eq!(applied, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
    let tables_after: i64 =
        session.client.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'tcs'", &[]).await.unwrap().get(0);
    assert_eq!(tables_after, tables_before);
    assert_eq!(migrate::migrate(&mut session.client, TcsTables::Existing).await.unwrap(), Vec::<&str>::new());
}

#[tokio::test]
async fn the_fixture_creates_exactly_the_tables_and_columns_the_jobs_use() {
    let db = TestDb::empty().await;
    let session = db.client().await;
    session.client.batch_execute(TCS_FIXTURE.sql).await.unwrap();
    let listed: BTreeSet<(String, String)> =
        TABLES.iter().flat_map(|t| t.columns.iter().map(|c| (t.name.to_string(), c.to_string()))).collect();
    assert_eq!(tcs_columns(&session.client).await, listed);
}

#[tokio::test]
async fn with_the_fixture_an_empty_database_gets_the_tcs_tables_then_every_migration() {
    let db = TestDb::empty().await;
    let mut session = db.client().await;
    let applied = migrate::migrate(&mut session.client, TcsTables::Fixture).await.unwrap();
    let mut expected = vec![TCS_FIXTURE.version];
    expected.extend(MIGRATIONS.iter().map(|m| m.version));
    assert_eq!(applied, expected);
    assert_eq!(schemas(&session.client).await, BTreeSet::from(["tcs", "sync", "esr"].map(String::from)));
    // The project's one column on TCS's tables.
    let columns = tcs_columns(&session.client).await;
    assert!(columns.contains(&("person_trust".into(), "source".into())), "{columns:?}");
    assert_eq!(migrate::migrate(&mut session.client, TcsTables::Fixture).await.unwrap(), Vec::<&str>::new());
}

/// TCS's PersonTrust and PostTrust as they are (V3.75__trust_admin.sql: an auto-increment `id`,
/// nullable `trustCode` and `trustName`, no unique key), holding what TIS-SYNC's jobs wrote for
/// TIS-SYNC's own test data: its posts.sql (posts 1..10; eight whose employing and training
/// bodies are one trust, two with no training body) and placements.sql (placement 1 on post 1
/// for person 1, 2 on post 2 for person 2, 3 on 3 for 2, 4 on 4 for 1, 5 on 5 for 3). The
/// employing-body job and then the training-body job each inserted their pairs, so a pair whose
/// two bodies are the same trust is there twice.
async fn tcs_trust_links_as_tis_sync_left_them(c: &Client) {
    c.batch_execute(
        "ALTER TABLE tcs.person_trust ADD COLUMN trust_code text, ADD COLUMN trust_name text;
         ALTER TABLE tcs.post_trust ADD COLUMN trust_code text, ADD COLUMN trust_name text;
         INSERT INTO tcs.post (id, national_post_number, status, employing_body_id, training_body_id, owner) VALUES
           (1, 'XXX/XXX03/080/XXX/015S', 'INACTIVE', 1411, 1411, 'Health Education England North West London'),
           (2, 'XXX/XXX01/080/XXX/001', 'CURRENT', 1239, NULL, 'Health Education England North West London'),
           (3, 'XXX/XXX01/020/XXX/004', 'CURRENT', 1389, NULL, 'Health Education England South London'),
           (4, 'YYY/YYY30/024/YYY/001', 'CURRENT', 1901, 1901, 'Health Education England Yorkshire and the Humber'),
           (5, 'YYY/YYY01/011/YYY/002', 'CURRENT', 785, 785, 'Health Education England Wessex'),
           (6, 'ZZZ/ZZ801/052/ZZ2/002', 'INACTIVE', 329, 329, 'Health Education England Yorkshire and the Humber'),
           (7, 'ZZZ/ZZZ01/021/ZZ1/010', 'INACTIVE', 724, 724, 'Health Education England Yorkshire and the Humber'),
           (8, 'ZZZ/ZZZ01/006/ZZ1/001', 'CURRENT', 1922, 1922, 'Health Education England Yorkshire and the Humber'),
           (9, 'AAA/A82647/800/AAAAA/001A', 'CURRENT', 227, 227, 'Health Education England North West'),
           (10, 'AAA/AAJ01/094/AAAAA/002', 'CURRENT', 287, 287, 'Health Education England East of England');
         INSERT INTO tcs.person (id) VALUES (1), (2), (3);
         INSERT INTO tcs.placement (id, date_from, date_to, post_id, site_code, grade_abbreviation, placement_type, status, site_id, grade_id, trainee_id, lifecycle_state) VALUES
           (1, '2018-03-05', '2019-03-04', 1, 'RYW21', 'ST1', 'In post', 'CURRENT', 2217, 306, 1, 'APPROVED'),
           (2, '2019-03-05', '2020-03-04', 2, 'RYW21', 'ST2', 'In post', 'CURRENT', 2217, 288, 2, 'APPROVED'),
           (3, '2018-02-07', '2018-07-31', 3, 'RR800', 'CT1', 'In post', 'CURRENT', 3030, 318, 2, 'APPROVED'),
           (4, '2020-03-05', '2021-03-04', 4, 'RYW21', 'ST3', 'In post', 'CURRENT', 2217, 308, 1, 'APPROVED'),
           (5, '2018-02-07', '2018-07-31', 5, 'RXF00', 'CT2', 'In post', 'CURRENT', 1910, 282, 3, 'APPROVED');
         INSERT INTO tcs.post_trust (post_id, trust_id) SELECT id, employing_body_id FROM tcs.post;
         INSERT INTO tcs.post_trust (post_id, trust_id) SELECT id, training_body_id FROM tcs.post WHERE training_body_id IS NOT NULL;
         INSERT INTO tcs.person_trust (person_id, trust_id)
           SELECT pl.trainee_id, p.employing_body_id FROM tcs.placement pl JOIN tcs.post p ON p.id = pl.post_id;
         INSERT INTO tcs.person_trust (person_id, trust_id)
           SELECT pl.trainee_id, p.training_body_id FROM tcs.placement pl JOIN tcs.post p ON p.id = pl.post_id
            WHERE p.training_body_id IS NOT NULL;",
    )
    .await
    .unwrap();
}

async fn link_rows(c: &Client, table: &str) -> (i64, BTreeSet<(i64, i64)>) {
    let subject = if table == "person_trust" { "person_id" } else { "post_id" };
    let rows = c.query(&format!("SELECT {subject}, trust_id FROM tcs.{table}"), &[]).await.unwrap();
    (rows.len() as i64, rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[tokio::test]
async fn the_first_migration_keys_real_trust_links_keeping_every_pair_and_builds_valid_indexes() {
    let db = TestDb::empty().await;
    let mut session = db.client().await;
    session.client.batch_execute(TCS_FIXTURE.sql).await.unwrap();
    tcs_trust_links_as_tis_sync_left_them(&session.client).await;
    let (post_rows, post_pairs) = link_rows(&session.client, "post_trust").await;
    let (person_rows, person_pairs) = link_rows(&session.client, "person_trust").await;
    assert_eq!((post_rows, post_pairs.len()), (18, 10), "eight posts' pairs are there twice");
    assert_eq!((person_rows, person_pairs.len()), (8, 5), "three persons' pairs are there twice");

    let applied = migrate::migrate(&mut session.client, TcsTables::Existing).await.unwrap();
    assert_eq!(applied, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
    // Each pair once, and the same pairs: readers see what they saw.
    assert_eq!(link_rows(&session.client, "post_trust").await, (10, post_pairs.clone()));
    assert_eq!(link_rows(&session.client, "person_trust").await, (5, person_pairs));
    let indexes: Vec<(String, bool)> = session
        .client
        .query(
            "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE c.relname IN ('person_trust_link', 'post_trust_link') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(indexes, [("person_trust_link".to_string(), true), ("post_trust_link".to_string(), true)]);

    // The jobs then write into TCS's tables as they are, leaving `id` and the trust's code and
    // name to TCS's defaults, and the pairs stay the same.
    let runner = db.runner();
    for job in [JobName::PostEmployingBodyTrust, JobName::PostTrainingBodyTrust] {
        let mut request = RunRequest::manual(job);
        request.follow_ups = false;
        runner.run(request).await.unwrap_or_else(|e| panic!("{job}: {e}"));
    }
    let by_source: Vec<(String, i64)> = session
        .client
        .query("SELECT source, count(*) FROM tcs.post_trust GROUP BY source ORDER BY source", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(by_source, [("employing-body".to_string(), 10), ("training-body".to_string(), 8)]);
    assert_eq!(link_rows(&session.client, "post_trust").await.1, post_pairs);
}

#[tokio::test]
async fn a_unique_index_left_invalid_by_a_failed_build_is_built_again() {
    let db = TestDb::empty().await;
    let mut session = db.client().await;
    session.client.batch_execute(TCS_FIXTURE.sql).await.unwrap();
    // What a build that failed half-way leaves: the index, INVALID, and no history row.
    session
        .client
        .batch_execute(
            "ALTER TABLE tcs.post_trust ADD COLUMN source text NOT NULL DEFAULT 'employing-body';
             INSERT INTO tcs.post_trust (post_id, trust_id) VALUES (1, 7), (1, 7);",
        )
        .await
        .unwrap();
    let failed = session
        .client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY post_trust_link ON tcs.post_trust (post_id, trust_id, source)")
        .await;
    assert!(failed.is_err(), "the duplicate fails the build");
    let valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'tcs.post_trust_link'::regclass";
    assert!(!session.client.query_one(valid, &[]).await.unwrap().get::<_, bool>(0), "left INVALID");

    migrate::migrate(&mut session.client, TcsTables::Existing).await.unwrap();
    assert!(session.client.query_one(valid, &[]).await.unwrap().get::<_, bool>(0));
    assert_eq!(link_rows(&session.client, "post_trust").await, (1, BTreeSet::from([(1, 7)])));
}
