//! Pallas as an OAuth 2.1 resource server: JWTs signed by keys generated here, a JWKS and
//! issuer metadata served on loopback by a stand-in identity provider.

mod auth_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_support::{Options, Server, http_client, policy, start, www_authenticate};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use pallas::auth::AuthMethod;
use serde_json::{Value, json};

struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

fn new_key(kid: &str) -> SigningKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let key = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    SigningKey {
        kid: kid.to_string(),
        key,
        jwk,
    }
}

struct IdpState {
    issuer: String,
    keys: Mutex<Vec<Jwk>>,
    jwks_fetches: AtomicUsize,
}

/// A stand-in identity provider: RFC 8414 metadata and a JWKS whose keys a test can swap.
struct Idp {
    state: Arc<IdpState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Idp {
    async fn start(keys: &[&SigningKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(IdpState {
            issuer: format!("http://{addr}"),
            keys: Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()),
            jwks_fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(|State(s): State<Arc<IdpState>>| async move {
                    axum::Json(json!({
                        "issuer": s.issuer,
                        "jwks_uri": format!("{}/jwks", s.issuer),
                        "authorization_endpoint": format!("{}/authorize", s.issuer),
                        "token_endpoint": format!("{}/token", s.issuer),
                    }))
                }),
            )
            .route(
                "/jwks",
                get(|State(s): State<Arc<IdpState>>| async move {
                    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = s.keys.lock().unwrap().clone();
                    axum::Json(JwkSet { keys })
                }),
            )
            .with_state(state.clone());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, task }
    }

    fn issuer(&self) -> &str {
        &self.state.issuer
    }

    fn rotate_to(&self, keys: &[&SigningKey]) {
        *self.state.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(key: &SigningKey, claims: Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    encode(&header, &claims, &key.key).unwrap()
}

/// Claims that the server in [`protected`] accepts; tests change one thing at a time.
fn good_claims(idp: &Idp, server: &Server) -> Value {
    json!({
        "iss": idp.issuer(),
        "aud": server.resource(),
        "sub": "alice",
        "exp": now() + 300,
        "iat": now(),
        "scope": "mcp:call profile",
    })
}

async fn protected(idp: &Idp, refetch: Option<Duration>) -> Server {
    let yaml = format!(
        "oauth: {{issuer: '{}', scopes: ['mcp:call']}}",
        idp.issuer()
    );
    start(
        policy(&yaml),
        Options {
            jwks_refetch_interval: refetch,
            ..Options::default()
        },
    )
    .await
}

async fn call(server: &Server, token: &str) -> reqwest::Response {
    http_client()
        .post(server.url("/mcp"))
        .bearer_auth(token)
        .body("{}")
        .send()
        .await
        .unwrap()
}

async fn assert_invalid(server: &Server, token: &str, why: &str) {
    let response = call(server, token).await;
    assert_eq!(response.status(), 401, "{why}");
    let challenge = www_authenticate(&response);
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", resource_metadata="),
        "{why}: {challenge}"
    );
}

#[tokio::test]
async fn valid_jwt_is_accepted_via_discovered_keys() {
    let key = new_key("k1");
    let idp = Idp::start(&[&key]).await;
    let server = protected(&idp, None).await;
    let token = sign(&key, good_claims(&idp, &server));
    let response = call(&server, &token).await;
    assert_eq!(response.status(), 200);
    let principal = server.seen.last_principal().unwrap();
    assert_eq!(principal.method, AuthMethod::OAuth);
    assert_eq!(principal.subject.as_deref(), Some("alice"));
    assert_eq!(principal.scopes, vec!["mcp:call", "profile"]);
    assert!(server.seen.authorization_headers.lock().unwrap().is_empty());
    // The key set is cached: a second call does not fetch it again.
    assert_eq!(call(&server, &token).await.status(), 200);
    assert_eq!(idp.fetches(), 1);
}

#[tokio::test]
async fn wrong_audience_issuer_and_lifetimes_are_refused() {
    let key = new_key("k1");
    let idp = Idp::start(&[&key]).await;
    let server = protected(&idp, None).await;
    let base = good_claims(&idp, &server);
    let with = |field: &str, value: Value| {
        let mut claims = base.clone();
        claims[field] = value;
        sign(&key, claims)
    };
    assert_invalid(
        &server,
        &with("aud", json!("http://other.example/mcp")),
        "audience",
    )
    .await;
    assert_invalid(&server, &with("iss", json!("http://127.0.0.1:1")), "issuer").await;
    assert_invalid(&server, &with("exp", json!(now() - 600)), "expired").await;
    assert_invalid(&server, &with("nbf", json!(now() + 600)), "not yet valid").await;
    let mut no_exp = base.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_invalid(&server, &sign(&key, no_exp), "no exp").await;
    // Within the 60 s leeway both ways.
    assert_eq!(
        call(&server, &with("exp", json!(now() - 20)))
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&server, &with("nbf", json!(now() + 20)))
            .await
            .status(),
        200
    );
    // A key the issuer does not publish.
    let stranger = new_key("k1");
    assert_invalid(&server, &sign(&stranger, base.clone()), "foreign signature").await;
    assert_invalid(&server, "not.a.jwt", "garbage").await;
    let unsigned = format!("eyJhbGciOiJub25lIn0.{}.", "eyJzdWIiOiJ4In0");
    assert_invalid(&server, &unsigned, "alg none").await;
    assert_eq!(server.seen.calls(), 2);
}

