//! Which credentials the chain finds, named without ever showing the secret, and — when it
//! finds none — exactly which variables, files and endpoints it looked at.
//!
//! The SDK resolves credentials itself (and refreshes temporary ones before they expire
//! through its identity cache); this module only asks the same chain once for the health
//! preflight and describes the answer.

use std::path::PathBuf;

use super::*;

impl BedrockDialect {
    pub(super) async fn check_credentials(&self) -> Result<String, String> {
        if env_set("AWS_BEARER_TOKEN_BEDROCK") {
            // The SDK prefers bearer auth whenever this variable is set; SigV4 credentials
            // are not consulted for Bedrock Runtime calls.
            return Ok(
                "Bedrock API key from AWS_BEARER_TOKEN_BEDROCK (sent as Authorization: Bearer, no SigV4)"
                    .to_string(),
            );
        }
        let Some(provider) = &self.credentials else {
            return Err(no_credentials_message(self.profile.as_deref()));
        };
        match tokio::time::timeout(CREDENTIAL_PROBE_TIMEOUT, provider.provide_credentials()).await {
            Ok(Ok(creds)) => {
                let source = if self.static_credentials {
                    "static credentials".to_string()
                } else {
                    describe_source(&provider_name(&creds), self.profile.as_deref())
                };
                let temporary = match (creds.session_token().is_some(), creds.expiry()) {
                    (_, Some(expiry)) => format!(
                        ", temporary until {} (refreshed automatically before expiry)",
                        chrono::DateTime::<chrono::Utc>::from(expiry).format("%Y-%m-%d %H:%M:%SZ")
                    ),
                    (true, None) => ", temporary (session token)".to_string(),
                    (false, None) => String::new(),
                };
                Ok(format!("AWS credentials from {source}{temporary}"))
            }
            // "Not loaded" just means every source was empty: the list of places we looked
            // is the useful part. Other errors (bad profile, failing credential_process)
            // carry their own cause, which is what the person needs to see.
            Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => {
                Err(no_credentials_message(self.profile.as_deref()))
            }
            Ok(Err(e)) => Err(format!(
                "AWS credentials could not be loaded (profile '{}'; files {} and {}): {}",
                effective_profile(self.profile.as_deref()),
                config_file().display(),
                credentials_file().display(),
                DisplayErrorContext(&e)
            )),
            Err(_) => Err(format!(
                "resolving AWS credentials took longer than {}s (an SSO, STS, container or instance-metadata endpoint did not answer); {}",
                CREDENTIAL_PROBE_TIMEOUT.as_secs(),
                no_credentials_message(self.profile.as_deref())
            )),
        }
    }
}

/// The name the SDK's provider stamped on the credentials (`Environment`, `ProfileFile`,
/// `SSO`, `CredentialProcess`, `WebIdentityToken`, `EcsContainer`, `IMDSv2`, …). The SDK has
/// no getter for it; its `Debug` output names it and redacts the secret.
fn provider_name(creds: &aws_credential_types::Credentials) -> String {
    let debug = format!("{creds:?}");
    debug
        .split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name.to_string())
        .unwrap_or_default()
}

fn env_set(key: &str) -> bool {
    std::env::var_os(key).is_some_and(|v| !v.is_empty())
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn home() -> PathBuf {
    env("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("~"))
}

/// `AWS_CONFIG_FILE` or `~/.aws/config`, as the SDK resolves it.
fn config_file() -> PathBuf {
    env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".aws").join("config"))
}

/// `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.
fn credentials_file() -> PathBuf {
    env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".aws").join("credentials"))
}

/// `bedrock.profile`, else `AWS_PROFILE`, else `default` — the SDK's order.
fn effective_profile(configured: Option<&str>) -> String {
    configured
        .map(str::to_string)
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_string())
}

fn profile_label(configured: Option<&str>) -> String {
    let name = effective_profile(configured);
    if configured.is_some() {
        format!("profile '{name}' (bedrock.profile)")
    } else if env_set("AWS_PROFILE") {
        format!("profile '{name}' (AWS_PROFILE)")
    } else {
        format!("profile '{name}'")
    }
}

/// Names where the chain found credentials, from the provider name the SDK stamps on them.
fn describe_source(provider_name: &str, profile: Option<&str>) -> String {
    let profile = profile_label(profile);
    match provider_name {
        "Environment" | "EnvironmentVariable" => {
            if env_set("AWS_SESSION_TOKEN") {
                "environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"
                    .to_string()
            } else {
                "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string()
            }
        }
        "ProfileFile" => format!(
            "{profile}: static keys in {} or {}",
            credentials_file().display(),
            config_file().display()
        ),
        "SSO" => format!(
            "{profile}: IAM Identity Center (SSO) token cached in {}",
            home().join(".aws").join("sso").join("cache").display()
        ),
        "CredentialProcess" => format!(
            "{profile}: credential_process in {}",
            config_file().display()
        ),
        "AssumeRoleProvider" => format!(
            "{profile}: role_arn assumed through STS (source credentials from the profile's source_profile or credential_source) in {}",
            config_file().display()
        ),
        "WebIdentityToken" => format!(
            "web identity token {} for role {} (STS AssumeRoleWithWebIdentity)",
            env("AWS_WEB_IDENTITY_TOKEN_FILE").unwrap_or_else(|| "(from the profile)".into()),
            env("AWS_ROLE_ARN").unwrap_or_else(|| "(from the profile)".into())
        ),
        "EcsContainer" => format!(
            "the container credentials endpoint {}",
            env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
                .or_else(|| env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                    .map(|p| format!("http://169.254.170.2{p}")))
                .unwrap_or_default()
        ),
        "IMDSv2" | "IMDS" => format!("the EC2 instance role (IMDSv2 at {})", imds_endpoint()),
        other => format!("{profile} ({other})"),
    }
}

fn imds_endpoint() -> String {
    env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| "http://169.254.169.254".into())
}

/// Every place the default chain looks, in its order, with what was found there.
pub fn no_credentials_message(profile: Option<&str>) -> String {
    let state = |key: &str| if env_set(key) { "set" } else { "unset" };
    let file_state = |path: &PathBuf| {
        if path.is_file() { "exists" } else { "missing" }
    };
    let config = config_file();
    let credentials = credentials_file();
    let imds = if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        "skipped: AWS_EC2_METADATA_DISABLED=true".to_string()
    } else {
        format!("tried {}, no instance role", imds_endpoint())
    };
    let container = if env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    {
        "set, but returned nothing"
    } else {
        "unset"
    };
    format!(
        "no AWS credentials found. Looked at, in order: AWS_BEARER_TOKEN_BEDROCK ({}); AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) ({}); {} in {} ({}) and {} ({}) — static keys, SSO, credential_process, role_arn; AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN ({}); ECS container endpoint AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI ({container}); EC2 instance metadata ({imds}). Fix: set AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key) in .env, export access keys, or add the profile to {}",
        state("AWS_BEARER_TOKEN_BEDROCK"),
        state("AWS_ACCESS_KEY_ID"),
        profile_label(profile),
        credentials.display(),
        file_state(&credentials),
        config.display(),
        file_state(&config),
        state("AWS_WEB_IDENTITY_TOKEN_FILE"),
        config.display(),
    )
}
