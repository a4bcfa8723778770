//! A string that must never reach a log line, an error or a `Debug` dump.

use serde::Deserialize;

/// A credential read from configuration (a static bearer token). `Debug` prints `***` and
/// there is no `Display`, so `{:?}` of a config struct holding one cannot leak it; reading
/// the value takes an explicit [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for comparing or sending; never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", vec![secret.clone()]), "[Secret(***)]");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
    }
}
