//! Accepting a JWT access token: signature by `jsonwebtoken` against the issuer's keys,
//! then issuer, audience, lifetime and scopes.

use std::collections::HashSet;

use jsonwebtoken::jwk::PublicKeyUse;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::jwks::{JwksCache, KeyError};
use super::principal::{AuthMethod, Principal};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

/// Only asymmetric algorithms: an HMAC "key" in a public key set would let anyone who read
/// the set sign tokens, and accepting HS* for an RSA key is the classic confusion attack.
const ACCEPTED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a JWT was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum JwtRefusal {
    /// The token is not valid here: 401 `invalid_token`. The text is for the log only.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Valid, but without every required scope: 403 `insufficient_scope`.
    #[error("token lacks required scopes")]
    InsufficientScope,
    /// The issuer's keys cannot be read: 503, not the caller's fault.
    #[error("cannot verify tokens: {0}")]
    KeysUnavailable(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    /// RFC 8693 / RFC 9068: space-separated.
    scope: Option<String>,
    /// Microsoft Entra and Okta style: an array (or, rarely, a string).
    scp: Option<serde_json::Value>,
}

/// Verifies tokens for one resource (one agent, or the registry).
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    required_scopes: Vec<String>,
    keys: JwksCache,
}

impl JwtVerifier {
    pub fn new(
        issuer: &str,
        audience: &str,
        required_scopes: Vec<String>,
        keys: JwksCache,
    ) -> Self {
        Self {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            required_scopes,
            keys,
        }
    }

    /// See [`JwksCache::with_refetch_interval`].
    pub fn with_refetch_interval(mut self, interval: std::time::Duration) -> Self {
        self.keys = self.keys.with_refetch_interval(interval);
        self
    }

    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, JwtRefusal> {
        let header = decode_header(token)
            .map_err(|e| JwtRefusal::Invalid(format!("unreadable header: {e}")))?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(JwtRefusal::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let jwk = self
            .keys
            .key_for(header.kid.as_deref())
            .await
            .map_err(|e| match e {
                KeyError::Unavailable(message) => JwtRefusal::KeysUnavailable(message),
                other => JwtRefusal::Invalid(other.to_string()),
            })?;
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|usage| *usage != PublicKeyUse::Signature)
        {
            return Err(JwtRefusal::Invalid(
                "the key is published for encryption, not signatures".to_string(),
            ));
        }
        if let Some(key_alg) = jwk.common.key_algorithm
            && Algorithm::try_from(key_alg).ok() != Some(header.alg)
        {
            return Err(JwtRefusal::Invalid(format!(
                "the key is for {key_alg:?}, the token says {:?}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| JwtRefusal::Invalid(format!("unusable key in the key set: {e}")))?;
        if key.family() != header.alg.family() {
            return Err(JwtRefusal::Invalid(
                "the key type does not match the token's algorithm".to_string(),
            ));
        }
        let claims = decode::<Claims>(token, &key, &self.validation(header.alg))
            .map_err(|e| JwtRefusal::Invalid(e.to_string()))?
            .claims;
        let scopes = granted_scopes(&claims);
        let granted: HashSet<&str> = scopes.iter().map(String::as_str).collect();
        if !self
            .required_scopes
            .iter()
            .all(|s| granted.contains(s.as_str()))
        {
            return Err(JwtRefusal::InsufficientScope);
        }
        Ok(Principal {
            subject: claims.sub,
            scopes,
            method: AuthMethod::OAuth,
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation
    }
}

fn granted_scopes(claims: &Claims) -> Vec<String> {
    let mut scopes: Vec<String> = claims
        .scope
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_string)
        .collect();
    match &claims.scp {
        Some(serde_json::Value::Array(items)) => {
            scopes.extend(items.iter().filter_map(|v| v.as_str()).map(str::to_string))
        }
        Some(serde_json::Value::String(s)) => {
            scopes.extend(s.split_whitespace().map(str::to_string))
        }
        _ => {}
    }
    scopes.sort();
    scopes.dedup();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_from_scope_string_and_scp_array() {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "scope": "mcp:call  read",
            "scp": ["write", "read"],
        }))
        .unwrap();
        assert_eq!(granted_scopes(&claims), vec!["mcp:call", "read", "write"]);
        let claims: Claims = serde_json::from_value(serde_json::json!({"scp": "a b"})).unwrap();
        assert_eq!(granted_scopes(&claims), vec!["a", "b"]);
    }
}
