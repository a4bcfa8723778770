//! Every credential source of the AWS default chain, end to end: the `pallas` binary runs as
//! a subprocess with a cleared environment (private HOME, temporary AWS config files) against
//! an in-process Bedrock simulator, and the test checks what reached the wire — the
//! simulator records each request's `Authorization` and `x-amz-security-token` headers.
//! Container (ECS) and instance (IMDS) credentials come from small loopback endpoints
//! started here; so do the STS and SSO answers for web identity and SSO profiles.
//!
//! `pallas check` shows which source the preflight found; `pallas serve` plus one MCP call
//! shows the real Converse request is signed with it.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use common::binary::hermetic_tokio_command;
use pallas_simulator::{RecordedRequest, Simulator};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const TIMEOUT: Duration = Duration::from_secs(60);
const MODEL: &str = "bedrock.us.anthropic.claude-sonnet-4-6";
/// Distinctive so a leak into any output is found by a substring search.
const SECRET: &str = "secret-Qm4tY8wLz2";
const SESSION: &str = "session-Hc7pV1nR5";

// ---- harness -------------------------------------------------------------------------

/// A project folder (agents.yaml + fastagent.config.yaml pointing Bedrock at the simulator)
/// with a private HOME.
struct Fixture {
    sim: Simulator,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(bedrock_extra: &str) -> Fixture {
        let sim = Simulator::start(([127, 0, 0, 1], 0).into()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::write(
            dir.path().join("agents.yaml"),
            "name: creds\nregistry_port: 0\nagents:\n  scribe:\n    port: 0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("fastagent.config.yaml"),
            format!(
                "default_model: {MODEL}\nbedrock:\n  region: us-east-1\n  endpoint_url: {}\n{bedrock_extra}",
                sim.endpoint_url()
            ),
        )
        .unwrap();
        Fixture { sim, dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `pallas <sub> --config agents.yaml` with only PATH, HOME, IMDS disabled and `env`.
    fn command(&self, sub: &str, env: &[(&str, String)]) -> Command {
        let mut cmd = hermetic_tokio_command(&self.home());
        cmd.arg(sub).arg("--config").arg(self.path("agents.yaml"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `pallas check`: (exit code, the preflight line, all output).
    async fn check(&self, env: &[(&str, String)]) -> (Option<i32>, String, String) {
        let out = tokio::time::timeout(TIMEOUT, self.command("check", env).output())
            .await
            .expect("pallas check finishes")
            .expect("run pallas check");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = format!(
            "{stdout}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let preflight = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("preflight:"))
            .unwrap_or_else(|| panic!("no preflight line\n{all}"))
            .to_string();
        assert!(
            !all.contains(SECRET) && !all.contains(SESSION),
            "secret leaked\n{all}"
        );
        (out.status.code(), preflight, all)
    }

    /// `pallas serve`, `asks` calls to the agent (with `pause` between them), then the
    /// Converse requests the simulator received.
    async fn serve_and_ask(
        &self,
        env: &[(&str, String)],
        asks: usize,
        pause: Duration,
    ) -> Vec<RecordedRequest> {
        let mut cmd = self.command("serve", env);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn pallas serve");
        let stderr = child.stderr.take().unwrap();
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let sink = stderr_text.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.trim_start().strip_prefix("agent scribe") {
                    return rest.split_whitespace().next().map(str::to_string);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no agent line\n{}", stderr_text.lock().unwrap()));
        let (client, _) = common::connect(&url).await;
        for i in 0..asks {
            if i > 0 {
                tokio::time::sleep(pause).await;
            }
            let (answer, is_error) = common::ask(&client, "scribe", "hello").await;
            assert!(
                !is_error,
                "call {i} failed: {answer}\n{}",
                stderr_text.lock().unwrap()
            );
        }
        let _ = client.cancel().await;
        let _ = child.kill().await;
        let text = stderr_text.lock().unwrap().clone();
        assert!(
            !text.contains(SECRET) && !text.contains(SESSION),
            "secret leaked\n{text}"
        );
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.operation.starts_with("Converse"))
            .collect()
    }
}

/// The access key id a SigV4 `Authorization` header names.
fn signed_key(request: &RecordedRequest) -> String {
    let auth = request.header("authorization").unwrap_or_default();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "not SigV4: {auth}");
    auth.split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .unwrap_or_default()
        .to_string()
}

fn keys_env(session: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT".to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
    ];
    if session {
        env.push(("AWS_SESSION_TOKEN", SESSION.to_string()));
    }
    env
}

/// A loopback HTTP server for credential endpoints; returns its base URL.
async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// ---- Bedrock API key -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_sent_as_authorization_bearer_without_sigv4() {
    let fx = Fixture::new("").await;
    // Access keys are set too: the API key still wins for Bedrock Runtime.
    let mut env = keys_env(false);
    env.push((
        "AWS_BEARER_TOKEN_BEDROCK",
        "bedrock-api-key-Zx81".to_string(),
    ));
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(
        preflight.contains("AWS_BEARER_TOKEN_BEDROCK"),
        "{preflight}"
    );
    assert!(
        !all.contains("bedrock-api-key-Zx81"),
        "API key leaked\n{all}"
    );

    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    let call = requests.last().expect("a Converse call");
    assert_eq!(
        call.header("authorization"),
        Some("Bearer bedrock-api-key-Zx81"),
        "{:?}",
        call.headers
    );
    assert!(call.header("x-amz-security-token").is_none());
    assert!(
        call.header("x-amz-date").is_none(),
        "no SigV4 signing: {:?}",
        call.headers
    );
}

// ---- environment variables -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_keys_from_the_environment_with_and_without_a_session_token() {
    let fx = Fixture::new("").await;
    let (code, preflight, all) = fx.check(&keys_env(false)).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(
        preflight.contains("environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{preflight}"
    );
    let (_, preflight, _) = fx.check(&keys_env(true)).await;
    assert!(preflight.contains("AWS_SESSION_TOKEN"), "{preflight}");

    let requests = fx.serve_and_ask(&keys_env(false), 1, Duration::ZERO).await;
    let plain = requests.last().unwrap();
    assert_eq!(signed_key(plain), "AKIDENVIRONMENT");
    assert!(plain.header("x-amz-security-token").is_none());

    fx.sim.clear_requests();
    let requests = fx.serve_and_ask(&keys_env(true), 1, Duration::ZERO).await;
    let temporary = requests.last().unwrap();
    assert_eq!(signed_key(temporary), "AKIDENVIRONMENT");
    assert_eq!(temporary.header("x-amz-security-token"), Some(SESSION));
}

// ---- profiles --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_from_a_temporary_aws_config_file_via_aws_profile_or_bedrock_profile() {
    let fx = Fixture::new("").await;
    let config = fx.path("aws-config");
    std::fs::write(
        &config,
        format!(
            "[default]\nregion = us-east-1\n\n[profile dev]\naws_access_key_id = AKIDPROFILEDEV\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .unwrap();
    let env = vec![
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "dev".to_string()),
    ];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(
        preflight.contains("profile 'dev' (AWS_PROFILE)"),
        "{preflight}"
    );
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    assert_eq!(signed_key(requests.last().unwrap()), "AKIDPROFILEDEV");

    // `bedrock.profile` in the config names it instead of AWS_PROFILE.
    let fx = Fixture::new("  profile: dev\n").await;
    let env = vec![("AWS_CONFIG_FILE", config.display().to_string())];
    let (_, preflight, _) = fx.check(&env).await;
    assert!(
        preflight.contains("profile 'dev' (bedrock.profile)"),
        "{preflight}"
    );
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    assert_eq!(signed_key(requests.last().unwrap()), "AKIDPROFILEDEV");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_profile_from_a_shared_credentials_file() {
    let fx = Fixture::new("").await;
    let credentials = fx.path("aws-credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = AKIDCREDFILE\naws_secret_access_key = {SECRET}\naws_session_token = {SESSION}\n"
        ),
    )
    .unwrap();
    let env = vec![(
        "AWS_SHARED_CREDENTIALS_FILE",
        credentials.display().to_string(),
    )];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(preflight.contains("profile 'default'"), "{preflight}");
    assert!(
        preflight.contains(&credentials.display().to_string()),
        "{preflight}"
    );
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    let call = requests.last().unwrap();
    assert_eq!(signed_key(call), "AKIDCREDFILE");
    assert_eq!(call.header("x-amz-security-token"), Some(SESSION));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_process_in_a_profile() {
    let fx = Fixture::new("").await;
    let script = fx.path("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"{SECRET}\", \"SessionToken\": \"{SESSION}\"}}'\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let config = fx.path("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile tool]\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let env = vec![
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "tool".to_string()),
    ];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(preflight.contains("credential_process"), "{preflight}");
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    let call = requests.last().unwrap();
    assert_eq!(signed_key(call), "AKIDPROCESS");
    assert_eq!(call.header("x-amz-security-token"), Some(SESSION));
}

// ---- no credentials ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_the_preflight_lists_every_place_it_looked() {
    let fx = Fixture::new("").await;
    let config = fx.path("missing-config");
    let env = vec![
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "ghost".to_string()),
    ];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(1), "{all}");
    for needle in [
        "no AWS credentials found",
        "AWS_BEARER_TOKEN_BEDROCK (unset)",
        "AWS_ACCESS_KEY_ID",
        "profile 'ghost' (AWS_PROFILE)",
        &format!("{} (missing)", config.display()),
        &format!("{}/.aws/credentials (missing)", fx.home().display()),
        "SSO",
        "credential_process",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "skipped: AWS_EC2_METADATA_DISABLED=true",
    ] {
        assert!(
            preflight.contains(needle),
            "{needle:?} missing from: {preflight}"
        );
    }
}

// ---- web identity (STS) ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_token_is_exchanged_at_sts() {
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = calls.clone();
    let sts = serve_router(axum::Router::new().fallback(move |body: String| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(body);
            let expiration = iso(chrono::Utc::now() + chrono::Duration::hours(1));
            (
                [("content-type", "text/xml")],
                format!(
                    r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>AKIDWEBIDENTITY</AccessKeyId>
      <SecretAccessKey>{SECRET}</SecretAccessKey>
      <SessionToken>{SESSION}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/pallas/session</Arn>
      <AssumedRoleId>AROAEXAMPLE:session</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#
                ),
            )
        }
    }))
    .await;
    let fx = Fixture::new("").await;
    let token = fx.path("web-identity-token");
    std::fs::write(&token, "eyJ.web.identity").unwrap();
    let env = vec![
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        (
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/pallas".to_string(),
        ),
        ("AWS_ROLE_SESSION_NAME", "pallas-test".to_string()),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
    ];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(preflight.contains("web identity token"), "{preflight}");
    assert!(
        preflight.contains("arn:aws:iam::123456789012:role/pallas"),
        "{preflight}"
    );
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    let call = requests.last().unwrap();
    assert_eq!(signed_key(call), "AKIDWEBIDENTITY");
    assert_eq!(call.header("x-amz-security-token"), Some(SESSION));
    let bodies = calls.lock().unwrap().clone();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Action=AssumeRoleWithWebIdentity")
                && b.contains("eyJ.web.identity")),
        "{bodies:?}"
    );
}

