//! `SearchIndex` over the `opensearch` crate: plain http locally, SigV4-signed (service `es`)
//! for an https endpoint in AWS. 429 answers are retried with backoff, whole requests and
//! single bulk items alike.

use std::time::Duration;

use opensearch::http::response::Response;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::StatusCode;
use opensearch::indices::{
    IndicesCreateParts, IndicesDeleteParts, IndicesExistsParts, IndicesGetAliasParts, IndicesPutSettingsParts,
    IndicesRefreshParts,
};
use opensearch::{BulkParts, CountParts, OpenSearch};
use serde_json::Value;
use sync_core::search_index::{self, Concrete};

use super::{ItemFailure, SearchIndex};
use crate::error::{Cause, Error, Result};
use crate::retry::RetryPolicy;

/// Attempts for a request answered 429 (too many requests), the first included.
const THROTTLE_ATTEMPTS: u32 = 6;

/// How a throttled request backs off: 0.2 s doubling, up to 6.4 s before the last attempt.
const THROTTLE_BACKOFF: RetryPolicy = RetryPolicy {
    max_attempts: THROTTLE_ATTEMPTS,
    first_delay: Duration::from_millis(200),
    max_delay: Duration::from_millis(6400),
};

#[derive(Clone)]
pub struct OpenSearchIndex {
    client: OpenSearch,
    backoff: RetryPolicy,
}

fn search_error(operation: &str, reason: impl Into<Cause>) -> Error {
    Error::Search { operation: operation.to_string(), reason: reason.into() }
}

