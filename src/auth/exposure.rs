//! The secure default: a server reachable from the network must say who may call it.

use std::net::IpAddr;

use super::policy::AuthPolicy;

/// Refusal to start a server on a non-loopback address without an `auth:` setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} would listen on {bind}, which other machines can reach, but no `auth:` is configured: \
     anyone on the network could call it and spend the model provider's tokens. \
     Add `auth: {{tokens: [\"${{PALLAS_TOKEN}}\"]}}` (or `auth: {{oauth: {{issuer: ...}}}}`) at the top \
     of agents.yaml, bind 127.0.0.1, or write `auth: none` to accept an open server explicitly"
)]
pub struct ExposedWithoutAuth {
    pub what: String,
    pub bind: IpAddr,
}

/// `Ok` when `bind` is loopback or an `auth:` was written (including an explicit `none`).
/// `what` names the server in the message, e.g. "agent `jarvis`" or "the registry".
pub fn check_exposure(
    what: &str,
    bind: IpAddr,
    policy: Option<&AuthPolicy>,
) -> Result<(), ExposedWithoutAuth> {
    if bind.is_loopback() || policy.is_some() {
        return Ok(());
    }
    Err(ExposedWithoutAuth {
        what: what.to_string(),
        bind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unconfigured_non_loopback_binds_are_refused() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let v6_loopback: IpAddr = "::1".parse().unwrap();
        assert!(check_exposure("agent `a`", loopback, None).is_ok());
        assert!(check_exposure("agent `a`", v6_loopback, None).is_ok());
        assert!(check_exposure("agent `a`", any, Some(&AuthPolicy::None)).is_ok());
        let err = check_exposure("agent `jarvis`", any, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("agent `jarvis` would listen on 0.0.0.0"),
            "{err}"
        );
        assert!(
            err.contains("auth: {tokens: [\"${PALLAS_TOKEN}\"]}"),
            "{err}"
        );
        assert!(err.contains("`auth: none`"), "{err}");
    }
}
