//! Pallas as an OAuth 2.1 resource server, through the real binary: a loopback identity
//! provider signs JWTs with a key it generates; agents and the registry accept a valid
//! token for their own URL and refuse a wrong audience, an expired token and a missing
//! scope with the `WWW-Authenticate` the MCP authorization spec asks for.

mod common;
mod exposure_support;
#[path = "auth_support/idp.rs"]
mod idp;

use exposure_support::{MODEL, ProjectDir, Served, get};
use idp::{Idp, new_key, now, sign};
use serde_json::{Value, json};

const AGENTS: &str = r#"
registry_port: 0
auth:
  oauth:
    issuer: "${IDP_ISSUER}"
    scopes: [mcp:call]
agents:
  jarvis:
    port: 0
"#;

fn claims(issuer: &str, audience: &str) -> Value {
    json!({
        "iss": issuer, "aud": audience, "sub": "alice",
        "exp": now() + 300, "iat": now(), "scope": "mcp:call profile",
    })
}

#[tokio::test]
async fn jwts_for_each_servers_own_url_are_accepted_and_bad_ones_refused() {
    let key = new_key("k1");
    let idp = Idp::start(&[&key]).await;
    let project = ProjectDir::new(
        AGENTS,
        &format!("default_model: {MODEL}\nbedrock:\n  region: us-east-1\n"),
    );
    let served = Served::start(&project, &[("IDP_ISSUER", idp.issuer())]).await;
    let registry_port = served.registry.rsplit(':').next().unwrap().to_string();
    let registry_resource = format!("http://localhost:{registry_port}/mcp");

    let registry_token = sign(&key, claims(idp.issuer(), &registry_resource));
    let (status, body, _) = get(&served.registry_url("/agents"), Some(&registry_token)).await;
    assert_eq!(status, 200, "{body}");
    let list: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["credential_required"], true);
    assert!(
        list[0]["auth"]
            .as_str()
            .unwrap()
            .starts_with("OAuth (issuer http://127.0.0.1:")
    );
    let jarvis_resource = list[0]["url"].as_str().unwrap().to_string();
    let jarvis = jarvis_resource.trim_end_matches("/mcp").to_string();

    // The metadata document is open and names the issuer and the scope.
    let (status, body, _) = get(
        &format!("{jarvis}/.well-known/oauth-protected-resource"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metadata["resource"], jarvis_resource);
    assert_eq!(metadata["authorization_servers"], json!([idp.issuer()]));
    assert_eq!(metadata["scopes_supported"], json!(["mcp:call"]));

    let health = format!("{jarvis}/health");
    let (status, _, headers) = get(&health, None).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        format!(
            "Bearer resource_metadata=\"{jarvis}/.well-known/oauth-protected-resource\", scope=\"mcp:call\""
        )
    );

    let good = sign(&key, claims(idp.issuer(), &jarvis_resource));
    let (status, body, _) = get(&health, Some(&good)).await;
    assert_eq!(status, 200, "{body}");

    // The registry's token is for another audience.
    let (status, _, headers) = get(&health, Some(&registry_token)).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let mut expired = claims(idp.issuer(), &jarvis_resource);
    expired["exp"] = json!(now() - 600);
    let (status, _, _) = get(&health, Some(&sign(&key, expired))).await;
    assert_eq!(status, 401);

    let mut no_scope = claims(idp.issuer(), &jarvis_resource);
    no_scope["scope"] = json!("profile");
    let (status, body, headers) = get(&health, Some(&sign(&key, no_scope))).await;
    assert_eq!(status, 403, "{body}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp:call\""),
        "{challenge}"
    );

    let stranger = new_key("k1");
    let (status, _, _) = get(
        &health,
        Some(&sign(&stranger, claims(idp.issuer(), &jarvis_resource))),
    )
    .await;
    assert_eq!(
        status, 401,
        "a token signed by another key with the same kid"
    );
    served.stop().await;
}
