//! Pallas as an OAuth 2.1 resource server: JWTs signed by keys generated here, a JWKS and
//! issuer metadata served on loopback by a stand-in identity provider.

mod auth_support;
#[path = "auth_support/idp.rs"]
mod idp;

use std::time::Duration;

use auth_support::{Options, Server, http_client, policy, start, www_authenticate};
use idp::{Idp, new_key, now, sign};
use pallas::auth::AuthMethod;
use serde_json::{Value, json};

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
