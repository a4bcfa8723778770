//! Who made a request, as the inner service sees it.

/// Put into the request extensions by the auth layer once a caller is accepted; the
/// `Authorization` header itself is removed, so this is all the inner service ever knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub` of a JWT; `static-token-N` (its position in `tokens`) for a static token;
    /// `None` under `auth: none`.
    pub subject: Option<String>,
    /// Scopes granted by a JWT; empty for static tokens and `auth: none`.
    pub scopes: Vec<String>,
    pub method: AuthMethod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// `auth: none`: nobody was asked for a credential.
    Anonymous,
    StaticToken,
    OAuth,
}

impl Principal {
    pub fn anonymous() -> Self {
        Self {
            subject: None,
            scopes: Vec::new(),
            method: AuthMethod::Anonymous,
        }
    }
}
