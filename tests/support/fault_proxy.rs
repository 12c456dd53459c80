//! A fault proxy: a test instrument in front of a real HTTP server (the OpenSearch-API server).
//! Every request is forwarded as it came and its answer returned, except the next requests that
//! match an armed fault, which lose their reply or never arrive, or are refused as a managed
//! domain's security plugin refuses a role without the permission (osmem-server has no security
//! plugin; nothing else is answered on the server's behalf).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

/// What happens to a request that matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Forwarded, answered by the server, and the connection closed before the answer is
    /// returned: the server applied it, the client never learns so.
    Reply,
    /// The connection closed before anything is forwarded: the server never sees it.
    Request,
    /// Neither forwarded nor answered, the connection held open: a black hole.
    Everything,
    /// Not forwarded: answered with this status as a managed domain does when it sheds load
    /// (429, `es_rejected_execution_exception`) or has no node to serve it (503).
    Status(u16),
    /// Not forwarded: answered 403 with the body fine-grained access control sends when the
    /// caller's mapped roles lack the action (opensearch-project/security's PrivilegesEvaluator:
    /// "no permissions for [ACTION] and User [...]", as quoted in jaegertracing/jaeger#3727).
    Forbidden,
}

/// The transport action the security plugin checks for a REST call (the ones the functions make).
fn action(method: &str, path: &str) -> &'static str {
    match method {
        _ if path.contains("_alias") => "indices:admin/aliases/get",
        "PUT" => "indices:admin/create",
        "DELETE" => "indices:admin/delete",
        _ => "indices:data/read/search",
    }
}

/// The security plugin's refusal, for a role arn:aws:iam::…:role/<function's role> FGAC mapped to
/// nothing that allows `action`.
fn forbidden(action: &str) -> Response<Full<Bytes>> {
    let reason = format!(
        "no permissions for [{action}] and User [name=arn:aws:iam::123456789012:role/tis-sync-role, \
         backend_roles=[arn:aws:iam::123456789012:role/tis-sync-role], requestedTenant=null]"
    );
    let body = serde_json::json!({
        "error": {"root_cause": [{"type": "security_exception", "reason": reason}], "type": "security_exception", "reason": reason},
        "status": 403
    });
    Response::builder()
        .status(403)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

/// A domain's refusal with `status`: 429 with the rejected-execution error a full write queue
/// gives, anything else as a bare error.
fn refused(status: u16) -> Response<Full<Bytes>> {
    let kind = if status == 429 { "es_rejected_execution_exception" } else { "unavailable" };
    let body = serde_json::json!({"error": {"type": kind, "reason": "refused by the fault proxy"}, "status": status});
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path: String,
    loss: Loss,
    times: usize,
}

#[derive(Default)]
struct State {
    faults: Vec<Fault>,
    /// `(method path, loss)` of each request a fault took, in order.
    taken: Vec<(String, Loss)>,
}

pub struct FaultProxy {
    /// Where clients connect (http://127.0.0.1:PORT).
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Listens on a free local port, forwarding to `upstream` (http://host:port).
    pub async fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_at("127.0.0.1:0", upstream).await
    }

    /// Listens on `address` (host:port), forwarding to `upstream`.
    pub async fn start_at(address: &str, upstream: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind(address).await.expect("bind the fault proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, upstream) = (shared.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |request| handle(state.clone(), upstream.clone(), request));
                    // A lost reply ends the connection with an error: that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { url, state }
    }

    /// The next `times` requests `method path...` (`"POST"`, a path or the start of one, without
    /// the query; `*/_bulk`: any path ending so) suffer `loss`.
    pub fn arm(&self, method: &str, path: &str, loss: Loss, times: usize) {
        let (method, path) = (method.to_string(), path.to_string());
        self.state.lock().unwrap().faults.push(Fault { method, path, loss, times });
    }

    /// No fault armed any more.
    pub fn disarm(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// The requests a fault took so far.
    pub fn taken(&self) -> Vec<(String, Loss)> {
        self.state.lock().unwrap().taken.clone()
    }
}

#[derive(Debug)]
struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lost by the fault proxy")
    }
}

impl std::error::Error for Lost {}

async fn handle(
    state: Arc<Mutex<State>>,
    upstream: String,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Lost> {
    let loss = {
        let mut state = state.lock().unwrap();
        let (method, path) = (request.method().as_str().to_string(), request.uri().path().to_string());
        let fault = state.faults.iter_mut().find(|f| f.times > 0 && f.method == method && matches(&f.path, &path));
        let loss = fault.map(|f| {
            f.times -= 1;
            f.loss
        });
        if let Some(loss) = loss {
            state.taken.push((format!("{method} {path}"), loss));
        }
        loss
    };
    match loss {
        Some(Loss::Request) => return Err(Lost),
        Some(Loss::Everything) => std::future::pending::<()>().await,
        Some(Loss::Forbidden) => return Ok(forbidden(action(request.method().as_str(), request.uri().path()))),
        Some(Loss::Status(status)) => return Ok(refused(status)),
        _ => {}
    }
    let answer = forward(&upstream, request).await;
    match loss {
        Some(Loss::Reply) => Err(Lost),
        _ => Ok(answer),
    }
}

/// `pattern` is the start of `path`, or `*` and its end.
fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(end) => path.ends_with(end),
        None => path.starts_with(pattern),
    }
}

/// Sends `request` to the server over a connection of its own and reads the whole answer.
async fn forward(upstream: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let stream = tokio::net::TcpStream::connect(upstream).await.expect("the fault proxy reaches its server");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("HTTP handshake");
    tokio::spawn(connection);
    let answer = sender.send_request(Request::from_parts(parts, Full::new(body))).await.expect("the server answers");
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Response::from_parts(parts, Full::new(body))
}
