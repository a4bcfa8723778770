//! Which credentials the chain finds, named without ever showing the secret.

use super::*;

impl BedrockProvider {
    pub(super) async fn check_credentials(&self) -> Result<String, String> {
        if std::env::var_os("AWS_BEARER_TOKEN_BEDROCK").is_some_and(|v| !v.is_empty()) {
            return Ok("Bedrock API key from AWS_BEARER_TOKEN_BEDROCK".to_string());
        }
        let Some(provider) = &self.credentials else {
            return Err(no_credentials_message(self.profile.as_deref()));
        };
        match tokio::time::timeout(CREDENTIAL_PROBE_TIMEOUT, provider.provide_credentials()).await {
            Ok(Ok(creds)) => {
                let source = if self.static_credentials {
                    "static credentials".to_string()
                } else {
                    describe_credential_source(self.profile.as_deref())
                };
                let session = if creds.session_token().is_some() {
                    ", temporary (session token)"
                } else {
                    ""
                };
                Ok(format!("AWS credentials from {source}{session}"))
            }
            // "Not loaded" just means every source was empty: the list of places we looked
            // is the useful part. Other errors (bad profile, failing credential_process)
            // carry their own cause, which is what the person needs to see.
            Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => {
                Err(no_credentials_message(self.profile.as_deref()))
            }
            Ok(Err(e)) => Err(format!(
                "AWS credentials could not be loaded: {}",
                DisplayErrorContext(&e)
            )),
            Err(_) => Err(format!(
                "resolving AWS credentials took longer than {}s; {}",
                CREDENTIAL_PROBE_TIMEOUT.as_secs(),
                no_credentials_message(self.profile.as_deref())
            )),
        }
    }
}

/// Names where the chain found credentials, never the credentials themselves.
fn describe_credential_source(profile: Option<&str>) -> String {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID") {
        "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".to_string()
    } else if let Some(p) = profile {
        format!("profile '{p}'")
    } else if let Ok(p) = std::env::var("AWS_PROFILE") {
        format!("profile '{p}' (AWS_PROFILE)")
    } else if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        "web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string()
    } else if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    {
        "the ECS container credentials endpoint".to_string()
    } else {
        "the default profile or the EC2 instance role".to_string()
    }
}

pub(super) fn no_credentials_message(profile: Option<&str>) -> String {
    let profile = profile
        .map(|p| format!("profile '{p}'"))
        .unwrap_or_else(|| "the default profile (or AWS_PROFILE)".to_string());
    format!(
        "no AWS credentials found. Looked at: AWS_BEARER_TOKEN_BEDROCK; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); {profile} in ~/.aws/credentials and ~/.aws/config (incl. SSO and credential_process); AWS_WEB_IDENTITY_TOKEN_FILE; the ECS container endpoint; the EC2 instance role. Set AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key) in .env, or configure one of the others"
    )
}