// ---- ECS container credentials ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_container_credentials_from_a_loopback_full_uri() {
    let auth_seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = auth_seen.clone();
    let ecs = serve_router(axum::Router::new().route(
        "/v2/credentials/task",
        get(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(
                    headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                );
                axum::Json(serde_json::json!({
                    "AccessKeyId": "AKIDCONTAINER",
                    "SecretAccessKey": SECRET,
                    "Token": SESSION,
                    "Expiration": iso(chrono::Utc::now() + chrono::Duration::hours(1)),
                    "RoleArn": "arn:aws:iam::123456789012:role/task",
                }))
            }
        }),
    ))
    .await;
    let fx = Fixture::new("").await;
    let uri = format!("{ecs}/v2/credentials/task");
    let env = vec![
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.clone()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "container-auth-1".to_string(),
        ),
    ];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(
        preflight.contains(&format!("container credentials endpoint {uri}")),
        "{preflight}"
    );
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    let call = requests.last().unwrap();
    assert_eq!(signed_key(call), "AKIDCONTAINER");
    assert_eq!(call.header("x-amz-security-token"), Some(SESSION));
    assert!(
        auth_seen
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "container-auth-1"),
        "the container endpoint gets AWS_CONTAINER_AUTHORIZATION_TOKEN"
    );
}

