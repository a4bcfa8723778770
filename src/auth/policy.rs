//! The `auth:` setting: who may call an agent or the registry.
//!
//! Written in `agents.yaml` as the word `none`, or a map with `tokens`, `oauth` or both
//! (either credential is then accepted). Parsing validates everything that can be checked
//! without the network, so a typo fails `pallas check` instead of the first request.

use serde::{Deserialize, Deserializer};
use serde_yaml::Value;

use super::secret::Secret;
use crate::redact::redact_url;

/// Shorter static tokens are refused: they are guessable, and a bearer token is the whole
/// credential.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Who may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthPolicy {
    /// `auth: none`, written explicitly: anyone who can reach the port may call.
    None,
    /// A credential is required: any of the static tokens, or a JWT the OAuth settings accept.
    Required(Credentials),
}

/// The accepted credentials; at least one of the two is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub tokens: Vec<Secret>,
    pub oauth: Option<OAuthSettings>,
}

/// Pallas as an OAuth 2.1 resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// Expected `iss`, and where the JWKS is discovered when `jwks_url` is absent.
    pub issuer: String,
    /// Expected `aud`; `None` means the agent's own URL, which the server supplies.
    pub audience: Option<String>,
    pub jwks_url: Option<String>,
    /// Every one of these must be granted (`scope` or `scp` claim).
    pub scopes: Vec<String>,
}

/// What is wrong with an `auth:` value, phrased for the person editing `agents.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auth: {0}")]
pub struct AuthConfigError(String);

impl AuthConfigError {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    tokens: Option<Vec<Secret>>,
    #[serde(default)]
    oauth: Option<RawOAuth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOAuth {
    issuer: String,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl AuthPolicy {
    /// Parses and validates one `auth:` value.
    pub fn from_yaml(value: &Value) -> Result<Self, AuthConfigError> {
        match value {
            Value::String(word) if word == "none" => Ok(Self::None),
            Value::String(word) => Err(AuthConfigError(format!(
                "`{word}` is not a mode; write `auth: none`, or a map with `tokens:` and/or `oauth:`"
            ))),
            Value::Mapping(_) => {
                let raw: RawAuth = serde_yaml::from_value(value.clone())
                    .map_err(|e| AuthConfigError(e.to_string()))?;
                Credentials::from_raw(raw).map(Self::Required)
            }
            _ => Err(AuthConfigError(
                "expected the word `none` or a map with `tokens:` and/or `oauth:`".to_string(),
            )),
        }
    }

    pub fn requires_credential(&self) -> bool {
        matches!(self, Self::Required(_))
    }

    /// A one-line summary for `pallas check` and the registry; never shows a token.
    pub fn describe(&self) -> String {
        let Self::Required(credentials) = self else {
            return "none".to_string();
        };
        let mut parts = Vec::new();
        if !credentials.tokens.is_empty() {
            parts.push(format!("{} static token(s)", credentials.tokens.len()));
        }
        if let Some(oauth) = &credentials.oauth {
            parts.push(format!("OAuth (issuer {})", redact_url(&oauth.issuer)));
        }
        parts.join(" + ")
    }
}

impl<'de> Deserialize<'de> for AuthPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_yaml(&value).map_err(serde::de::Error::custom)
    }
}

impl Credentials {
    fn from_raw(raw: RawAuth) -> Result<Self, AuthConfigError> {
        let tokens = raw.tokens.unwrap_or_default();
        if tokens.is_empty() && raw.oauth.is_none() {
            return Err(AuthConfigError(
                "needs `tokens: [...]` (static bearer tokens), `oauth: {issuer: ...}`, or both; \
                 write `auth: none` to serve without a credential"
                    .to_string(),
            ));
        }
        for (i, token) in tokens.iter().enumerate() {
            check_token(i, token.expose())?;
        }
        let oauth = raw.oauth.map(OAuthSettings::from_raw).transpose()?;
        Ok(Self { tokens, oauth })
    }
}

fn check_token(index: usize, token: &str) -> Result<(), AuthConfigError> {
    let names = crate::redact::variables_in(token);
    if !names.is_empty() {
        return Err(AuthConfigError(format!(
            "tokens[{index}] still reads `${{{}}}`: that variable is not set in the environment or .env",
            names[0]
        )));
    }
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Err(AuthConfigError(format!(
            "tokens[{index}] has {} characters; use at least {MIN_TOKEN_CHARS} random ones \
             (e.g. `openssl rand -hex 32`)",
            token.chars().count()
        )));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AuthConfigError(format!(
            "tokens[{index}] contains whitespace; a bearer token is sent in one header word"
        )));
    }
    Ok(())
}

