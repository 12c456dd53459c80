//! person-elasticsearch-sync against a real OpenSearch-API server (osmem-server): documents,
//! the queries TCS's people search makes, zero-downtime alias moves, failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use integration_tests::fault_proxy::{FaultProxy, Loss};
use integration_tests::fixtures::*;
use integration_tests::{date, search_server, TestDb};
use opensearch::http::headers::HeaderMap;
use opensearch::http::request::{Body, JsonBody, NdBody};
use opensearch::http::Method;
use serde_json::{json, Value};
use shared::runner::{RunRequest, Runner};
use shared::search::{IndexTarget, OpenSearchIndex, Search};
use sync_core::JobName;
use tokio_postgres::Client;

const AS_OF: &str = "2024-08-04";

/// A test's own alias on the shared server.
fn alias() -> String {
    format!("persons_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A runner reaching the search server at `url` (the server itself, or a proxy in front of it).
fn runner_through(db: &TestDb, alias: &str, url: &str) -> Runner {
    db.runner().with_search(Search {
        index: OpenSearchIndex::connect(url, None).unwrap(),
        domain: None,
        persons: IndexTarget::new(alias),
        posts: IndexTarget::new(format!("{alias}_posts")),
    })
}

async fn sync(db: &TestDb, alias: &str) -> shared::Result<shared::runner::RunSummary> {
    sync_through(db, alias, &search_server::url()).await
}

async fn sync_through(db: &TestDb, alias: &str, url: &str) -> shared::Result<shared::runner::RunSummary> {
    let mut request = RunRequest::manual(JobName::PersonElasticsearchSync);
    request.as_of = date(AS_OF);
    request.follow_ups = false;
    runner_through(db, alias, url).run(request).await
}

/// Raw calls the tests make to inspect the server.
struct Http(opensearch::OpenSearch);

fn http() -> Http {
    let index = OpenSearchIndex::connect(&search_server::url(), None).unwrap();
    Http(index.client().clone())
}

impl Http {
    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::Get, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::Post, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::Put, path, Some(body)).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, body.map(JsonBody::new)).await
    }

    /// A `_bulk` request, as TCS's client sends one: action and source lines, NDJSON.
    async fn bulk(&self, lines: Vec<Value>) -> (u16, Value) {
        self.send(Method::Post, "/_bulk", Some(NdBody::new(lines.into_iter().map(JsonBody::new).collect()))).await
    }

    async fn send<B: Body>(&self, method: Method, path: &str, body: Option<B>) -> (u16, Value) {
        let response = self.0.send(method, path, HeaderMap::new(), Option::<&()>::None, body, None).await.unwrap();
        let status = response.status_code().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// The `personId`s of the hits, sorted: TCS's own person documents have server-made ids.
    async fn person_ids(&self, alias: &str, body: Value) -> Vec<i64> {
        let (status, answer) = self.post(&format!("/{alias}/_search"), body.clone()).await;
        assert_eq!(status, 200, "{body} -> {answer}");
        let mut ids: Vec<i64> = answer["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["_source"]["personId"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    }

    async fn search(&self, alias: &str, body: Value) -> Vec<i64> {
        let (status, answer) = self.post(&format!("/{alias}/_search"), body.clone()).await;
        assert_eq!(status, 200, "{body} -> {answer}");
        answer["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_id"].as_str().unwrap().parse().unwrap()).collect()
    }

    async fn ids(&self, alias: &str, query: Value) -> Vec<i64> {
        let mut ids = self.search(alias, json!({"size": 100, "query": query})).await;
        ids.sort();
        ids
    }

    async fn count(&self, alias: &str) -> i64 {
        let (status, answer) = self.get(&format!("/{alias}/_count")).await;
        assert_eq!(status, 200, "{answer}");
        answer["count"].as_i64().unwrap()
    }

    async fn alias_targets(&self, alias: &str) -> Vec<String> {
        let (_, answer) = self.get(&format!("/_alias/{alias}")).await;
        answer.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    async fn indices(&self, alias: &str) -> Vec<String> {
        let (_, answer) = self.get(&format!("/_cat/indices/{alias}*?format=json")).await;
        let mut names: Vec<String> =
            answer.as_array().unwrap().iter().map(|r| r["index"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    }
}

/// Persons for the document and query tests.
async fn people(c: &Client) {
    for (id, owner) in [(1i64, "London"), (2, "Wessex"), (3, "London"), (4, "Severn"), (5, "London")] {
        c.execute(
            "INSERT INTO tcs.person (id, intrepid_id, role, status, public_health_number) VALUES ($1, $2, $3, $4, $5)",
            &[
                &id,
                &format!("INT{id}"),
                &(if id == 4 { "DR in Training,Placeholder" } else { "DR in Training" }),
                &(if id == 5 { "INACTIVE" } else { "CURRENT" }),
                &(if id == 1 { Some("PH-1") } else { None::<&str> }),
            ],
        )
        .await
        .unwrap();
        c.execute("INSERT INTO tcs.person_owner (id, owner, rule) VALUES ($1, $2, 'P1')", &[&id, &owner])
            .await
            .unwrap();
    }
    // 1: full details; 2: contact details without names; 3: no forenames; 4 and 5: names for
    // sorting. Person 6 has no contact details at all: TCS's person query (an inner join) never
    // selects them, so they are not indexed.
    c.batch_execute("INSERT INTO tcs.person (id, status) VALUES (6, 'CURRENT')").await.unwrap();
    for (id, surname, forenames) in [
        (1i64, Some("Smithson"), Some("Anna Maria")),
        (2, None, None),
        (3, Some("Smith"), None),
        (4, Some("Adams"), Some("Zoe")),
        (5, Some("Brown"), Some("Bob")),
    ] {
        c.execute(
            "INSERT INTO tcs.contact_details (id, surname, forenames) VALUES ($1, $2, $3)",
            &[&id, &surname, &forenames],
        )
        .await
        .unwrap();
    }
    c.batch_execute(
        "INSERT INTO tcs.gmc_details VALUES (1, '7654321'), (4, '1234567');
         INSERT INTO tcs.gdc_details VALUES (3, 'D998877');
         INSERT INTO tcs.specialty VALUES (1, 'Cardiology'), (2, 'Surgery'), (3, 'Dermatology');
         INSERT INTO tcs.programme (id, owner, programme_name, programme_number) VALUES
             (10, 'London', 'General Practice', 'GP1'), (11, 'London', 'Cardiology Training', 'CT1'),
             (12, 'Wessex', 'Core Surgery', 'CS1');
         INSERT INTO tcs.person_trust (person_id, trust_id, source) VALUES
             (1, 100, 'employing-body'), (1, 101, 'employing-body'), (1, 100, 'training-body'), (3, 102, 'training-body');",
    )
    .await
    .unwrap();
    // Person 1: two current placements, one past one (not in the arrays).
    post(c, 50, Some("London"), Some(100), Some(100)).await;
    placement(c, 1, Some(1), Some(50), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(c, 2, Some(1), Some(50), Some("2024-06-01"), Some("2025-05-31"), "APPROVED").await;
    placement(c, 3, Some(1), Some(50), Some("2020-01-01"), Some("2020-12-31"), "APPROVED").await;
    c.batch_execute(
        "UPDATE tcs.placement SET grade_id = 7, grade_abbreviation = 'ST1', site_id = 70, site_code = 'S70', placement_type = 'In Post' WHERE id = 1;
         UPDATE tcs.placement SET grade_id = 8, grade_abbreviation = 'ST2', site_id = 71, site_code = 'S71', placement_type = 'Parental Leave' WHERE id = 2;
         UPDATE tcs.placement SET grade_id = 9, grade_abbreviation = 'F1', site_id = 72, site_code = 'S72', placement_type = 'In Post' WHERE id = 3;
         INSERT INTO tcs.placement_specialty VALUES (1, 1, 'PRIMARY'), (1, 3, 'OTHER'), (2, 2, 'PRIMARY'), (3, 3, 'PRIMARY');",
    )
    .await
    .unwrap();
    // Memberships: person 1 current + future + past + NULL-dated; person 3 current elsewhere;
    // person 4 a past GP membership.
    membership(c, 1, 1, 10, Some("2023-08-01"), Some("2026-07-31")).await;
    membership(c, 2, 1, 11, Some("2025-08-01"), Some("2028-07-31")).await;
    membership(c, 3, 1, 12, Some("2018-08-01"), Some("2020-07-31")).await;
    membership(c, 4, 1, 12, None, Some("2030-01-01")).await;
    membership(c, 5, 3, 12, Some("2024-01-01"), Some("2025-01-01")).await;
    membership(c, 6, 4, 10, Some("2015-01-01"), Some("2018-01-01")).await;
}

#[tokio::test]
async fn one_document_per_person_with_the_fields_of_the_spec() {
    let db = TestDb::new().await;
    people(&db.client().await.client).await;
    let alias = alias();
    let summary = sync(&db, &alias).await.unwrap();
    assert_eq!(summary.rows, 5);
    let http = http();
    assert_eq!(http.count(&alias).await, 5);

    let (status, doc) = http.get(&format!("/{alias}/_doc/1")).await;
    assert_eq!(status, 200);
    let membership = |uuid: u32, programme: i64, name: &str, number: &str, status: &str, start: Value, end: Value| {
        json!({"id": uuid, "personId": 1, "uuid": format!("00000000-0000-0000-0000-{uuid:012}"), "programmeId": programme, "programmeName": name,
               "programmeNumber": number, "programmeMembershipStatus": status, "programmeStartDate": start, "programmeEndDate": end})
    };
    assert_eq!(
        doc["_source"],
        json!({
            "personId": 1, "intrepidId": "INT1", "surname": "Smithson", "forenames": "Anna Maria",
            "fullName": "Anna Maria Smithson", "gmcNumber": "7654321", "gdcNumber": null,
            "publicHealthNumber": "PH-1", "role": "DR in Training", "status": "CURRENT",
            "currentOwner": "London", "currentOwnerRule": "P1",
            "gradeId": [7, 8], "siteId": [70, 71], "gradeAbbreviation": ["ST1", "ST2"],
            "siteCode": ["S70", "S71"], "placementType": ["In Post", "Parental Leave"],
            "specialty": ["Cardiology", "Surgery"],
            "trusts": [{"personId": 1, "trustId": 100}, {"personId": 1, "trustId": 101}],
            "programmeMemberships": [
                membership(3, 12, "Core Surgery", "CS1", "PAST", json!("2018-08-01"), json!("2020-07-31")),
                membership(1, 10, "General Practice", "GP1", "CURRENT", json!("2023-08-01"), json!("2026-07-31")),
                membership(2, 11, "Cardiology Training", "CT1", "FUTURE", json!("2025-08-01"), json!("2028-07-31")),
                membership(4, 12, "Core Surgery", "CS1", "PAST", Value::Null, json!("2030-01-01")),
            ]
        })
    );
    // Contact details without names: name fields null. No forenames: no "null Smith".
    let (_, two) = http.get(&format!("/{alias}/_doc/2")).await;
    assert_eq!((two["_source"]["surname"].clone(), two["_source"]["fullName"].clone()), (Value::Null, Value::Null));
    assert_eq!(two["_source"]["trusts"], json!([]));
    assert_eq!(two["_source"]["gradeId"], json!([]));
    let (_, three) = http.get(&format!("/{alias}/_doc/3")).await;
    assert_eq!(three["_source"]["fullName"], "Smith");
    // No contact details at all: TCS's person query never selects person 6.
    let (status, _) = http.get(&format!("/{alias}/_doc/6")).await;
    assert_eq!(status, 404);
}

/// TCS reads each current-placement field as one value, the first of the array. Person 4 has
/// two current placements whose grades and sites sort in opposite orders: sorted each on its
/// own, the first grade would be one placement's and the first site the other's.
#[tokio::test]
async fn the_values_tcs_reads_as_one_come_from_one_placement_and_memberships_from_curricula() {
    let db = TestDb::new().await;
    let c = db.client().await;
    people(&c.client).await;
    placement(&c.client, 10, Some(4), Some(50), Some("2024-01-01"), Some("2024-12-31"), "APPROVED").await;
    placement(&c.client, 11, Some(4), Some(50), Some("2024-02-01"), Some("2024-12-31"), "APPROVED").await;
    c.client
        .batch_execute(
            "UPDATE tcs.placement SET grade_id = 5, grade_abbreviation = 'ST5', site_id = 80, site_code = 'S80', placement_type = 'Parental Leave' WHERE id = 10;
             UPDATE tcs.placement SET grade_id = 9, grade_abbreviation = 'CT1', site_id = 60, site_code = 'S60', placement_type = 'In Post' WHERE id = 11;
             INSERT INTO tcs.placement_specialty VALUES (10, 2, 'PRIMARY'), (11, 1, 'PRIMARY');
             -- A membership without a curriculum membership: programmeMembership.sql (an inner
             -- join) gives TCS no entry for it.
             INSERT INTO tcs.programme_membership (uuid, person_id, programme_id, programme_start_date, programme_end_date, programme_membership_type)
             VALUES ('00000000-0000-0000-0000-000000000099', 4, 11, '2024-01-01', '2025-01-01', 'SUBSTANTIVE');",
        )
        .await
        .unwrap();
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let (_, four) = http().get(&format!("/{alias}/_doc/4")).await;
    let fields = ["gradeId", "gradeAbbreviation", "siteId", "siteCode", "placementType", "specialty"];
    let first: Vec<Value> = fields.iter().map(|f| four["_source"][f][0].clone()).collect();
    assert_eq!(
        first,
        [json!(5), json!("ST5"), json!(80), json!("S80"), json!("Parental Leave"), json!("Surgery")],
        "{four}"
    );
    let second: Vec<Value> = fields.iter().map(|f| four["_source"][f][1].clone()).collect();
    assert_eq!(
        second,
        [json!(9), json!("CT1"), json!(60), json!("S60"), json!("In Post"), json!("Cardiology")],
        "{four}"
    );
    let programmes: Vec<Value> =
        four["_source"]["programmeMemberships"].as_array().unwrap().iter().map(|m| m["programmeId"].clone()).collect();
    assert_eq!(programmes, [json!(10)], "only the membership with a curriculum: {four}");
}

#[tokio::test]
async fn the_people_search_queries_find_the_right_persons() {
    let db = TestDb::new().await;
    people(&db.client().await.client).await;
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let http = http();
    let free_text = |q: &str| {
        let mut should = vec![
            json!({"match": {"publicHealthNumber": q}}),
            json!({"match": {"fullName": q}}),
            json!({"wildcard": {"surname": format!("*{q}*")}}),
            json!({"wildcard": {"forenames": format!("*{q}*")}}),
            json!({"match": {"gmcNumber": q}}),
            json!({"match": {"gdcNumber": q}}),
            json!({"match": {"role": q}}),
        ];
        if let Ok(id) = q.parse::<i64>() {
            should.push(json!({"term": {"personId": id}}));
        }
        json!({"bool": {"should": should, "minimum_should_match": 1}})
    };
    // Name parts: a surname fragment, a forename, a full-name word.
    assert_eq!(http.ids(&alias, free_text("Smith")).await, vec![1, 3]);
    assert_eq!(http.ids(&alias, free_text("mith")).await, vec![1, 3]);
    assert_eq!(http.ids(&alias, free_text("Maria")).await, vec![1]);
    // GMC and GDC numbers, public health number, a numeric person id.
    assert_eq!(http.ids(&alias, free_text("1234567")).await, vec![4]);
    assert_eq!(http.ids(&alias, free_text("D998877")).await, vec![3]);
    assert_eq!(http.ids(&alias, free_text("PH-1")).await, vec![1]);
    assert_eq!(http.ids(&alias, free_text("5")).await, vec![5]);

    // Programme name: only CURRENT memberships count (person 4's GP membership is past, person
    // 1's Core Surgery ones are past; person 3's is current).
    let programme = |name: &str| {
        json!({"nested": {"path": "programmeMemberships", "query": {"bool": {"must": [
            {"match": {"programmeMemberships.programmeName": name}},
            {"term": {"programmeMemberships.programmeMembershipStatus": "CURRENT"}}
        ]}}}})
    };
    assert_eq!(http.ids(&alias, programme("General Practice")).await, vec![1]);
    assert_eq!(http.ids(&alias, programme("Core Surgery")).await, vec![3]);
    assert_eq!(http.ids(&alias, programme("Cardiology Training")).await, Vec::<i64>::new());

    // Filters: values OR-ed within a filter, filters AND-ed.
    let filters = json!({"bool": {"filter": [
        // TCS matches the analysed status with the enum's toString(), lower case.
        {"bool": {"should": [{"match": {"status": "current"}}, {"match": {"status": "inactive"}}]}},
        {"terms": {"currentOwner": ["London"]}}
    ]}});
    assert_eq!(http.ids(&alias, filters).await, vec![1, 3, 5]);
    let placement_filters = json!({"bool": {"filter": [
        {"terms": {"gradeId": [8, 99]}}, {"terms": {"siteId": [71]}},
        {"terms": {"specialty": ["Surgery"]}}, {"terms": {"placementType": ["Parental Leave"]}}
    ]}});
    assert_eq!(http.ids(&alias, placement_filters).await, vec![1]);
    assert_eq!(
        http.ids(&alias, json!({"terms": {"gradeId": [9]}})).await,
        Vec::<i64>::new(),
        "past placements are not in the arrays"
    );
    assert_eq!(http.ids(&alias, json!({"wildcard": {"role": "*Placeholder*"}})).await, vec![4]);

    // A trust admin sees only persons linked to their trusts.
    let trust_admin =
        |trusts: Vec<i64>| json!({"nested": {"path": "trusts", "query": {"terms": {"trusts.trustId": trusts}}}});
    assert_eq!(http.ids(&alias, trust_admin(vec![100])).await, vec![1]);
    assert_eq!(http.ids(&alias, trust_admin(vec![101, 102])).await, vec![1, 3]);
    // A programme observer sees only persons with a membership of their programmes.
    let observer = |programmes: Vec<i64>| {
        json!({"nested": {"path": "programmeMemberships",
        "query": {"terms": {"programmeMemberships.programmeId": programmes}}}})
    };
    assert_eq!(http.ids(&alias, observer(vec![10])).await, vec![1, 4]);
    assert_eq!(http.ids(&alias, observer(vec![12])).await, vec![1, 3]);

    // Sorts.
    let sorted = |field: &str, order: &str| json!({"size": 10, "query": {"match_all": {}}, "sort": [{field: {"order": order}}, {"personId": "asc"}]});
    assert_eq!(http.search(&alias, sorted("surname", "asc")).await, vec![4, 5, 3, 1, 2]);
    assert_eq!(http.search(&alias, sorted("forenames", "asc")).await, vec![1, 5, 4, 2, 3]);
    assert_eq!(http.search(&alias, sorted("gmcNumber", "asc")).await, vec![4, 1, 2, 3, 5]);
    assert_eq!(http.search(&alias, sorted("gdcNumber", "desc")).await[0], 3);
    assert_eq!(http.search(&alias, sorted("currentOwner", "asc")).await, vec![1, 3, 5, 4, 2]);
    assert_eq!(http.search(&alias, sorted("personId", "desc")).await, vec![5, 4, 3, 2, 1]);
}

/// TCS rewrites a person's document after every edit (PersonElasticSearchService.
/// updatePersonDocument: find the person's documents with `match personId`, delete them by id,
/// bulk-index the new one without an id, refresh); spring-data adds its `_class` hint and fields
/// the nightly document does not have (`trusts[].personId`, `programmeMemberships[].id` and
/// `personId`). The rebuilt index must take it: a refused write leaves the person out of people
/// search all day. Then TCS's status filter (`match` "current") finds every CURRENT person.
#[tokio::test]
async fn tcs_rewrite_of_a_person_through_the_alias_is_accepted_and_found_by_tcs_status_filter() {
    let db = TestDb::new().await;
    people(&db.client().await.client).await;
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let http = http();

    let (status, hits) = http.post(&format!("/{alias}/_search"), json!({"query": {"match": {"personId": 1}}})).await;
    assert_eq!(status, 200, "{hits}");
    let ids: Vec<Value> = hits["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_id"].clone()).collect();
    assert_eq!(ids.len(), 1);
    let (status, deleted) =
        http.post(&format!("/{alias}/_delete_by_query"), json!({"query": {"ids": {"values": ids}}})).await;
    assert_eq!((status, &deleted["deleted"]), (200, &json!(1)), "{deleted}");
    // The document as spring-data serialises TCS's PersonView (nulls left out, enums by name).
    let document = json!({
        "_class": "com.transformuk.hee.tis.tcs.service.job.person.PersonView",
        "personId": 1, "intrepidId": "INT1", "surname": "Smithson", "forenames": "Anna Maria",
        "fullName": "Anna Maria Smithson", "gmcNumber": "7654321", "publicHealthNumber": "PH-1",
        "gradeId": 7, "gradeAbbreviation": "ST1", "siteId": 70, "siteCode": "S70", "placementType": "In Post",
        "specialty": "Cardiology", "role": "DR in Training", "status": "CURRENT",
        "currentOwner": "London", "currentOwnerRule": "P1",
        "trusts": [{"personId": 1, "trustId": 100}, {"personId": 1, "trustId": 101}],
        "programmeMemberships": [
            {"id": 9001, "personId": 1, "programmeId": 10, "programmeName": "General Practice",
             "programmeNumber": "GP1", "programmeMembershipStatus": "CURRENT"}
        ]
    });
    let (status, answer) = http.bulk(vec![json!({"index": {"_index": alias}}), document]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], json!(false), "TCS's write was refused: {answer}");
    let (status, _) = http.post(&format!("/{alias}/_refresh"), json!({})).await;
    assert_eq!(status, 200);
    let (_, found) = http.post(&format!("/{alias}/_search"), json!({"query": {"match": {"personId": 1}}})).await;
    assert_eq!(found["hits"]["hits"][0]["_source"]["trusts"][0]["personId"], json!(1), "{found}");
    // TCS's status filter finds the rewritten person with the others.
    let status_current: Value = serde_json::from_str(include_str!("tcs/people_search_status_current.json")).unwrap();
    assert_eq!(http.person_ids(&alias, status_current).await, vec![1, 2, 3, 4], "all CURRENT, not 5");
}

/// TCS's people list with a programme filter, a status filter and free text, replayed as TCS
/// sends it. "smith" finds Goldsmith (the wildcard on the surname keyword, case-sensitive) and
/// Smith (the analysed full name), but only Goldsmith has a current General Practice membership
/// and is CURRENT; Smithson (person 1, in General Practice) is found by neither, as in TCS.
#[tokio::test]
async fn tcs_people_search_with_programme_status_and_text_finds_whom_tcs_would() {
    let db = TestDb::new().await;
    let c = db.client().await;
    people(&c.client).await;
    for (id, status) in [(7i64, "CURRENT"), (8, "INACTIVE")] {
        c.client.execute("INSERT INTO tcs.person (id, status) VALUES ($1, $2)", &[&id, &status]).await.unwrap();
        c.client
            .execute("INSERT INTO tcs.contact_details (id, surname, forenames) VALUES ($1, 'Goldsmith', 'Ann')", &[&id])
            .await
            .unwrap();
        membership(&c.client, id as u32 + 70, id, 10, Some("2024-01-01"), Some("2026-01-01")).await;
    }
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let query: Value = serde_json::from_str(include_str!("tcs/people_search_programme_status_text.json")).unwrap();
    assert_eq!(http().person_ids(&alias, query).await, vec![7], "8 is INACTIVE");
}

/// TCS's people list for a trust admin of trusts 1 and 2, replayed as TCS sends it (nested
/// `match` on `trusts.trustId` per trust, sorted by `personId` descending): the persons of
/// either trust, each once, highest id first.
#[tokio::test]
async fn tcs_people_list_for_a_trust_admin_finds_their_trusts_persons_highest_id_first() {
    let db = TestDb::new().await;
    let c = db.client().await;
    people(&c.client).await;
    c.client
        .batch_execute(
            "INSERT INTO tcs.person_trust (person_id, trust_id, source) VALUES
                 (1, 1, 'employing-body'), (1, 2, 'training-body'), (3, 2, 'employing-body'),
                 (4, 2, 'employing-body'), (5, 3, 'employing-body');",
        )
        .await
        .unwrap();
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let query: Value = serde_json::from_str(include_str!("tcs/people_search_trust_admin.json")).unwrap();
    let (status, answer) = http().post(&format!("/{alias}/_search"), query).await;
    assert_eq!(status, 200, "{answer}");
    let in_order: Vec<i64> =
        answer["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_source"]["personId"].as_i64().unwrap()).collect();
    assert_eq!(in_order, vec![4, 3, 1], "5 is trust 3's");
}

#[tokio::test]
async fn readers_see_the_full_old_index_then_the_full_new_one() {
    let db = TestDb::new().await;
    let c = db.client().await;
    seed::seed(&mut db.client().await.client, 300, 2).await.unwrap();
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    // The seed's persons with contact details (TCS's selection), then 20 more.
    let old: i64 = c.client.query_one("SELECT count(*) FROM tcs.contact_details", &[]).await.unwrap().get(0);
    assert_eq!(http().count(&alias).await, old);
    let new = old + 20;
    c.client
        .batch_execute(
            "INSERT INTO tcs.person (id, status) SELECT g, 'CURRENT' FROM generate_series(1001, 1020) g;
             INSERT INTO tcs.contact_details (id, surname) SELECT g, 'New' FROM generate_series(1001, 1020) g;",
        )
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, alias) = (stop.clone(), alias.clone());
        tokio::spawn(async move {
            let http = http();
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(http.count(&alias).await);
            }
            seen
        })
    };
    sync(&db, &alias).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = reader.await.unwrap();
    assert!(seen.len() > 5, "the reader read during the rebuild");
    assert!(seen.iter().all(|n| *n == old || *n == new), "a reader saw {seen:?}");
    let switched = seen.iter().position(|n| *n == new).expect("the reader saw the new index");
    assert!(seen[switched..].iter().all(|n| *n == new), "never back to the old one: {seen:?}");
    assert!(seen[0] == old, "the old one was served first");
}