// ---- EC2 instance role (IMDSv2) ----------------------------------------------------------

/// A loopback IMDSv2: tokens via PUT, the role name, then credentials that expire
/// `lifetime` after each fetch, with a new access key id each time (`AKIDIMDS1`, `AKIDIMDS2`…).
#[derive(Clone)]
struct Imds {
    fetches: Arc<AtomicUsize>,
    lifetime: chrono::Duration,
    tokens: Arc<Mutex<BTreeMap<String, ()>>>,
}

async fn imds_token(State(imds): State<Imds>, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(ttl) = headers.get("x-aws-ec2-metadata-token-ttl-seconds").cloned() else {
        return (StatusCode::BAD_REQUEST, "missing ttl").into_response();
    };
    let token = format!("imds-token-{}", imds.tokens.lock().unwrap().len() + 1);
    imds.tokens.lock().unwrap().insert(token.clone(), ());
    (
        StatusCode::OK,
        [("x-aws-ec2-metadata-token-ttl-seconds", ttl)],
        token,
    )
        .into_response()
}

fn imds_authorized(imds: &Imds, headers: &HeaderMap) -> bool {
    headers
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| imds.tokens.lock().unwrap().contains_key(t))
}

async fn imds_role(State(imds): State<Imds>, headers: HeaderMap) -> (StatusCode, String) {
    if !imds_authorized(&imds, &headers) {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    (StatusCode::OK, "pallas-instance-role".into())
}

async fn imds_credentials(State(imds): State<Imds>, headers: HeaderMap) -> (StatusCode, String) {
    if !imds_authorized(&imds, &headers) {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let n = imds.fetches.fetch_add(1, Ordering::SeqCst) + 1;
    let now = chrono::Utc::now();
    let body = serde_json::json!({
        "Code": "Success",
        "LastUpdated": iso(now),
        "Type": "AWS-HMAC",
        "AccessKeyId": format!("AKIDIMDS{n}"),
        "SecretAccessKey": SECRET,
        "Token": SESSION,
        "Expiration": iso(now + imds.lifetime),
    });
    (StatusCode::OK, body.to_string())
}

async fn start_imds(lifetime: chrono::Duration) -> (String, Arc<AtomicUsize>) {
    let imds = Imds {
        fetches: Arc::new(AtomicUsize::new(0)),
        lifetime,
        tokens: Arc::default(),
    };
    let fetches = imds.fetches.clone();
    let router = axum::Router::new()
        .route("/latest/api/token", put(imds_token))
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(imds_role),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/pallas-instance-role",
            get(imds_credentials),
        )
        .with_state(imds);
    (serve_router(router).await, fetches)
}

fn imds_env(endpoint: &str) -> Vec<(&'static str, String)> {
    // CI exports AWS_EC2_METADATA_DISABLED=true; this child must override it.
    vec![
        ("AWS_EC2_METADATA_DISABLED", "false".to_string()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_role_credentials_from_a_loopback_imds() {
    let (endpoint, fetches) = start_imds(chrono::Duration::hours(6)).await;
    let fx = Fixture::new("").await;
    let env = imds_env(&endpoint);
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(
        preflight.contains(&format!("EC2 instance role (IMDSv2 at {endpoint})")),
        "{preflight}"
    );
    assert!(preflight.contains("temporary until"), "{preflight}");
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    let call = requests.last().unwrap();
    assert!(
        signed_key(call).starts_with("AKIDIMDS"),
        "{:?}",
        call.headers
    );
    assert_eq!(call.header("x-amz-security-token"), Some(SESSION));
    assert!(fetches.load(Ordering::SeqCst) >= 1);
}

/// Temporary credentials are fetched again before they expire, inside the running server:
/// these expire 3 s after each fetch (inside the SDK's 10 s refresh buffer), so the
/// second call is signed with newly fetched keys — no restart involved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_instance_credentials_are_refreshed_without_a_restart() {
    let (endpoint, fetches) = start_imds(chrono::Duration::seconds(3)).await;
    let fx = Fixture::new("").await;
    let requests = fx
        .serve_and_ask(&imds_env(&endpoint), 2, Duration::from_millis(1100))
        .await;
    assert_eq!(requests.len(), 2, "{requests:?}");
    let first = signed_key(&requests[0]);
    let second = signed_key(&requests[1]);
    assert!(first.starts_with("AKIDIMDS") && second.starts_with("AKIDIMDS"));
    assert_ne!(
        first, second,
        "the second call must use credentials fetched after the first"
    );
    assert!(fetches.load(Ordering::SeqCst) >= 2);
}

// ---- SSO -----------------------------------------------------------------------------

/// A profile with an `sso_session`: the SDK reads the cached access token from
/// `~/.aws/sso/cache/<sha1(session name)>.json` and trades it at the SSO portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_profile_with_a_cached_token() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let portal = serve_router(axum::Router::new().route(
        "/federation/credentials",
        get(move |headers: HeaderMap| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(
                    headers
                        .get("x-amz-sso_bearer_token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                );
                axum::Json(serde_json::json!({
                    "roleCredentials": {
                        "accessKeyId": "AKIDSSOPORTAL",
                        "secretAccessKey": SECRET,
                        "sessionToken": SESSION,
                        "expiration": (chrono::Utc::now() + chrono::Duration::hours(1)).timestamp_millis(),
                    }
                }))
            }
        }),
    ))
    .await;
    let fx = Fixture::new("").await;
    let config = fx.path("aws-config");
    std::fs::write(
        &config,
        "[profile work]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Developer\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap();
    let cache = fx.home().join(".aws").join("sso").join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join(format!("{}.json", sha1_hex(b"corp"))),
        serde_json::json!({
            "accessToken": "sso-access-token-1",
            "expiresAt": iso(chrono::Utc::now() + chrono::Duration::hours(8)),
            "region": "us-east-1",
            "startUrl": "https://corp.awsapps.com/start",
        })
        .to_string(),
    )
    .unwrap();
    let env = vec![
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "work".to_string()),
        ("AWS_ENDPOINT_URL_SSO", portal),
    ];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(preflight.contains("SSO"), "{preflight}");
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    assert_eq!(signed_key(requests.last().unwrap()), "AKIDSSOPORTAL");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|t| t == "sso-access-token-1")
    );
}

