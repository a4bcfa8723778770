//! Unknown-key warnings, driven by the raw structs in `raw.rs`: a key is known because a
//! struct has a field for it, so no key list is kept by hand next to the code reading it.
//!
//! A key Pallas does not read is either one fast-agent reads (listed per section in
//! `raw.rs`, accepted silently so a fast-agent project loads without noise) or a likely
//! typo, warned with the closest known key.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_yaml::Mapping;

use super::diagnostic::Diagnostic;
use super::source::Sources;
use super::value::key_string;

/// The keys a `#[derive(Deserialize)]` struct reads (its derive's `FIELDS`).
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldsProbe(&mut fields));
    fields
}

/// A deserializer that only records the field list a struct asks for, then stops.
struct FieldsProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldsProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs list their fields"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// One mapping checked against what reads it.
pub struct KeyCheck<'a> {
    /// Keys Pallas reads here.
    pub known: &'a [&'a str],
    /// Keys fast-agent reads here that Pallas ignores on purpose.
    pub accepted: &'a [&'a str],
    /// Key path of the mapping, e.g. `["agents", "jarvis"]`.
    pub path: Vec<String>,
}

impl KeyCheck<'_> {
    /// One warning per key of `map` that is neither known nor accepted:
    /// `{file}:{line}: {path}.{key}: unknown key, ignored; did you mean `{close}`?`.
    pub fn warnings(&self, map: &Mapping, loc: &Sources<'_>) -> Vec<Diagnostic> {
        map.keys()
            .map(key_string)
            .filter(|key| !self.known.contains(&key.as_str()))
            .filter(|key| !self.accepted.contains(&key.as_str()))
            .map(|key| {
                let fix = match self.closest(&key) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "remove it or fix the spelling (known keys: {})",
                        self.known.join(", ")
                    ),
                };
                let mut path = self.path.clone();
                path.push(key);
                loc.diagnostic(&path, "unknown key, ignored", &fix)
                    .warning()
            })
            .collect()
    }

    /// The known key nearest to `key`, when near enough to be a typo of it.
    fn closest(&self, key: &str) -> Option<&str> {
        self.known
            .iter()
            .map(|k| (edit_distance(k, key), *k))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k)
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelled keys.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::source::Source;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Probed {
        port: u16,
        #[serde(rename = "model")]
        spec: String,
    }

    #[test]
    fn fields_come_from_the_derive() {
        assert_eq!(fields_of::<Probed>(), ["port", "model"]);
    }

    #[test]
    fn edit_distance_catches_typos() {
        assert_eq!(edit_distance("port", "prot"), 2);
        assert_eq!(edit_distance("model", "modle"), 2);
        assert_eq!(edit_distance("servers", "server"), 1);
        assert!(edit_distance("port", "instruction") > 2);
    }

    #[test]
    fn unknown_keys_warn_with_the_closest_known_key_and_accepted_ones_stay_silent() {
        let text = "port: 1\nmodle: x\nsampling: {}\nzzzzzz: 1\n";
        let prefix = vec!["agents".to_string(), "a".to_string()];
        let (source, value) =
            Source::parse(Path::new("a.yaml"), text.into(), 0, prefix.clone()).unwrap();
        let check = KeyCheck {
            known: &["port", "model"],
            accepted: &["sampling"],
            path: prefix,
        };
        let warnings: Vec<String> = check
            .warnings(value.as_mapping().unwrap(), &Sources::new(vec![&source]))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            warnings,
            [
                "a.yaml:2: agents.a.modle: unknown key, ignored; did you mean `model`?",
                "a.yaml:4: agents.a.zzzzzz: unknown key, ignored; remove it or fix the spelling (known keys: port, model)",
            ]
        );
    }
}
