//! The preflight's own checks (`shared::preflight::function_checks`, what each function runs when
//! sync-preflight probes it) made against the local cloud with one path broken the way a real
//! account breaks it: a database whose CA the function was not given, AWS endpoints it cannot
//! reach, a search domain whose security plugin refuses its role. Each is run first as deployed
//! (every check passes) and then broken, so the failure is the fault's and not the setup's. The
//! faults that can be made in the deployed stack itself (a secret missing, a grant revoked) are
//! in cloud.rs, through `tis-sync preflight`.

use std::collections::BTreeMap;

use integration_tests::aws;
use integration_tests::fault_proxy::{FaultProxy, Loss};
use shared::config::Settings;
use shared::context::Context;
use shared::db::Database;
use shared::events::EventPublisher;
use sync_core::preflight::Check;
use sync_core::{Function, JobName};

/// The context a function has in the local cloud (its watcher's environment: its secret, not
/// `DATABASE_URL`), with `changes` to its settings and its AWS endpoint.
pub async fn context_of(changes: &[(&str, &str)], aws_endpoint: Option<&str>) -> Context {
    let mut env: BTreeMap<String, String> = integration_tests::cloud_env();
    let database_url = env.remove("DATABASE_URL").expect("the cloud's database");
    for (name, value) in changes {
        env.insert(name.to_string(), value.to_string());
    }
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).unwrap();
    let endpoint = aws_endpoint.unwrap_or(&env["TIS_SYNC_MINISTACK_URL"]);
    Context {
        settings,
        aws: Some(aws::config_at(endpoint).await),
        database: Database::from_url(&database_url).unwrap(),
        events: EventPublisher::disabled(),
    }
}

fn failed(checks: &[Check]) -> Vec<&Check> {
    checks.iter().filter(|c| !c.passed).collect()
}

fn row<'a>(checks: &'a [Check], what: &str) -> &'a Check {
    checks.iter().find(|c| c.what == what).unwrap_or_else(|| panic!("no {what} check in {checks:#?}"))
}

#[tokio::test]
async fn a_database_whose_ca_the_function_was_not_given_fails_the_database_check_naming_the_trust() {
    let job = Function::Job(JobName::PersonOwnerRebuild);
    let given = shared::preflight::function_checks(&context_of(&[], None).await, job).await;
    assert!(failed(&given).is_empty(), "as deployed: {given:#?}");

    // As in an account where the database's CA is none of RDS's and PGSSLROOTCERT names
    // another: the function trusts RDS's bundle twice over and the local CA not at all.
    let rds_only = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/certs/rds-ca-bundle.pem");
    let checks = shared::preflight::function_checks(&context_of(&[("PGSSLROOTCERT", rds_only)], None).await, job).await;
    let database = row(&checks, "database");
    assert!(!database.passed, "{database:?}");
    assert!(database.detail.contains("UnknownIssuer"), "names why: {database:?}");
    let fix = database.fix.as_deref().unwrap();
    assert!(fix.contains("PGSSLROOTCERT") && fix.contains("docs/tls.md"), "{fix}");
    assert_eq!(failed(&checks).len(), 1, "only the database is refused: {checks:#?}");
}

#[tokio::test]
async fn aws_endpoints_the_function_cannot_reach_fail_each_service_check_naming_the_way_out() {
    let exporter = Function::EsrExport;
    let given = shared::preflight::function_checks(&context_of(&[], None).await, exporter).await;
    assert!(failed(&given).is_empty(), "as deployed: {given:#?}");
    let services: Vec<&str> = given.iter().map(|c| c.what.as_str()).collect();
    for what in ["secret", "database", "event bus", "bucket"] {
        assert!(services.contains(&what), "the exporter checks its {what}: {services:?}");
    }

    // A VPC with neither NAT nor endpoints: nothing answers on the AWS services' addresses.
    let unreachable = context_of(&[], Some("http://127.0.0.1:1")).await;
    let checks = shared::preflight::function_checks(&unreachable, exporter).await;
    for what in ["secret", "database", "event bus", "bucket"] {
        let check = row(&checks, what);
        assert!(!check.passed, "{check:?}");
        let fix = check.fix.as_deref().unwrap();
        assert!(fix.contains("VpcEndpoints") || fix.contains("security group"), "{what}: {fix}");
    }
    assert!(row(&checks, "secret").fix.as_deref().unwrap().contains("VpcEndpoints"));
}

#[tokio::test]
async fn a_search_domain_refusing_the_functions_role_fails_the_search_checks_naming_the_access_command() {
    let search = integration_tests::search_server::url();
    let proxy = FaultProxy::start(&search).await;
    let through_proxy = [("OPENSEARCH_URL", proxy.url.as_str())];
    for function in [Function::Job(JobName::PersonElasticsearchSync), Function::SyncStatus] {
        let given = shared::preflight::function_checks(&context_of(&through_proxy, None).await, function).await;
        assert!(failed(&given).is_empty(), "{} as deployed: {given:#?}", function.name());
    }

    // Fine-grained access control with the role mapped to nothing: every call is refused.
    for path in ["/", "/_alias"] {
        for method in ["GET", "PUT", "DELETE", "HEAD", "POST"] {
            proxy.arm(method, path, Loss::Forbidden, 100);
        }
    }
    for function in [Function::Job(JobName::PersonElasticsearchSync), Function::SyncStatus] {
        let checks = shared::preflight::function_checks(&context_of(&through_proxy, None).await, function).await;
        let alias = row(&checks, "search alias");
        assert!(!alias.passed, "{alias:?}");
        assert!(alias.detail.contains("403") && alias.detail.contains("security_exception"), "{alias:?}");
        assert!(alias.fix.as_deref().unwrap().contains("tis-sync opensearch-access"), "{alias:?}");
    }
    let rebuild = Function::Job(JobName::PersonElasticsearchSync);
    let checks = shared::preflight::function_checks(&context_of(&through_proxy, None).await, rebuild).await;
    assert!(!row(&checks, "search index").passed, "creating its own index is refused too: {checks:#?}");
    assert!(!proxy.taken().is_empty());
}