/// SHA-1 (FIPS 180-4), only for the SSO cache file name.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[test]
fn sha1_matches_a_known_vector() {
    assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

// ---- pallas models ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pallas_models_lists_the_simulator_catalogue_and_caches_it() {
    let fx = Fixture::new("").await;
    let cache = fx.path("cache");
    let run = |args: &[&str], env: Vec<(&'static str, String)>| {
        let mut cmd = hermetic_tokio_command(&fx.home());
        cmd.env("XDG_CACHE_HOME", &cache)
            .env("AWS_ENDPOINT_URL", fx.sim.endpoint_url())
            .arg("models")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        async move {
            let out = tokio::time::timeout(TIMEOUT, cmd.output())
                .await
                .expect("pallas models finishes")
                .expect("run pallas models");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{stdout}\n--- stderr\n{stderr}");
            stdout
        }
    };
    let text = run(&["--region", "eu-west-1"], keys_env(false)).await;
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed\n{text}"))
            .to_string()
    };
    assert!(text.contains("Bedrock models in eu-west-1"), "{text}");
    let haiku = line("anthropic.claude-haiku-4-5-20251001-v1:0");
    assert!(
        haiku.contains("INFERENCE_PROFILE") && haiku.contains("eu."),
        "{haiku}"
    );
    let embed = line("amazon.titan-embed-text-v2:0");
    assert!(
        embed.contains("  no      no  "),
        "no streaming, no vision: {embed}"
    );
    assert!(line("minimax.minimax-m2.5").contains("MiniMax"));
    assert!(line("eu.anthropic.claude-sonnet-4-6").contains("SYSTEM_DEFINED"));
    assert!(
        text.contains("application-inference-profile/sim0app1prof"),
        "{text}"
    );
    // Both listing calls were made, signed for the requested region; profiles were paged.
    let listed: Vec<RecordedRequest> = fx.sim.requests();
    assert!(listed.iter().any(|r| r.operation == "ListFoundationModels"));
    let profile_pages = listed
        .iter()
        .filter(|r| r.operation == "ListInferenceProfiles")
        .count();
    assert!(profile_pages > 1, "nextToken was followed: {profile_pages}");
    assert!(signed_key(&listed[0]) == "AKIDENVIRONMENT");
    assert!(
        listed[0]
            .header("authorization")
            .unwrap()
            .contains("/eu-west-1/bedrock/"),
        "{:?}",
        listed[0].headers
    );
    assert!(cache.join("pallas").join("models-eu-west-1.json").is_file());

    // Second run: from the cache, filtered by provider, no new requests.
    fx.sim.clear_requests();
    let text = run(
        &["--region", "eu-west-1", "--provider", "anthropic,amazon"],
        keys_env(false),
    )
    .await;
    assert!(text.contains("from cache"), "{text}");
    assert!(text.contains("amazon.nova-pro-v1:0"), "{text}");
    assert!(!text.contains("minimax"), "{text}");
    assert!(!text.contains("meta.llama"), "{text}");
    assert!(fx.sim.requests().is_empty(), "served from the cache");

    // --refresh fetches again, here with a Bedrock API key (bearer auth on the control plane).
    let text = run(
        &["--region", "eu-west-1", "--refresh", "--json"],
        vec![(
            "AWS_BEARER_TOKEN_BEDROCK",
            "bedrock-api-key-Zx81".to_string(),
        )],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&text).expect("--json prints JSON");
    assert_eq!(json["region"], "eu-west-1");
    assert!(json["models"].as_array().unwrap().len() >= 10, "{json}");
    let refreshed = fx.sim.requests();
    assert!(!refreshed.is_empty());
    assert_eq!(
        refreshed[0].header("authorization"),
        Some("Bearer bedrock-api-key-Zx81")
    );
}

