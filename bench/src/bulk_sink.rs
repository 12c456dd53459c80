//! A bulk sink: the benchmark's instrument for the index jobs' own ceiling, never a part of
//! the product. It speaks the few OpenSearch calls a rebuild makes (create, `_bulk`, settings,
//! refresh, count, aliases, list, delete) over real HTTP, answers every `_bulk` item as created
//! and keeps nothing but counts, so the job is measured without a search engine behind it. It
//! still parses every line of every request (a malformed one is answered 400, naming it) and
//! counts documents and bytes, so the job's output is checked; its counts are what `_count`
//! answers, so the job's own check (one document per row) holds only if every one arrived.
//!
//! Optionally it records each `_bulk` body as it came (length-prefixed), so the same requests
//! can be replayed to the OpenSearch-API server without the job (`replay`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::de::IgnoredAny;
use serde::Serialize;
use serde_json::{json, Value};
use shared::search::rebuild::IndexKind;
use shared::search::{OpenSearchIndex, SearchIndex};

/// What the sink was sent since the last `take`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Received {
    pub documents: u64,
    pub bytes: u64,
    pub requests: u64,
}

#[derive(Default)]
struct State {
    /// Each index and the documents it was sent.
    indices: BTreeMap<String, u64>,
    /// alias -> index.
    aliases: BTreeMap<String, String>,
    received: Received,
    recording: Option<BufWriter<std::fs::File>>,
}

pub struct Sink {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Sink {
    /// Listens on a free local port, serving each connection on the runtime it is started on.
    pub async fn start() -> Result<Sink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| answer(state.clone(), request));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Ok(Sink { url, state })
    }

    /// From now on, each `_bulk` body is also written to `path`.
    pub fn record_to(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        self.state.lock().unwrap().recording = Some(BufWriter::with_capacity(1 << 20, file));
        Ok(())
    }

    /// What was received since the last call; stops recording (flushing the file).
    pub fn take(&self) -> Result<Received> {
        let mut state = self.state.lock().unwrap();
        if let Some(mut recording) = state.recording.take() {
            recording.flush()?;
        }
        Ok(std::mem::take(&mut state.received))
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    response
}

fn refuse(what: String) -> Response<Full<Bytes>> {
    reply(StatusCode::BAD_REQUEST, json!({"error": {"type": "bench_sink", "reason": what}, "status": 400}))
}

async fn answer(state: Arc<Mutex<State>>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().replace("%2A", "*").replace("%2a", "*");
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Ok(refuse(format!("reading the body: {e}"))),
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut state = state.lock().unwrap();
    let response = match (&method, segments.as_slice()) {
        (&Method::POST | &Method::PUT, [index, "_bulk"]) => match bulk(index, &body) {
            Ok((items, documents)) => {
                state.received.documents += documents;
                state.received.bytes += body.len() as u64;
                state.received.requests += 1;
                *state.indices.entry(index.to_string()).or_default() += documents;
                if let Some(recording) = state.recording.as_mut() {
                    let written = recording
                        .write_all(&(body.len() as u64).to_le_bytes())
                        .and_then(|_| recording.write_all(&body));
                    if let Err(e) = written {
                        return Ok(refuse(format!("recording the request: {e}")));
                    }
                }
                reply(StatusCode::OK, json!({"took": 0, "errors": false, "items": items}))
            }
            Err(what) => refuse(what),
        },
        (&Method::PUT, [index]) => {
            state.indices.insert(index.to_string(), 0);
            reply(StatusCode::OK, json!({"acknowledged": true, "index": index}))
        }
        (&Method::HEAD, [index]) => {
            let status = if state.indices.contains_key(*index) { StatusCode::OK } else { StatusCode::NOT_FOUND };
            reply(status, json!({}))
        }
        (&Method::DELETE, [index]) => {
            state.indices.remove(*index);
            state.aliases.retain(|_, target| target != index);
            reply(StatusCode::OK, json!({"acknowledged": true}))
        }
        (&Method::PUT, [_, "_settings"]) => reply(StatusCode::OK, json!({"acknowledged": true})),
        (&Method::POST | &Method::GET, [_, "_refresh"]) => {
            reply(StatusCode::OK, json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}))
        }
        (&Method::GET | &Method::POST, [index, "_count"]) => match state.indices.get(*index) {
            Some(count) => reply(StatusCode::OK, json!({"count": count})),
            None => reply(StatusCode::NOT_FOUND, json!({"error": format!("no index {index}")})),
        },
        (&Method::GET, ["_alias", alias]) => match state.aliases.get(*alias) {
            Some(index) => reply(StatusCode::OK, json!({ index.clone(): {"aliases": { *alias: {} }} })),
            None => reply(StatusCode::NOT_FOUND, json!({})),
        },
        (&Method::GET, [pattern, "_alias"]) => {
            let prefix = pattern.trim_end_matches('*');
            let indices: serde_json::Map<String, Value> = state
                .indices
                .keys()
                .filter(|i| i.starts_with(prefix))
                .map(|i| {
                    let aliases: serde_json::Map<String, Value> = state
                        .aliases
                        .iter()
                        .filter(|(_, target)| *target == i)
                        .map(|(a, _)| (a.clone(), json!({})))
                        .collect();
                    (i.clone(), json!({ "aliases": aliases }))
                })
                .collect();
            reply(StatusCode::OK, Value::Object(indices))
        }
        (&Method::POST, ["_aliases"]) => match update_aliases(&mut state, &body) {
            Ok(()) => reply(StatusCode::OK, json!({"acknowledged": true})),
            Err(what) => refuse(what),
        },
        _ => refuse(format!("the bench sink does not serve {method} {path}")),
    };
    Ok(response)
}