#[tokio::test]
async fn a_failed_document_fails_the_run_and_leaves_the_alias_on_the_old_index() {
    let db = TestDb::new().await;
    let c = db.client().await;
    people(&c.client).await;
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let http = http();
    let before = http.alias_targets(&alias).await;
    // A date OpenSearch cannot parse: a mapping conflict on person 3's document.
    c.client
        .execute("UPDATE tcs.programme_membership SET programme_end_date = 'infinity' WHERE person_id = 3", &[])
        .await
        .unwrap();

    let error = sync(&db, &alias).await.unwrap_err().to_string();
    assert!(error.contains("person 3"), "{error}");
    assert!(error.contains("mapper_parsing_exception"), "{error}");
    assert_eq!(http.alias_targets(&alias).await, before, "the alias did not move");
    assert_eq!(http.count(&alias).await, 5);
    assert_eq!(http.indices(&alias).await, before, "the half-built index was deleted");
    let (status, _) = http.get(&format!("/{alias}/_doc/3")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_previous_index_is_kept_and_older_ones_deleted() {
    let db = TestDb::new().await;
    people(&db.client().await.client).await;
    let alias = alias();
    let mut built = Vec::new();
    for _ in 0..3 {
        let summary = sync(&db, &alias).await.unwrap();
        built.push(summary.detail["index"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // distinct timestamps
    }
    let http = http();
    assert_eq!(http.alias_targets(&alias).await, vec![built[2].clone()]);
    assert_eq!(http.indices(&alias).await, vec![built[1].clone(), built[2].clone()]);
}

#[tokio::test]
async fn a_legacy_concrete_index_named_like_the_alias_is_replaced_atomically() {
    let db = TestDb::new().await;
    people(&db.client().await.client).await;
    let alias = alias();
    let http = http();
    let (status, _) = http.put(&format!("/{alias}"), json!({})).await;
    assert_eq!(status, 200);
    let summary = sync(&db, &alias).await.unwrap();
    assert_eq!(summary.detail["legacyIndexRemoved"], true);
    let targets = http.alias_targets(&alias).await;
    assert_eq!(targets.len(), 1);
    assert_ne!(targets[0], alias);
    assert_eq!(http.count(&alias).await, 5);
}

#[tokio::test]
async fn without_opensearch_configured_the_run_fails_naming_the_setting() {
    let db = TestDb::new().await;
    let error = db.runner().run(RunRequest::manual(JobName::PersonElasticsearchSync)).await.unwrap_err();
    assert!(error.to_string().contains("OPENSEARCH_URL"), "{error}");
}

/// The persons indexed once behind a new alias, and a fault proxy in front of the server: the
/// database, the alias, the server's own client, the alias's index and the proxy.
async fn indexed_behind_a_proxy() -> (TestDb, String, Http, Vec<String>, FaultProxy) {
    let db = TestDb::new().await;
    people(&db.client().await.client).await;
    let alias = alias();
    sync(&db, &alias).await.unwrap();
    let http = http();
    let before = http.alias_targets(&alias).await;
    (db, alias, http, before, FaultProxy::start(&search_server::url()).await)
}

/// The alias move applied, its answer lost (the connection closed after the server answered):
/// the run must see where the alias points, not delete the index readers are now served from.
#[tokio::test]
async fn a_lost_alias_swap_reply_leaves_readers_on_the_complete_new_index() {
    let (db, alias, http, before, proxy) = indexed_behind_a_proxy().await;
    proxy.arm("POST", "/_aliases", Loss::Reply, 1);

    let outcome = sync_through(&db, &alias, &proxy.url).await;
    assert_eq!(proxy.taken().len(), 1, "the swap's reply was dropped");
    let (status, answer) = http.get(&format!("/{alias}/_count")).await;
    assert_eq!(status, 200, "readers lost the alias: {answer}");
    assert_eq!(answer["count"], 5);
    let after = http.alias_targets(&alias).await;
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "the swap was applied");
    let summary = outcome.expect("the alias points at the complete new index: the run succeeded");
    assert_eq!(summary.detail["index"].as_str(), Some(after[0].as_str()));
    // The rollback index is kept, and the next run still finds it as such.
    let mut both = [before.clone(), after.clone()].concat();
    both.sort();
    assert_eq!(http.indices(&alias).await, both);
    sync(&db, &alias).await.unwrap();
    assert_eq!(http.count(&alias).await, 5);
    assert!(http.indices(&alias).await.contains(&after[0]), "the previous live index is the rollback one");
}

/// The alias move never reached the server: the alias stays on the old index; the new one is
/// left (the run cannot tell a lost request from one still in flight) and the next run deletes it.
#[tokio::test]
async fn a_lost_alias_swap_request_leaves_the_alias_and_the_next_run_deletes_the_new_index() {
    let (db, alias, http, before, proxy) = indexed_behind_a_proxy().await;
    proxy.arm("POST", "/_aliases", Loss::Request, 1);

    let error = sync_through(&db, &alias, &proxy.url).await.unwrap_err().to_string();
    assert_eq!(proxy.taken().len(), 1);
    assert!(error.contains("moving the alias"), "{error}");
    assert_eq!(http.alias_targets(&alias).await, before);
    assert_eq!(http.count(&alias).await, 5);
    // The move was sent: it could still be applied, so the new index is not deleted now...
    let left: Vec<String> = http.indices(&alias).await.into_iter().filter(|i| !before.contains(i)).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    // ...but by the next run, which finds no alias on it.
    sync(&db, &alias).await.unwrap();
    assert!(!http.indices(&alias).await.contains(&left[0]), "the next run deleted {}", left[0]);
    assert_eq!(http.count(&alias).await, 5);
}

/// Stage and prod on one domain: `persons` and `persons-stage`. Neither deletes the other's
/// indexes, and no run deletes an index another alias points at.
#[tokio::test]
async fn aliases_sharing_a_prefix_never_delete_each_others_indexes() {
    let db = TestDb::new().await;
    people(&db.client().await.client).await;
    let prod = alias();
    let stage = format!("{prod}-stage");
    sync(&db, &stage).await.unwrap();
    let stage_live = http().alias_targets(&stage).await;
    // An index named like prod's, kept by another reader's alias.
    let http = http();
    let kept = format!("{prod}-20200101000000-kept");
    assert_eq!(http.put(&format!("/{kept}"), json!({})).await.0, 200);
    let reader = format!("{prod}_reports");
    let add = json!({"actions": [{"add": {"index": kept, "alias": reader}}]});
    assert_eq!(http.post("/_aliases", add).await.0, 200);

    for _ in 0..3 {
        sync(&db, &prod).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // distinct timestamps
    }
    assert_eq!(http.alias_targets(&stage).await, stage_live, "stage's alias still points at its index");
    assert_eq!(http.count(&stage).await, 5, "stage's readers still have their index");
    assert_eq!(http.alias_targets(&reader).await, vec![kept.clone()], "an aliased index is never deleted");
    assert_eq!(http.count(&prod).await, 5);
}
