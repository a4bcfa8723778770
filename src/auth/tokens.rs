//! Static bearer tokens, checked so that timing reveals neither a token nor its length.

use aws_lc_rs::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

use super::secret::Secret;

/// The configured tokens, kept only as SHA-256 digests: comparing fixed-size digests in
/// constant time hides the length as well as the content, and the plain values do not
/// stay in memory beyond configuration.
pub struct StaticTokens {
    digests: Vec<[u8; 32]>,
}

impl StaticTokens {
    pub fn new(tokens: &[Secret]) -> Self {
        Self {
            digests: tokens.iter().map(|t| sha256(t.expose())).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The position of the matching token (a stable, non-secret name for it), checking every
    /// token so the time taken does not depend on which one matched.
    pub fn matching(&self, presented: &str) -> Option<usize> {
        let presented = sha256(presented);
        let mut found = None;
        for (i, expected) in self.digests.iter().enumerate() {
            if bool::from(expected.ct_eq(&presented)) {
                found = Some(i);
            }
        }
        found
    }
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticTokens({} configured)", self.digests.len())
    }
}

fn sha256(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_tokens_match() {
        let tokens = StaticTokens::new(&[
            Secret::new("first-token-0123456789"),
            Secret::new("second-token-0123456789"),
        ]);
        assert_eq!(tokens.matching("second-token-0123456789"), Some(1));
        assert_eq!(tokens.matching("first-token-0123456789"), Some(0));
        assert_eq!(tokens.matching("first-token-012345678"), None);
        assert_eq!(tokens.matching(""), None);
        assert!(!format!("{tokens:?}").contains("first"));
    }
}
