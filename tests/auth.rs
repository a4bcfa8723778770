//! Static tokens, the Host/Origin guard and body limits, through real HTTP on loopback.

mod auth_support;

use std::sync::atomic::Ordering;

use auth_support::{Options, http_client, policy, start, www_authenticate};
use pallas::auth::{AuthMethod, AuthPolicy, BodyLimit};

const TOKEN: &str = "pallas-test-token-0123456789";
const OTHER: &str = "pallas-other-token-9876543210";

fn tokens_policy() -> AuthPolicy {
    policy(&format!("tokens: [{OTHER}, {TOKEN}]"))
}

#[tokio::test]
async fn missing_credential_gets_401_pointing_at_the_metadata() {
    let server = start(tokens_policy(), Options::default()).await;
    let client = http_client();
    for response in [
        client
            .post(server.url("/mcp"))
            .body("{}")
            .send()
            .await
            .unwrap(),
        client.get(server.url("/health")).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 401);
        assert_eq!(
            www_authenticate(&response),
            format!(
                "Bearer resource_metadata=\"http://{}/.well-known/oauth-protected-resource\"",
                server.addr
            )
        );
        let body = response.text().await.unwrap();
        assert!(!body.contains("secret"), "{body}");
    }
    assert_eq!(server.seen.calls(), 0);
}

#[tokio::test]
async fn valid_static_token_is_accepted_and_not_passed_on() {
    let server = start(tokens_policy(), Options::default()).await;
    let response = http_client()
        .post(server.url("/mcp"))
        .bearer_auth(TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "handled");
    assert!(server.seen.authorization_headers.lock().unwrap().is_empty());
    let principal = server.seen.last_principal().unwrap();
    assert_eq!(principal.method, AuthMethod::StaticToken);
    assert_eq!(principal.subject.as_deref(), Some("static-token-1"));
    let health = http_client()
        .get(server.url("/health"))
        .header("authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the scheme is case-insensitive");
}

#[tokio::test]
async fn wrong_or_malformed_credentials_are_invalid_tokens() {
    let server = start(tokens_policy(), Options::default()).await;
    let client = http_client();
    let wrong = client
        .post(server.url("/mcp"))
        .bearer_auth(format!("{TOKEN}x"))
        .send()
        .await
        .unwrap();
    let basic = client
        .post(server.url("/mcp"))
        .basic_auth("user", Some(TOKEN))
        .send()
        .await
        .unwrap();
    for response in [wrong, basic] {
        assert_eq!(response.status(), 401);
        let challenge = www_authenticate(&response);
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", resource_metadata=\"http://"),
            "{challenge}"
        );
        let body = response.text().await.unwrap();
        assert!(!body.contains(TOKEN), "{body}");
    }
    assert_eq!(server.seen.calls(), 0);
}

#[tokio::test]
async fn probes_stay_open_without_credential_or_known_host() {
    let server = start(tokens_policy(), Options::default()).await;
    let client = http_client();
    for (path, word) in [("/livez", "ok"), ("/readyz", "ready")] {
        let response = client
            .get(server.url(path))
            .header("host", "10.1.2.3:8001")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), word);
    }
}

#[tokio::test]
async fn auth_none_lets_calls_through_but_still_drops_the_header() {
    let server = start(policy("none"), Options::default()).await;
    let response = http_client()
        .post(server.url("/mcp"))
        .bearer_auth("caller-token-for-someone-else")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(server.seen.authorization_headers.lock().unwrap().is_empty());
    assert_eq!(
        server.seen.last_principal().unwrap().method,
        AuthMethod::Anonymous
    );
    let metadata = http_client()
        .get(server.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 404, "no metadata without auth");
}

#[tokio::test]
async fn foreign_host_is_refused_on_every_route_before_auth() {
    let server = start(tokens_policy(), Options::default()).await;
    let client = http_client();
    for path in ["/mcp", "/health", "/.well-known/oauth-protected-resource"] {
        let response = client
            .post(server.url(path))
            .header("host", "evil.example")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let body = response.text().await.unwrap();
        assert_eq!(body.lines().count(), 1, "{body}");
        assert!(body.contains("Host `evil.example`"), "{body}");
    }
    let by_name = client
        .post(format!("http://localhost:{}/mcp", server.addr.port()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 200);
    assert_eq!(server.seen.calls(), 1);
}

#[tokio::test]
async fn origin_is_refused_unless_allowed() {
    let server = start(tokens_policy(), Options::default()).await;
    let client = http_client();
    for path in ["/mcp", "/health"] {
        let response = client
            .post(server.url(path))
            .header("origin", "http://evil.example")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Origin `http://evil.example`"), "{body}");
    }
    assert_eq!(server.seen.calls(), 0);

    let allowing = start(
        tokens_policy(),
        Options {
            allowed_origins: vec!["https://app.example.com".to_string()],
            ..Options::default()
        },
    )
    .await;
    let allowed = client
        .post(allowing.url("/mcp"))
        .header("origin", "https://app.example.com")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
}

fn limits(default: usize, authenticated: usize, anonymous: bool) -> Options {
    Options {
        body: BodyLimit::new(default).authenticated("/mcp", authenticated, anonymous),
        ..Options::default()
    }
}

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn declared_oversized_body_is_refused_before_the_handler_runs() {
    let server = start(policy("none"), limits(MIB, MIB, false)).await;
    let response = http_client()
        .post(server.url("/mcp"))
        .body(vec![b'x'; 2 * MIB])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("1048576-byte limit")
    );
    assert_eq!(server.seen.calls(), 0);
}

#[tokio::test]
async fn streamed_oversized_body_is_cut_off_at_the_limit() {
    let server = start(policy("none"), limits(MIB, MIB, false)).await;
    // No Content-Length, so only enforcement while streaming can stop it: one byte over the
    // limit, then the client holds the request open (a body that never ends). The server
    // must answer without waiting for the rest.
    use futures::StreamExt;
    let chunks =
        futures::stream::iter((0..16).map(|_| Ok::<_, std::io::Error>(bytes_chunk(64 * 1024))))
            .chain(futures::stream::once(async { Ok(bytes_chunk(1)) }))
            .chain(futures::stream::pending());
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        http_client()
            .post(server.url("/mcp"))
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    )
    .await
    .expect("answered while the body is still open")
    .unwrap();
    assert_eq!(response.status(), 413);
    let read = server.seen.body_bytes.load(Ordering::SeqCst);
    assert!(read <= MIB, "the handler read {read} bytes");
}

fn bytes_chunk(len: usize) -> Vec<u8> {
    vec![b'y'; len]
}

#[tokio::test]
async fn large_limit_applies_only_to_authenticated_calls() {
    let protected = start(tokens_policy(), limits(MIB, 4 * MIB, false)).await;
    let client = http_client();
    let body = vec![b'z'; 3 * MIB];
    let authenticated = client
        .post(protected.url("/mcp"))
        .bearer_auth(TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(authenticated.status(), 200);
    assert_eq!(protected.seen.body_bytes.load(Ordering::SeqCst), 3 * MIB);
    let unauthenticated = client
        .post(protected.url("/mcp"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        unauthenticated.status(),
        401,
        "auth is decided before the body"
    );

    let open = start(policy("none"), limits(MIB, 4 * MIB, false)).await;
    let anonymous = client
        .post(open.url("/mcp"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 413);
    let trusted = start(policy("none"), limits(MIB, 4 * MIB, true)).await;
    let anonymous = client
        .post(trusted.url("/mcp"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
}
