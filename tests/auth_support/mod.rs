//! A protected in-process server for the auth tests: an inner app that records what it was
//! given (Authorization header, principal, body bytes), wrapped by `pallas::auth::protect`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http_body_util::BodyExt;
use pallas::auth::{AuthPolicy, Authenticator, BodyLimit, Principal, protect};
use pallas::http_guard::HostOriginGuard;

/// What the inner service observed.
#[derive(Default)]
pub struct Seen {
    pub calls: AtomicUsize,
    pub body_bytes: AtomicUsize,
    pub authorization_headers: Mutex<Vec<String>>,
    pub principals: Mutex<Vec<Principal>>,
}

impl Seen {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn last_principal(&self) -> Option<Principal> {
        self.principals.lock().unwrap().last().cloned()
    }
}

/// Reads the body frame by frame the way rmcp does, so a limit cut-off shows as a read
/// error (answered 500, which the body-limit layer must turn into 413).
async fn mcp(
    State(seen): State<Arc<Seen>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or("<binary>").to_string();
        seen.authorization_headers.lock().unwrap().push(text);
    }
    if let Some(Extension(principal)) = principal {
        seen.principals.lock().unwrap().push(principal);
    }
    let mut body = body;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    seen.body_bytes.fetch_add(data.len(), Ordering::SeqCst);
                }
            }
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Failed to read request body: {e}"),
                );
            }
        }
    }
    (StatusCode::OK, "handled".to_string())
}

pub fn inner_app(seen: Arc<Seen>) -> Router {
    Router::new()
        .route("/mcp", post(mcp))
        .route(
            "/health",
            get(|| async { "{\"status\":\"ok\",\"detail\":\"secret\"}" }),
        )
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .with_state(seen)
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[derive(Default)]
pub struct Options {
    pub allowed_origins: Vec<String>,
    pub body: BodyLimit,
    pub jwks_refetch_interval: Option<std::time::Duration>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn resource(&self) -> String {
        self.url("/mcp")
    }
}

pub async fn start(policy: AuthPolicy, options: Options) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut auth =
        Authenticator::new(&policy, &format!("http://{addr}/mcp"), http_client()).unwrap();
    if let Some(interval) = options.jwks_refetch_interval {
        auth = auth.with_jwks_refetch_interval(interval);
    }
    let guard = HostOriginGuard::new(["127.0.0.1", "localhost"], &options.allowed_origins).unwrap();
    let seen = Arc::new(Seen::default());
    let app = protect(
        inner_app(seen.clone()),
        Arc::new(guard),
        Arc::new(auth),
        options.body,
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { addr, seen, task }
}

pub fn policy(yaml: &str) -> AuthPolicy {
    serde_yaml::from_str(yaml).unwrap()
}

pub fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