/// Every item of a `_bulk` body, each answered as created: the items and the document count.
fn bulk(index: &str, body: &[u8]) -> std::result::Result<(Vec<Value>, u64), String> {
    let mut items = Vec::new();
    let mut lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate();
    while let Some((n, action)) = lines.next() {
        let action: Value =
            serde_json::from_slice(action).map_err(|e| format!("line {}: the action is not JSON: {e}", n + 1))?;
        let id = action["index"]["_id"]
            .as_str()
            .ok_or_else(|| format!("line {}: an index action with an _id expected, got {action}", n + 1))?
            .to_string();
        let (m, document) = lines.next().ok_or_else(|| format!("line {}: an action without a document", n + 1))?;
        serde_json::from_slice::<IgnoredAny>(document)
            .map_err(|e| format!("line {}: the document of {id} is not JSON: {e}", m + 1))?;
        items.push(json!({"index": {"_index": index, "_id": id, "_version": 1, "result": "created", "status": 201}}));
    }
    let documents = items.len() as u64;
    Ok((items, documents))
}

fn update_aliases(state: &mut State, body: &[u8]) -> std::result::Result<(), String> {
    let actions: Value = serde_json::from_slice(body).map_err(|e| format!("the alias actions are not JSON: {e}"))?;
    for action in actions["actions"].as_array().ok_or("no actions")? {
        if let Some(add) = action.get("add") {
            let (index, alias) = (add["index"].as_str(), add["alias"].as_str());
            let (Some(index), Some(alias)) = (index, alias) else { return Err(format!("a bad add: {action}")) };
            state.aliases.insert(alias.into(), index.into());
        } else if let Some(remove) = action.get("remove") {
            state.aliases.remove(remove["alias"].as_str().unwrap_or_default());
        } else if let Some(remove) = action.get("remove_index") {
            state.indices.remove(remove["index"].as_str().unwrap_or_default());
        } else {
            return Err(format!("an alias action the sink does not know: {action}"));
        }
    }
    Ok(())
}

/// What the OpenSearch-API server takes of the recorded requests, one at a time as the job sends
/// them, through the job's own client, into a new index of `kind`'s definition (deleted after).
#[derive(Debug, Serialize)]
pub struct Replayed {
    pub documents: u64,
    pub requests: u64,
    pub ms: u64,
    pub documents_per_second: f64,
}

pub async fn replay(opensearch_url: &str, recording: &Path, kind: &IndexKind) -> Result<Replayed> {
    let client = OpenSearchIndex::connect(opensearch_url, None)?;
    let index = format!("bench-replay-{}", chrono::Utc::now().timestamp_millis());
    client.create_index(&index, &kind.definition()).await?;
    let mut file = BufReader::new(std::fs::File::open(recording)?);
    let (mut documents, mut requests) = (0u64, 0u64);
    let start = Instant::now();
    loop {
        let mut length = [0u8; 8];
        match file.read_exact(&mut length) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
        let mut body = vec![0u8; u64::from_le_bytes(length) as usize];
        file.read_exact(&mut body)?;
        let body = String::from_utf8(body).context("a recorded request is UTF-8")?;
        let in_body = body.lines().count() as u64 / 2;
        let failures = client.bulk(&index, body).await?;
        anyhow::ensure!(failures.is_empty(), "the replay's items failed: {:?}", failures.first());
        documents += in_body;
        requests += 1;
    }
    let ms = start.elapsed().as_millis() as u64;
    client.delete_index(&index).await?;
    Ok(Replayed { documents, requests, ms, documents_per_second: documents as f64 / (ms.max(1) as f64 / 1000.0) })
}
