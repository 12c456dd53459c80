//! The OpenSearch domain's control plane, called for real: domains made with `CreateDomain` on
//! the local AWS (ministack serves the OpenSearch Service API), read by `SearchDomain`
//! (`DescribeDomain`) for the endpoint, the state before a rebuild and `sync-status`. ministack
//! finishes every configuration change at once, so a domain there is never `Processing`: the
//! wait-then-defer on a busy domain is tested on data (core's `search_domain`, the wait loop in
//! `shared::search::domain`).

use aws_sdk_opensearch::types::VpcOptions;
use integration_tests::{aws, date, search_server, TestDb};
use serde_json::json;
use shared::runner::{Outcome, RunRequest};
use shared::search::{IndexTarget, OpenSearchIndex, Search, SearchDomain};
use shared::status::search_status;
use sync_core::JobName;

fn name(kind: &str) -> String {
    // Domain names: lower case, start with a letter, at most 28 characters.
    format!("tis-{kind}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn create(name: &str, vpc: bool) {
    let client = aws_sdk_opensearch::Client::new(&aws::config().await);
    let mut request = client.create_domain().domain_name(name).engine_version("OpenSearch_2.15");
    if vpc {
        request = request.vpc_options(
            VpcOptions::builder()
                .subnet_ids("subnet-00000000000000001")
                .security_group_ids("sg-00000000000000001")
                .build(),
        );
    }
    request.send().await.unwrap();
}

#[tokio::test]
async fn the_endpoint_comes_from_describe_domain_and_a_missing_domain_is_named() {
    let config = aws::config().await;
    let public = name("pub");
    create(&public, false).await;
    let domain = SearchDomain::new(&config, &public);
    let state = domain.describe().await.unwrap();
    assert_eq!(state.name, public);
    assert!(!state.processing && !state.upgrade_processing, "{state:?}");
    assert_eq!(state.engine_version.as_deref(), Some("OpenSearch_2.15"));
    let endpoint = state.endpoint.clone().expect("a public domain has an endpoint");
    assert_eq!(domain.url().await.unwrap(), format!("https://{endpoint}"));

    // A domain in a VPC: the functions reach it by its VPC endpoint.
    let private = name("vpc");
    create(&private, true).await;
    let state = SearchDomain::new(&config, &private).describe().await.unwrap();
    let vpc = state.vpc_endpoint.clone().expect("a VPC domain has a VPC endpoint");
    assert_eq!(SearchDomain::new(&config, &private).url().await.unwrap(), format!("https://{vpc}"));

    // No such domain: what an index function's init answers.
    let missing = name("gone");
    let error = SearchDomain::new(&config, &missing).url().await.unwrap_err().to_string();
    assert_eq!(
        error,
        format!("configuration: the OpenSearch domain '{missing}' (OPENSEARCH_DOMAIN_NAME) does not exist in this account and region")
    );
}

#[tokio::test]
async fn an_index_job_asks_its_domain_first_and_status_reports_the_domain_and_each_alias() {
    let config = aws::config().await;
    let domain_name = name("idx");
    create(&domain_name, false).await;
    let unique = &uuid::Uuid::new_v4().simple().to_string()[..12];
    // The data plane is the local OpenSearch-API server; the control plane the local AWS.
    let search = Search {
        index: OpenSearchIndex::connect(&search_server::url(), None).unwrap(),
        domain: Some(SearchDomain::new(&config, &domain_name)),
        persons: IndexTarget::new(format!("persons_{unique}")),
        posts: IndexTarget::new(format!("posts_{unique}")),
    };
    let db = TestDb::new().await;
    db.client()
        .await
        .client
        .batch_execute(
            "INSERT INTO tcs.post (id, owner, status) VALUES (1, 'London', 'CURRENT'), (2, 'Wessex', 'CURRENT')",
        )
        .await
        .unwrap();
    let mut request = RunRequest::manual(JobName::PostElasticsearchSync);
    request.as_of = date("2024-08-04");
    request.follow_ups = false;
    let summary = db.runner().with_search(search.clone()).run(request).await.unwrap();
    assert_eq!((summary.status, summary.rows), (Outcome::Succeeded, 2), "{summary:?}");

    let status = search_status(Ok(Some(search))).await.expect("search is configured");
    let answer = serde_json::to_value(&status).unwrap();
    assert_eq!(answer["error"], json!(null));
    assert_eq!(answer["domain"]["name"], json!(domain_name));
    assert_eq!(answer["domain"]["processing"], json!(false));
    assert_eq!(answer["domain"]["engineVersion"], json!("OpenSearch_2.15"));
    let persons = &answer["aliases"][0];
    assert_eq!(
        (&persons["alias"], &persons["index"]),
        (&json!(format!("persons_{unique}")), &json!(null)),
        "not built yet"
    );
    let posts = &answer["aliases"][1];
    assert_eq!(posts["documents"], json!(2));
    assert!(posts["index"].as_str().unwrap().starts_with(&format!("posts_{unique}-")), "{posts}");

    // The domain gone: status still answers, and says so.
    let gone = Search {
        index: OpenSearchIndex::connect(&search_server::url(), None).unwrap(),
        domain: Some(SearchDomain::new(&config, name("gone"))),
        persons: IndexTarget::new(format!("persons_{unique}")),
        posts: IndexTarget::new(format!("posts_{unique}")),
    };
    let status = search_status(Ok(Some(gone.clone()))).await.unwrap();
    assert!(status.error.as_deref().unwrap().contains("does not exist"), "{status:?}");
    assert_eq!(status.aliases[1].documents, Some(2), "the aliases are still read");
    // An index job asks the domain before it starts: the missing domain stops it, named.
    let mut request = RunRequest::manual(JobName::PostElasticsearchSync);
    request.follow_ups = false;
    let error = db.runner().with_search(gone).run(request).await.unwrap_err().to_string();
    assert!(error.contains("does not exist in this account and region"), "{error}");
}