impl OAuthSettings {
    fn from_raw(raw: RawOAuth) -> Result<Self, AuthConfigError> {
        check_url("oauth.issuer", &raw.issuer)?;
        if let Some(jwks_url) = &raw.jwks_url {
            check_url("oauth.jwks_url", jwks_url)?;
        }
        if let Some(audience) = &raw.audience
            && audience.trim().is_empty()
        {
            return Err(AuthConfigError(
                "oauth.audience is empty; remove it to use the agent's own URL".to_string(),
            ));
        }
        for (i, scope) in raw.scopes.iter().enumerate() {
            // Scopes are echoed inside a quoted WWW-Authenticate parameter (RFC 6750 §3).
            let valid = !scope.is_empty()
                && scope
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
            if !valid {
                return Err(AuthConfigError(format!(
                    "oauth.scopes[{i}] `{scope}` is not a scope token (printable ASCII, no spaces, quotes or backslashes)"
                )));
            }
        }
        Ok(Self {
            issuer: raw.issuer,
            audience: raw.audience,
            jwks_url: raw.jwks_url,
            scopes: raw.scopes,
        })
    }
}

/// Keys must come over TLS; plain http is allowed only to a loopback address (tests, or an
/// identity provider's sidecar).
pub(crate) fn check_url(field: &str, value: &str) -> Result<(), AuthConfigError> {
    let parsed = url::Url::parse(value).map_err(|e| {
        AuthConfigError(format!(
            "{field} `{}` is not a URL ({e}); write it like https://login.example.com/realms/main",
            redact_url(value)
        ))
    })?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(AuthConfigError(format!(
            "{field} `{}` must use https (http is accepted only for loopback addresses)",
            redact_url(value)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<AuthPolicy, String> {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        AuthPolicy::from_yaml(&value).map_err(|e| e.to_string())
    }

    const TOKEN: &str = "0123456789abcdef0123";

    #[test]
    fn none_tokens_and_oauth_forms_parse() {
        assert_eq!(parse("none").unwrap(), AuthPolicy::None);
        let AuthPolicy::Required(creds) = parse(&format!("tokens: [{TOKEN}]")).unwrap() else {
            panic!("tokens form");
        };
        assert_eq!(creds.tokens, vec![Secret::new(TOKEN)]);
        assert!(creds.oauth.is_none());
        let both = parse(&format!(
            "{{tokens: [{TOKEN}], oauth: {{issuer: 'https://idp.example/realms/a', scopes: [mcp:call, read]}}}}"
        ))
        .unwrap();
        let AuthPolicy::Required(creds) = both else {
            panic!("both");
        };
        let oauth = creds.oauth.unwrap();
        assert_eq!(oauth.issuer, "https://idp.example/realms/a");
        assert_eq!(oauth.audience, None);
        assert_eq!(oauth.scopes, vec!["mcp:call", "read"]);
    }

    #[test]
    fn serde_deserialize_uses_the_same_rules() {
        let policy: AuthPolicy = serde_yaml::from_str("none").unwrap();
        assert_eq!(policy, AuthPolicy::None);
        let err = serde_yaml::from_str::<AuthPolicy>("{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth: needs `tokens"), "{err}");
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(parse("off").unwrap_err().contains("`off` is not a mode"));
        assert!(
            parse("{tokns: [x]}")
                .unwrap_err()
                .contains("unknown field `tokns`")
        );
        assert!(parse("tokens: []").unwrap_err().contains("needs `tokens"));
        assert!(
            parse("tokens: [short]")
                .unwrap_err()
                .contains("has 5 characters")
        );
        let unset = parse("tokens: ['${PALLAS_TOKEN}']").unwrap_err();
        assert!(unset.contains("still reads `${PALLAS_TOKEN}`"), "{unset}");
        let http = parse("oauth: {issuer: 'http://idp.example'}").unwrap_err();
        assert!(http.contains("must use https"), "{http}");
        assert!(parse("oauth: {issuer: 'http://127.0.0.1:9/x'}").is_ok());
        assert!(
            parse("oauth: {issuer: 'not a url'}")
                .unwrap_err()
                .contains("is not a URL")
        );
        let scope = parse("oauth: {issuer: 'https://i', scopes: ['a b']}").unwrap_err();
        assert!(scope.contains("scopes[0]"), "{scope}");
        assert!(
            parse("oauth: {scopes: [a]}")
                .unwrap_err()
                .contains("missing field `issuer`")
        );
    }

    #[test]
    fn errors_and_descriptions_never_show_a_token() {
        let secret = "s3cr3t value with spaces!";
        let err = parse(&format!("tokens: ['{secret}']")).unwrap_err();
        assert!(!err.contains(secret), "{err}");
        let policy = parse(&format!("tokens: [{TOKEN}, {TOKEN}x]")).unwrap();
        assert_eq!(policy.describe(), "2 static token(s)");
        assert!(!format!("{policy:?}").contains(TOKEN));
    }
}
