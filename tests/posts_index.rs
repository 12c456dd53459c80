//! post-elasticsearch-sync against a real OpenSearch-API server (osmem-server): the documents
//! of hand-made posts, every query TCS's post search (PostElasticSearchService) sends, and the
//! zero-downtime alias move seen by a reader.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use integration_tests::fixtures::*;
use integration_tests::{date, search_server, TestDb};
use opensearch::http::headers::HeaderMap;
use opensearch::http::request::JsonBody;
use opensearch::http::Method;
use serde_json::{json, Value};
use shared::runner::{RunRequest, RunSummary, Runner};
use shared::search::{IndexTarget, OpenSearchIndex, Search};
use sync_core::JobName;
use tokio_postgres::Client;

const AS_OF: &str = "2024-08-04";

/// A test's own posts alias on the shared server.
fn alias() -> String {
    format!("posts_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn runner(db: &TestDb, alias: &str) -> Runner {
    db.runner().with_search(Search {
        index: OpenSearchIndex::connect(&search_server::url(), None).unwrap(),
        domain: None,
        persons: IndexTarget::new(format!("{alias}_persons")),
        posts: IndexTarget::new(alias),
    })
}

async fn sync(db: &TestDb, alias: &str) -> shared::Result<RunSummary> {
    let mut request = RunRequest::manual(JobName::PostElasticsearchSync);
    request.as_of = date(AS_OF);
    request.follow_ups = false;
    runner(db, alias).run(request).await
}

async fn call(method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let index = OpenSearchIndex::connect(&search_server::url(), None).unwrap();
    let response = index
        .client()
        .send(method, path, HeaderMap::new(), Option::<&()>::None, body.map(JsonBody::new), None)
        .await
        .unwrap();
    let status = response.status_code().as_u16();
    (status, response.json::<Value>().await.unwrap_or(Value::Null))
}

async fn count(alias: &str) -> i64 {
    let (status, answer) = call(Method::Get, &format!("/{alias}/_count"), None).await;
    assert_eq!(status, 200, "{answer}");
    answer["count"].as_i64().unwrap()
}

async fn alias_targets(alias: &str) -> Vec<String> {
    let (_, answer) = call(Method::Get, &format!("/_alias/{alias}"), None).await;
    answer.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

async fn source(alias: &str, id: i64) -> Value {
    let (status, doc) = call(Method::Get, &format!("/{alias}/_doc/{id}"), None).await;
    assert_eq!(status, 200, "post {id}: {doc}");
    doc["_source"].clone()
}

/// Three posts. 10: everything, twice where TCS's tables allow it; 20: nothing but the post
/// row; 30: one of each, a trainee with two current placements on it.
async fn posts(c: &Client) {
    c.batch_execute(
        "INSERT INTO tcs.post (id, owner, national_post_number, status, funding_status, intrepid_id) VALUES
             (10, 'London', 'LDN/RJ1/001/F1/001', 'CURRENT', 'CURRENT', 'INT10'),
             (20, 'Wessex', 'WES/RX2/002/ST/002', 'CURRENT', 'INACTIVE', NULL),
             (30, 'London', 'LDN/RJ1/003/CT/003', 'CURRENT', 'CURRENT', 'INT30');
         INSERT INTO tcs.specialty (id, name, specialty_code) VALUES
             (1, 'Cardiology', 'CAR'), (2, 'General Surgery', 'SUR'), (3, 'Dermatology', 'DER');
         INSERT INTO tcs.programme (id, owner, programme_name, programme_number) VALUES
             (10, 'London', 'General Practice', 'GP1'), (11, 'London', 'Cardiology Training', 'CT1'),
             (12, 'London', 'Core Surgery', 'CS1');
         -- Post 10: two APPROVED grades (the lowest row id wins), an OTHER one; a PRIMARY and an
         -- OTHER specialty and site; two programmes.
         INSERT INTO tcs.post_grade VALUES (1, 10, 7, 'APPROVED'), (2, 10, 8, 'APPROVED'), (3, 10, 9, 'OTHER'),
             (4, 30, 8, 'APPROVED'), (5, 20, 9, 'OTHER');
         INSERT INTO tcs.post_specialty VALUES (1, 10, 1, 'PRIMARY'), (2, 10, 3, 'OTHER'), (3, 30, 2, 'PRIMARY');
         INSERT INTO tcs.post_site VALUES (1, 10, 70, 'PRIMARY'), (2, 10, 71, 'OTHER'), (3, 30, 71, 'PRIMARY');
         INSERT INTO tcs.programme_post VALUES (1, 10, 11), (2, 10, 10), (3, 30, 12);
         -- Fundings current on the as-of date (ending on it, open-ended), ended, and not started.
         INSERT INTO tcs.post_funding VALUES
             (1, 10, '2024-01-01', '2024-08-04', 'Tariff'),
             (2, 10, '2020-01-01', NULL, 'Trust funded'),
             (3, 10, '2020-01-01', '2021-01-01', 'Academic'),
             (4, 10, '2025-01-01', '2025-12-31', 'Deanery'),
             (5, 20, '2019-01-01', '2020-01-01', 'Tariff'),
             (6, 30, '2024-01-01', '2024-12-31', 'Tariff'),
             (7, 30, '2024-02-01', '2024-12-31', 'Tariff');
         INSERT INTO tcs.contact_details (id, surname, forenames) VALUES
             (1, 'Smithson', 'Anna Maria'), (2, 'Jones', 'Bob'), (3, 'Past', 'Paula'), (4, 'Adams', 'Zoe');
         -- Both sources of trusts: 100 from both bodies (once in the document), 101 training only.
         INSERT INTO tcs.post_trust (post_id, trust_id, source) VALUES
             (10, 100, 'employing-body'), (10, 100, 'training-body'), (10, 101, 'training-body'),
             (30, 102, 'employing-body');",
    )
    .await
    .unwrap();
    // Post 10: trainees 2 and 1 current (listed by trainee id), 3's placement ended.
    placement(c, 1, Some(2), Some(10), Some("2024-08-01"), Some("2025-07-31"), "APPROVED").await;
    placement(c, 2, Some(1), Some(10), Some("2024-01-01"), Some("2024-08-04"), "APPROVED").await;
    placement(c, 3, Some(3), Some(10), Some("2023-01-01"), Some("2024-08-03"), "APPROVED").await;
    // Post 30: one trainee, two current placements: named once.
    placement(c, 4, Some(4), Some(30), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 5, Some(4), Some(30), Some("2024-06-01"), Some("2024-12-31"), "APPROVED").await;
    // Post 20: a future placement only.
    placement(c, 6, Some(1), Some(20), Some("2024-09-01"), Some("2025-08-31"), "APPROVED").await;
}

/// TCS rewrites a post's document after an edit (PostElasticSearchService: `DELETE
/// /posts/_doc/{id}`, then a bulk index under the post's id, then a refresh), as spring-data
/// serialises PostView: with its `_class` hint. The rebuilt index must take it.
#[tokio::test]
async fn tcs_rewrite_of_a_post_through_the_alias_is_accepted_and_found_by_its_status_filter() {
    let db = TestDb::new().await;
    posts(&db.client().await.client).await;
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let (status, _) = call(Method::Delete, &format!("/{alias}/_doc/20"), None).await;
    assert_eq!(status, 200);
    let document = json!({"_class": "com.transformuk.hee.tis.tcs.service.job.post.PostView", "id": 20,
        "nationalPostNumber": "LDN/RJ1/020", "status": "CURRENT", "owner": "London",
        "programmeNames": [], "fundingTypes": [], "trustIds": [100], "programmeIds": []});
    let (status, answer) = call(Method::Put, &format!("/{alias}/_doc/20?refresh=true"), Some(document)).await;
    assert!(status == 200 || status == 201, "TCS's write was refused: {status} {answer}");
    assert_eq!(source(&alias, 20).await["_class"], json!("com.transformuk.hee.tis.tcs.service.job.post.PostView"));
    // TCS's post status filter: `term` on the keyword, the enum's name.
    let filter = json!({"query": {"bool": {"must": [{"bool": {"should": [{"term": {"status": {"value": "CURRENT", "boost": 1.0}}}],
        "adjust_pure_negative": true, "minimum_should_match": "1", "boost": 1.0}}]}}});
    let (status, answer) = call(Method::Post, &format!("/{alias}/_search"), Some(filter)).await;
    assert_eq!(status, 200, "{answer}");
    let ids: Vec<&str> =
        answer["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"20"), "{answer}");
}

#[tokio::test]
async fn one_document_per_post_with_the_fields_tcs_post_search_reads() {
    let db = TestDb::new().await;
    posts(&db.client().await.client).await;
    let alias = alias();
    let summary = sync(&db, &alias).await.unwrap();
    assert_eq!(summary.rows, 3);
    assert_eq!(count(&alias).await, 3);
    assert_eq!(
        source(&alias, 10).await,
        json!({
            "id": 10, "intrepidId": "INT10", "nationalPostNumber": "LDN/RJ1/001/F1/001",
            "status": "CURRENT", "owner": "London", "approvedGradeId": 7,
            "primarySpecialtyId": 1, "primarySpecialtyCode": "CAR", "primarySpecialtyName": "Cardiology",
            "primarySiteId": 70,
            "currentTraineeSurnames": "Smithson, Jones", "currentTraineeForenames": "Anna Maria, Bob",
            "programmeNames": ["Cardiology Training", "General Practice"], "programmeIds": [10, 11],
            "fundingTypes": ["Tariff", "Trust funded"], "trustIds": [100, 101]
        })
    );
    assert_eq!(
        source(&alias, 20).await,
        json!({
            "id": 20, "intrepidId": null, "nationalPostNumber": "WES/RX2/002/ST/002",
            "status": "INACTIVE", "owner": "Wessex", "approvedGradeId": null,
            "primarySpecialtyId": null, "primarySpecialtyCode": null, "primarySpecialtyName": null,
            "primarySiteId": null, "currentTraineeSurnames": null, "currentTraineeForenames": null,
            "programmeNames": [], "programmeIds": [], "fundingTypes": [], "trustIds": []
        })
    );
    let thirty = source(&alias, 30).await;
    assert_eq!(
        (&thirty["currentTraineeSurnames"], &thirty["currentTraineeForenames"], &thirty["fundingTypes"]),
        (&json!("Adams"), &json!("Zoe"), &json!(["Tariff"]))
    );
    assert_eq!(
        (&thirty["approvedGradeId"], &thirty["primarySpecialtyName"], &thirty["trustIds"]),
        (&json!(8), &json!("General Surgery"), &json!([102]))
    );
}

/// The query TCS's `PostElasticSearchService.searchForPage` builds: column filters (values OR-ed
/// within a column, columns AND-ed, with its two field-name aliases), the free-text should-block
/// (at least one), and the trust-admin and programme-observer permission terms.
fn tcs_query(text: &str, filters: &[(&str, &[&str])], trusts: Option<&[i64]>, programmes: Option<&[i64]>) -> Value {
    const MATCH: [&str; 4] =
        ["currentTraineeSurnames", "currentTraineeForenames", "primarySpecialtyName", "programmeNames"];
    let mapped = |field: &str| match field {
        "currentTraineeSurname" => "currentTraineeSurnames".to_string(),
        "fundingType" => "fundingTypes".to_string(),
        other => other.to_string(),
    };
    let mut must: Vec<Value> = filters
        .iter()
        .map(|(field, values)| {
            let field = mapped(field);
            let kind = if MATCH.contains(&field.as_str()) { "match" } else { "term" };
            let should: Vec<Value> = values.iter().map(|v| json!({kind: {field.clone(): v.trim()}})).collect();
            json!({"bool": {"should": should, "minimum_should_match": 1}})
        })
        .collect();
    let text = text.replace('"', "");
    if !text.is_empty() {
        let wildcard = format!("*{text}*");
        let mut should = vec![
            json!({"wildcard": {"nationalPostNumber": wildcard}}),
            json!({"wildcard": {"nationalPostNumber": format!("*{}*", text.to_uppercase())}}),
            json!({"wildcard": {"programmeNames": wildcard}}),
            json!({"match": {"primarySpecialtyName": text}}),
            json!({"wildcard": {"fundingTypes": wildcard}}),
            json!({"wildcard": {"owner": wildcard}}),
            json!({"wildcard": {"currentTraineeSurnames": wildcard}}),
            json!({"wildcard": {"currentTraineeForenames": wildcard}}),
        ];
        if text.chars().all(|c| c.is_ascii_digit()) {
            for field in ["id", "primarySiteId", "approvedGradeId", "primarySpecialtyId"] {
                should.push(json!({"term": {field: text}}));
            }
        }
        must.push(json!({"bool": {"should": should, "minimum_should_match": 1}}));
    }
    if let Some(trusts) = trusts {
        must.push(json!({"terms": {"trustIds": trusts}}));
    }
    if let Some(programmes) = programmes {
        must.push(json!({"terms": {"programmeIds": programmes}}));
    }
    json!({"bool": {"must": must}})
}

/// The ids a search answers, in its order (TCS pages of 20, sorted by `sort`).
async fn search(alias: &str, query: Value, sort: Value) -> Vec<i64> {
    let body = json!({"from": 0, "size": 20, "query": query, "sort": sort});
    let (status, answer) = call(Method::Post, &format!("/{alias}/_search"), Some(body.clone())).await;
    assert_eq!(status, 200, "{body} -> {answer}");
    answer["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_id"].as_str().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn every_query_tcs_post_search_sends_finds_the_right_posts_in_order() {
    let db = TestDb::new().await;
    posts(&db.client().await.client).await;
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let by_id = json!([{"id": {"order": "asc"}}]);
    let find = |text: &str| search(&alias, tcs_query(text, &[], None, None), by_id.clone());

    // Free text: national post number (as typed and upper-cased), programme name, specialty
    // name (analysed: one word matches), funding type, owner, a current trainee's names.
    assert_eq!(find("RJ1").await, vec![10, 30]);
    assert_eq!(find("wes/rx2").await, vec![20]);
    assert_eq!(find("Practice").await, vec![10]);
    assert_eq!(find("surgery").await, vec![30]);
    assert_eq!(find("Trust funded").await, vec![10]);
    assert_eq!(find("Tariff").await, vec![10, 30], "post 20's Tariff funding has ended");
    assert_eq!(find("Academic").await, Vec::<i64>::new(), "ended fundings are not searchable");
    assert_eq!(find("Wessex").await, vec![20]);
    assert_eq!(find("Jones").await, vec![10]);
    assert_eq!(find("Zoe").await, vec![30]);
    assert_eq!(find("Past").await, Vec::<i64>::new(), "an ended placement's trainee is not current");
    assert_eq!(find("\"Adams\"").await, vec![30], "quotes are dropped");
    // A number also matches the post id, the primary site, the approved grade, the specialty.
    assert_eq!(find("20").await, vec![20]);
    assert_eq!(find("70").await, vec![10]);
    assert_eq!(find("8").await, vec![30], "post 10's second APPROVED grade is not its grade");
    assert_eq!(find("2").await, vec![20, 30], "20's number holds a 2; 30's specialty is 2");

    // Column filters: OR within a column, AND across columns, the two renamed fields.
    let filtered = |filters: &[(&str, &[&str])]| search(&alias, tcs_query("", filters, None, None), by_id.clone());
    assert_eq!(filtered(&[("status", &["CURRENT"])]).await, vec![10, 30]);
    assert_eq!(filtered(&[("status", &["CURRENT", "INACTIVE"]), ("owner", &["Wessex"])]).await, vec![20]);
    assert_eq!(filtered(&[("nationalPostNumber", &["LDN/RJ1/003/CT/003"])]).await, vec![30]);
    assert_eq!(filtered(&[("primarySpecialtyCode", &["CAR", "DER"])]).await, vec![10]);
    assert_eq!(filtered(&[("fundingType", &["Trust funded"])]).await, vec![10]);
    assert_eq!(filtered(&[("fundingTypes", &["Tariff"]), ("owner", &["London"])]).await, vec![10, 30]);
    assert_eq!(filtered(&[("primarySpecialtyId", &["2"])]).await, vec![30]);
    assert_eq!(filtered(&[("primarySiteId", &["70", "71"])]).await, vec![10, 30]);
    assert_eq!(filtered(&[("approvedGradeId", &["7"])]).await, vec![10]);
    assert_eq!(filtered(&[("currentTraineeSurname", &["Adams"])]).await, vec![30]);
    assert_eq!(filtered(&[("currentTraineeForenames", &["Anna Maria, Bob"])]).await, vec![10]);
    assert_eq!(filtered(&[("primarySpecialtyName", &["General Surgery"])]).await, vec![30]);
    assert_eq!(filtered(&[("programmeNames", &["Core Surgery", "General Practice"])]).await, vec![10, 30]);
    assert_eq!(filtered(&[("programmeNames", &["Core Surgery"]), ("owner", &["Wessex"])]).await, Vec::<i64>::new());
    // Free text and filters together.
    assert_eq!(
        search(&alias, tcs_query("Tariff", &[("primarySiteId", &["71"])], None, None), by_id.clone()).await,
        vec![30]
    );

    // A trust admin sees the posts of their trusts (from either body); a programme observer
    // those of their programmes.
    let permitted = |trusts: Option<&[i64]>, programmes: Option<&[i64]>| {
        search(&alias, tcs_query("", &[], trusts, programmes), by_id.clone())
    };
    assert_eq!(permitted(Some(&[101]), None).await, vec![10]);
    assert_eq!(permitted(Some(&[100, 102]), None).await, vec![10, 30]);
    assert_eq!(permitted(None, Some(&[12])).await, vec![30]);
    assert_eq!(permitted(Some(&[100]), Some(&[12])).await, Vec::<i64>::new());
    assert_eq!(permitted(Some(&[999]), None).await, Vec::<i64>::new(), "post 20 has no trust");

    // TCS's sorts: national post number and id, both ways.
    let all = tcs_query("", &[], None, None);
    assert_eq!(search(&alias, all.clone(), json!([{"nationalPostNumber": {"order": "asc"}}])).await, vec![10, 30, 20]);
    assert_eq!(search(&alias, all.clone(), json!([{"nationalPostNumber": {"order": "desc"}}])).await, vec![20, 30, 10]);
    assert_eq!(search(&alias, all.clone(), json!([{"id": {"order": "desc"}}])).await, vec![30, 20, 10]);
    assert_eq!(
        search(&alias, all, json!([{"owner": {"order": "asc"}}, {"id": {"order": "desc"}}])).await,
        vec![30, 10, 20]
    );
}

#[tokio::test]
async fn a_reader_of_the_posts_alias_sees_the_full_old_index_then_the_full_new_one() {
    let db = TestDb::new().await;
    let c = db.client().await;
    seed::seed(&mut db.client().await.client, 300, 2).await.unwrap();
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let before = count(&alias).await;
    assert_eq!(before, 70, "the seed's posts");
    c.client
        .batch_execute("INSERT INTO tcs.post (id, status) SELECT g, 'CURRENT' FROM generate_series(1001, 1020) g")
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, alias) = (stop.clone(), alias.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(count(&alias).await);
            }
            seen
        })
    };
    sync(&db, &alias).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = reader.await.unwrap();
    assert!(seen.len() > 5, "the reader read during the rebuild");
    assert!(seen.iter().all(|n| *n == 70 || *n == 90), "a reader saw {seen:?}");
    let switched = seen.iter().position(|n| *n == 90).expect("the reader saw the new index");
    assert!(seen[..switched].iter().all(|n| *n == 70) && seen[switched..].iter().all(|n| *n == 90), "{seen:?}");
}

#[tokio::test]
async fn a_post_that_cannot_be_indexed_fails_the_run_and_the_alias_stays_where_it_was() {
    let db = TestDb::new().await;
    let c = db.client().await;
    posts(&c.client).await;
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let before = alias_targets(&alias).await;
    // A document over the 10 MB a bulk request may carry: no request could hold it.
    c.client
        .execute("UPDATE tcs.post SET national_post_number = repeat('N', 11000000) WHERE id = 30", &[])
        .await
        .unwrap();

    let error = sync(&db, &alias).await.unwrap_err().to_string();
    assert!(error.contains("post 30") && error.contains("over the 10 MB request limit"), "{error}");
    assert_eq!(alias_targets(&alias).await, before, "the alias did not move");
    assert_eq!(count(&alias).await, 3);
    assert_eq!(source(&alias, 30).await["nationalPostNumber"], "LDN/RJ1/003/CT/003");
    let (_, indices) = call(Method::Get, &format!("/_cat/indices/{alias}*?format=json"), None).await;
    let names: Vec<&str> = indices.as_array().unwrap().iter().map(|r| r["index"].as_str().unwrap()).collect();
    assert_eq!(names, before.iter().map(String::as_str).collect::<Vec<_>>(), "the half-built index was deleted");
}