// ---- pallas check: capabilities and cross-region ids ----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_unknown_models_profile_requirements_and_the_id_sent() {
    let fx = Fixture::new("").await;
    std::fs::write(
        fx.path("agents.yaml"),
        "name: creds\nregistry_port: 0\nagents:\n  mystery:\n    port: 0\n    model: bedrock.acme.mystery-v9\n  haiku:\n    port: 0\n    model: bedrock.anthropic.claude-haiku-4-5-20251001-v1:0\n",
    )
    .unwrap();
    let out = tokio::time::timeout(TIMEOUT, fx.command("check", &keys_env(false)).output())
        .await
        .expect("pallas check finishes")
        .expect("run pallas check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let section = |agent: &str| {
        stdout
            .split("\nagent ")
            .find(|s| s.starts_with(agent))
            .unwrap_or_else(|| panic!("no section for {agent}\n{stdout}"))
            .to_string()
    };
    let mystery = section("mystery");
    assert!(
        mystery.contains("model not in the built-in table: conservative defaults"),
        "{mystery}"
    );
    assert!(
        stdout.contains("warning:") && stdout.contains("acme.mystery-v9"),
        "{stdout}"
    );
    let haiku = section("haiku");
    assert!(
        haiku.contains("inference_profile=required (us. eu. apac. jp. au. global.)"),
        "{haiku}"
    );
    assert!(
        haiku.contains(
            "model id us.anthropic.claude-haiku-4-5-20251001-v1:0 (bedrock.cross_region: auto"
        ),
        "{haiku}"
    );
}

