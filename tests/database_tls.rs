//! TLS to Postgres as the functions make it in AWS: the server's chain verified against the OS
//! store and RDS's CAs (shipped in the binary), plus the CAs `PGSSLROOTCERT` names, and the
//! server's name checked. The local Postgres's CA is in no OS store and is not RDS's: it
//! stands for any CA the function was not given.

use std::path::PathBuf;

use integration_tests::TestDb;
use shared::db::{trusted_roots, Database};
use tokio_postgres::config::SslMode;

/// The local CA, which `make test` names in `PGSSLROOTCERT`: without it this test cannot run.
fn local_ca() -> PathBuf {
    std::env::var_os("PGSSLROOTCERT").map(PathBuf::from).expect("PGSSLROOTCERT names the local CA (run through make)")
}

fn requiring_tls(db: &TestDb) -> tokio_postgres::Config {
    let mut config = db.database.config();
    config.ssl_mode(SslMode::Require);
    config
}

#[tokio::test]
async fn a_server_whose_ca_the_function_was_not_given_is_refused_and_accepted_once_given() {
    let db = TestDb::empty().await;

    // As in AWS with nothing more: the OS store and RDS's bundle.
    let refused = Database::trusting(requiring_tls(&db), trusted_roots(None).unwrap())
        .unwrap()
        .connect("tis-sync-test:tls")
        .await
        .err()
        .expect("a certificate no trusted CA signed is refused");
    assert!(refused.to_string().contains("UnknownIssuer"), "{refused}");

    let given = Database::trusting(requiring_tls(&db), trusted_roots(Some(&local_ca())).unwrap()).unwrap();
    let session = given.connect("tis-sync-test:tls").await.expect("accepted with its CA");
    let tls: bool =
        session.client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0);
    assert!(tls);
}

#[tokio::test]
async fn a_server_answering_for_a_name_its_certificate_does_not_carry_is_refused() {
    let db = TestDb::empty().await;
    // The same server, reached at its address but by another name: a DNS answer or an endpoint
    // that points elsewhere. The certificate names 127.0.0.1 and localhost only.
    let local = requiring_tls(&db);
    let mut config = tokio_postgres::Config::new();
    config
        .host("tis-sync-db.invalid")
        .hostaddr("127.0.0.1".parse().unwrap())
        .port(local.get_ports()[0])
        .user(local.get_user().unwrap())
        .password(local.get_password().unwrap())
        .dbname(local.get_dbname().unwrap())
        .ssl_mode(SslMode::Require);
    let refused = Database::trusting(config, trusted_roots(Some(&local_ca())).unwrap())
        .unwrap()
        .connect("tis-sync-test:tls")
        .await
        .err()
        .expect("a certificate for another name is refused");
    assert!(refused.to_string().contains("certificate not valid for name \"tis-sync-db.invalid\""), "{refused}");
}
