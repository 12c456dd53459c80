//! Migrations as a real deployment meets them: in AWS the TCS tables are TCS's, so migrate
//! checks them and creates none (naming each one missing, writing nothing); locally the fixture
//! creates exactly what the jobs use (the list in sync_core::tcs).

use std::collections::BTreeSet;

use integration_tests::TestDb;
use shared::migrate::{self, TcsTables, MIGRATIONS, TCS_FIXTURE};
use sync_core::tcs::TABLES;
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
            "configuration: the TCS database lacks 19 of what the jobs read or write: {}; nothing was migrated",
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