// ---- profile with role_arn (STS AssumeRole) ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_role_arn_is_assumed_with_the_source_profiles_keys() {
    let signers = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = signers.clone();
    let sts = serve_router(axum::Router::new().fallback(
        move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(format!(
                    "{} | {body}",
                    headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                ));
                let expiration = iso(chrono::Utc::now() + chrono::Duration::hours(1));
                (
                    [("content-type", "text/xml")],
                    format!(
                        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>AKIDASSUMEDROLE</AccessKeyId>
      <SecretAccessKey>{SECRET}</SecretAccessKey>
      <SessionToken>{SESSION}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/bedrock-user/pallas</Arn>
      <AssumedRoleId>AROAEXAMPLE:pallas</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#
                    ),
                )
            }
        },
    ))
    .await;
    let fx = Fixture::new("").await;
    let config = fx.path("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\naws_access_key_id = AKIDSOURCEPROFILE\naws_secret_access_key = {SECRET}\n\n[profile bedrock]\nrole_arn = arn:aws:iam::123456789012:role/bedrock-user\nsource_profile = base\nregion = us-east-1\n"
        ),
    )
    .unwrap();
    let env = vec![
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "bedrock".to_string()),
        ("AWS_ENDPOINT_URL_STS", sts),
    ];
    let (code, preflight, all) = fx.check(&env).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(
        preflight.contains("role_arn assumed through STS"),
        "{preflight}"
    );
    let requests = fx.serve_and_ask(&env, 1, Duration::ZERO).await;
    let call = requests.last().unwrap();
    assert_eq!(signed_key(call), "AKIDASSUMEDROLE");
    assert_eq!(call.header("x-amz-security-token"), Some(SESSION));
    let sts_calls = signers.lock().unwrap().clone();
    assert!(
        sts_calls
            .iter()
            .any(|c| c.contains("Credential=AKIDSOURCEPROFILE/") && c.contains("Action=AssumeRole")),
        "STS is called with the source profile's keys: {sts_calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bedrock_api_key_from_dotenv_reaches_the_sdk() {
    let fx = Fixture::new("").await;
    std::fs::write(
        fx.path(".env"),
        "# Bedrock API key\nAWS_BEARER_TOKEN_BEDROCK=dotenv-api-key-Pw3\n",
    )
    .unwrap();
    let (code, preflight, all) = fx.check(&[]).await;
    assert_eq!(code, Some(0), "{all}");
    assert!(
        preflight.contains("AWS_BEARER_TOKEN_BEDROCK"),
        "{preflight}"
    );
    assert!(!all.contains("dotenv-api-key-Pw3"), "{all}");
    let requests = fx.serve_and_ask(&[], 1, Duration::ZERO).await;
    assert_eq!(
        requests.last().unwrap().header("authorization"),
        Some("Bearer dotenv-api-key-Pw3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_when_cross_region_off_leaves_a_profile_only_model_unreachable() {
    let fx = Fixture::new("  cross_region: off\n").await;
    std::fs::write(
        fx.path("agents.yaml"),
        "name: creds\nregistry_port: 0\nagents:\n  haiku:\n    port: 0\n    model: bedrock.anthropic.claude-haiku-4-5-20251001-v1:0\n",
    )
    .unwrap();
    let (_, _, all) = fx.check(&keys_env(false)).await;
    let warning = all
        .lines()
        .find(|l| l.trim_start().starts_with("warning:") && l.contains("inference profile"))
        .unwrap_or_else(|| panic!("no warning\n{all}"));
    assert!(
        warning.contains(
            "use model bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0 for us-east-1"
        ),
        "{warning}"
    );
    assert!(
        all.contains("id anthropic.claude-haiku-4-5-20251001-v1:0)"),
        "the id is left as written\n{all}"
    );
}