impl OpenSearchIndex {
    /// `url` from `OPENSEARCH_URL`. An https endpoint is an AWS domain: requests are signed
    /// with the credentials and region of `aws`.
    pub fn connect(url: &str, aws: Option<&aws_config::SdkConfig>) -> Result<Self> {
        let parsed = opensearch::http::Url::parse(url)
            .map_err(|e| Error::Config(format!("OPENSEARCH_URL '{url}' is not a URL: {e}")))?;
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(parsed.clone()))
            .timeout(Duration::from_secs(120))
            .disable_proxy();
        if parsed.scheme() == "https" {
            let aws = aws.ok_or_else(|| {
                Error::Config(
                    "an https OPENSEARCH_URL is signed with AWS credentials: AWS configuration is missing".into(),
                )
            })?;
            let credentials = opensearch::auth::Credentials::try_from(aws)
                .map_err(|e| Error::Config(format!("AWS credentials for signing OpenSearch requests: {e}")))?;
            builder = builder.auth(credentials).service_name("es");
        }
        let transport = builder.build().map_err(|e| Error::Config(format!("OpenSearch client for {url}: {e}")))?;
        Ok(OpenSearchIndex { client: OpenSearch::new(transport), backoff: THROTTLE_BACKOFF })
    }

    pub fn client(&self) -> &OpenSearch {
        &self.client
    }

    /// Sends a request, retrying 429 answers; any other non-success status is an error with the
    /// server's answer.
    async fn send<F, Fut>(&self, operation: &str, request: F) -> Result<Response>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Response, opensearch::Error>>,
    {
        for attempt in 1..=THROTTLE_ATTEMPTS {
            let response = request().await.map_err(|e| search_error(operation, Cause::of(e)))?;
            let status = response.status_code();
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < THROTTLE_ATTEMPTS {
                let delay = self.backoff.pause_before(attempt + 1).await;
                tracing::warn!(
                    operation,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "OpenSearch answered 429; backed off"
                );
                continue;
            }
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(search_error(operation, format!("HTTP {status}: {}", truncate(&body, 2000))));
            }
            return Ok(response);
        }
        unreachable!("the last attempt returns")
    }

    async fn json(&self, operation: &str, response: Response) -> Result<Value> {
        response.json::<Value>().await.map_err(|e| search_error(operation, Cause::of(e)))
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl SearchIndex for OpenSearchIndex {
    async fn create_index(&self, name: &str, body: &Value) -> Result<()> {
        self.send("creating the index", || async {
            self.client.indices().create(IndicesCreateParts::Index(name)).body(body.clone()).send().await
        })
        .await?;
        Ok(())
    }

    async fn bulk(&self, index: &str, ndjson: String) -> Result<Vec<ItemFailure>> {
        let mut pending = ndjson;
        for attempt in 1..=THROTTLE_ATTEMPTS {
            let body = pending.clone();
            let response = self
                .send("bulk indexing", || async {
                    self.client.bulk(BulkParts::Index(index)).body(vec![body.clone()]).send().await
                })
                .await?;
            let answer = self.json("bulk indexing", response).await?;
            let (throttled, failures) = split_bulk_answer(&pending, &answer)?;
            if throttled.is_empty() || attempt == THROTTLE_ATTEMPTS {
                let mut failures = failures;
                failures.extend(throttled.iter().map(|(id, _)| ItemFailure {
                    id: id.clone(),
                    status: 429,
                    reason: format!("still throttled after {THROTTLE_ATTEMPTS} attempts"),
                }));
                return Ok(failures);
            }
            if !failures.is_empty() {
                return Ok(failures);
            }
            tracing::warn!(items = throttled.len(), attempt, "bulk items answered 429; re-sending them");
            self.backoff.pause_before(attempt + 1).await;
            pending = throttled.into_iter().map(|(_, lines)| lines).collect();
        }
        unreachable!("the last attempt returns")
    }

    async fn put_settings(&self, index: &str, body: &Value) -> Result<()> {
        self.send("updating index settings", || async {
            self.client.indices().put_settings(IndicesPutSettingsParts::Index(&[index])).body(body.clone()).send().await
        })
        .await?;
        Ok(())
    }

    async fn refresh(&self, index: &str) -> Result<()> {
        self.send("refreshing the index", || async {
            self.client.indices().refresh(IndicesRefreshParts::Index(&[index])).send().await
        })
        .await?;
        Ok(())
    }

    async fn count(&self, index: &str) -> Result<u64> {
        let response = self
            .send("counting documents", || async { self.client.count(CountParts::Index(&[index])).send().await })
            .await?;
        let answer = self.json("counting documents", response).await?;
        answer["count"].as_u64().ok_or_else(|| search_error("counting documents", format!("no count in {answer}")))
    }

    async fn alias_targets(&self, alias: &str) -> Result<Vec<String>> {
        let response = self
            .client
            .indices()
            .get_alias(IndicesGetAliasParts::Name(&[alias]))
            .send()
            .await
            .map_err(|e| search_error("reading the alias", Cause::of(e)))?;
        if response.status_code() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !response.status_code().is_success() {
            let status = response.status_code();
            let body = response.text().await.unwrap_or_default();
            return Err(search_error("reading the alias", format!("HTTP {status}: {}", truncate(&body, 2000))));
        }
        let answer = self.json("reading the alias", response).await?;
        let mut indices: Vec<String> = answer.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        indices.sort();
        Ok(indices)
    }

    async fn index_exists(&self, name: &str) -> Result<bool> {
        let response = self
            .client
            .indices()
            .exists(IndicesExistsParts::Index(&[name]))
            .send()
            .await
            .map_err(|e| search_error("checking for an index", Cause::of(e)))?;
        Ok(response.status_code().is_success())
    }

    async fn concrete_indices(&self, alias: &str) -> Result<Vec<Concrete>> {
        // `GET <alias>-*/_alias` answers every matching index with its aliases ({} for none).
        let pattern = format!("{alias}-*");
        let response = self
            .send("listing indices", || async {
                self.client.indices().get_alias(IndicesGetAliasParts::Index(&[&pattern])).send().await
            })
            .await?;
        let answer = self.json("listing indices", response).await?;
        let mut indices: Vec<Concrete> = answer
            .as_object()
            .map(|indices| {
                indices
                    .iter()
                    .filter(|(name, _)| search_index::is_concrete_of(alias, name))
                    .map(|(name, entry)| Concrete {
                        name: name.clone(),
                        aliases: entry["aliases"].as_object().map(|a| a.keys().cloned().collect()).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        indices.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(indices)
    }

    async fn update_aliases(&self, actions: &Value) -> Result<()> {
        self.send("moving the alias", || async {
            self.client.indices().update_aliases().body(actions.clone()).send().await
        })
        .await?;
        Ok(())
    }

    async fn delete_index(&self, name: &str) -> Result<()> {
        self.send("deleting an index", || async {
            self.client.indices().delete(IndicesDeleteParts::Index(&[name])).send().await
        })
        .await?;
        Ok(())
    }
}

/// Items of a bulk answer: those throttled (429), with their original action and document lines
/// to re-send, and those failed for good. Items and request lines pair up in order.
type Throttled = Vec<(String, String)>;

fn split_bulk_answer(request: &str, answer: &Value) -> Result<(Throttled, Vec<ItemFailure>)> {
    let mut throttled = Vec::new();
    let mut failures = Vec::new();
    if answer["errors"].as_bool() != Some(true) {
        return Ok((throttled, failures));
    }
    let items = answer["items"]
        .as_array()
        .ok_or_else(|| search_error("bulk indexing", "the answer has errors but no items"))?;
    let mut lines = request.lines();
    for item in items {
        let (action, document) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
        let result = item.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(Value::Null);
        let status = result["status"].as_u64().unwrap_or(0) as u16;
        let id = result["_id"].as_str().unwrap_or("").to_string();
        if (200..300).contains(&status) {
            continue;
        }
        if status == 429 {
            throttled.push((id, format!("{action}\n{document}\n")));
        } else {
            let reason = match &result["error"] {
                Value::Object(e) => format!(
                    "{}: {}",
                    e.get("type").and_then(Value::as_str).unwrap_or("error"),
                    e.get("reason").and_then(Value::as_str).unwrap_or("")
                ),
                other => other.to_string(),
            };
            failures.push(ItemFailure { id, status, reason });
        }
    }
    Ok((throttled, failures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bulk_answers_split_into_throttled_items_to_resend_and_failures() {
        let request = "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_id\":\"2\"}}\n{\"a\":2}\n{\"index\":{\"_id\":\"3\"}}\n{\"a\":3}\n";
        let answer = json!({"errors": true, "items": [
            {"index": {"_id": "1", "status": 201}},
            {"index": {"_id": "2", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
            {"index": {"_id": "3", "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [d]"}}}
        ]});
        let (throttled, failures) = split_bulk_answer(request, &answer).unwrap();
        assert_eq!(throttled, vec![("2".to_string(), "{\"index\":{\"_id\":\"2\"}}\n{\"a\":2}\n".to_string())]);
        assert_eq!(
            failures,
            vec![ItemFailure {
                id: "3".into(),
                status: 400,
                reason: "mapper_parsing_exception: failed to parse field [d]".into()
            }]
        );
    }

    #[test]
    fn an_answer_without_errors_has_no_failures() {
        let (throttled, failures) = split_bulk_answer("", &json!({"errors": false, "items": []})).unwrap();
        assert!(throttled.is_empty() && failures.is_empty());
    }
}