#[tokio::test]
async fn first_401_names_the_scopes_to_request() {
    let key = new_key("k1");
    let idp = Idp::start(&[&key]).await;
    let server = protected(&idp, None).await;
    let response = http_client().post(server.url("/mcp")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        www_authenticate(&response),
        format!(
            "Bearer resource_metadata=\"http://{}/.well-known/oauth-protected-resource\", scope=\"mcp:call\"",
            server.addr
        )
    );
}

#[tokio::test]
async fn missing_scope_is_403_naming_the_scope() {
    let key = new_key("k1");
    let idp = Idp::start(&[&key]).await;
    let server = protected(&idp, None).await;
    let mut claims = good_claims(&idp, &server);
    claims["scope"] = json!("profile");
    let response = call(&server, &sign(&key, claims.clone())).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        www_authenticate(&response),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"mcp:call\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource\"",
            server.addr
        )
    );
    // The `scp` array form (Entra, Okta) counts as well.
    claims.as_object_mut().unwrap().remove("scope");
    claims["scp"] = json!(["mcp:call"]);
    assert_eq!(call(&server, &sign(&key, claims)).await.status(), 200);
}

#[tokio::test]
async fn rotated_key_is_accepted_after_a_refetch() {
    let old = new_key("old");
    let new = new_key("new");
    let idp = Idp::start(&[&old]).await;
    let server = protected(&idp, Some(Duration::ZERO)).await;
    let claims = good_claims(&idp, &server);
    assert_eq!(
        call(&server, &sign(&old, claims.clone())).await.status(),
        200
    );
    idp.rotate_to(&[&new]);
    assert_eq!(
        call(&server, &sign(&new, claims.clone())).await.status(),
        200
    );
    assert_eq!(idp.fetches(), 2);
    assert_invalid(&server, &sign(&old, claims), "retired key").await;
}

#[tokio::test]
async fn unknown_key_ids_refetch_at_most_once_per_interval() {
    let old = new_key("old");
    let new = new_key("new");
    let idp = Idp::start(&[&old]).await;
    let server = protected(&idp, None).await;
    let claims = good_claims(&idp, &server);
    assert_eq!(
        call(&server, &sign(&old, claims.clone())).await.status(),
        200
    );
    idp.rotate_to(&[&new]);
    for _ in 0..5 {
        assert_invalid(&server, &sign(&new, claims.clone()), "within the interval").await;
    }
    assert_eq!(
        idp.fetches(),
        1,
        "made-up key ids must not hammer the issuer"
    );
}

#[tokio::test]
async fn explicit_jwks_url_and_static_tokens_work_together() {
    let key = new_key("k1");
    let idp = Idp::start(&[&key]).await;
    let token = "static-token-for-the-ci-runner-01";
    let yaml = format!(
        "{{tokens: ['{token}'], oauth: {{issuer: '{0}', jwks_url: '{0}/jwks', audience: 'pallas-agents'}}}}",
        idp.issuer()
    );
    let server = start(policy(&yaml), Options::default()).await;
    let mut claims = good_claims(&idp, &server);
    claims["aud"] = json!(["someone-else", "pallas-agents"]);
    assert_eq!(call(&server, &sign(&key, claims)).await.status(), 200);
    assert_eq!(call(&server, token).await.status(), 200);
    let last = server.seen.last_principal().unwrap();
    assert_eq!(last.method, AuthMethod::StaticToken);
}

#[tokio::test]
async fn protected_resource_metadata_is_served_without_credential() {
    let key = new_key("k1");
    let idp = Idp::start(&[&key]).await;
    let server = protected(&idp, None).await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = http_client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let document: Value = response.json().await.unwrap();
        assert_eq!(
            document,
            json!({
                "resource": server.resource(),
                "authorization_servers": [idp.issuer()],
                "scopes_supported": ["mcp:call"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
}

#[tokio::test]
async fn unreachable_keys_are_a_503_not_a_401() {
    let key = new_key("k1");
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let yaml = format!("oauth: {{issuer: '{dead}', jwks_url: '{dead}/jwks'}}");
    let server = start(policy(&yaml), Options::default()).await;
    let claims = json!({"iss": dead, "aud": server.resource(), "exp": now() + 300});
    let response = call(&server, &sign(&key, claims)).await;
    assert_eq!(response.status(), 503);
}
