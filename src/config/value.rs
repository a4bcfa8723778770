//! Lenient reading of YAML values.
//!
//! `${VAR}` substitution always yields strings, so `port: "${PORT:8201}"` must still read
//! as a port and `vision: "${VISION:true}"` as a bool. These helpers accept a value in its
//! own type or as a string spelling it, the way pydantic does for fast-agent.

use serde_yaml::{Mapping, Value};

/// A mapping key as text (non-string keys such as `8201:` are rendered).
pub fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => scalar_string(other).unwrap_or_else(|| describe(other)),
    }
}

/// Strings, numbers and bools as text; `None` for null, lists and mappings.
pub fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(t) => scalar_string(&t.value),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

/// An integer written as a number or a string of digits.
pub fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A number written as a number or a numeric string.
pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A bool, or the strings `true` / `false` in any case.
pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Turns strings spelling bools or integers into those types, recursively, so serde can
/// read substituted values into typed structs whose fields are all bools and numbers.
pub fn typed_scalars(value: Value) -> Value {
    match value {
        Value::String(s) => {
            if let Some(b) = as_bool(&Value::String(s.clone())) {
                Value::Bool(b)
            } else if let Ok(n) = s.trim().parse::<u64>() {
                Value::Number(n.into())
            } else if let Ok(n) = s.trim().parse::<i64>() {
                Value::Number(n.into())
            } else {
                Value::String(s)
            }
        }
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .map(|(k, v)| (k, typed_scalars(v)))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(typed_scalars).collect()),
        other => other,
    }
}

/// Merges `over` into `base`: mappings key by key (recursively), anything else replaces.
/// This is how secrets layer over the config.
pub fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(base_map), Value::Mapping(over_map)) => {
            for (k, v) in over_map {
                match base_map.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        base_map.insert(k, v);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// `map[key]`, treating an explicit `null` like an absent key (`title:` with no value).
pub fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// Short rendering of a value for messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Null => "empty".into(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn deep_merge_merges_mappings_and_replaces_the_rest() {
        let mut base = yaml("a: {x: 1, y: [1, 2]}\nb: 1\nc: keep\n");
        deep_merge(&mut base, yaml("a: {y: [3], z: 2}\nb: {n: 1}\n"));
        assert_eq!(base, yaml("a: {x: 1, y: [3], z: 2}\nb: {n: 1}\nc: keep\n"));
    }

    #[test]
    fn strings_read_as_numbers_and_bools() {
        assert_eq!(as_int(&yaml("\"8201\"")), Some(8201));
        assert_eq!(as_int(&yaml("8201")), Some(8201));
        assert_eq!(as_bool(&yaml("\"TRUE\"")), Some(true));
        assert_eq!(as_f64(&yaml("\"2.5\"")), Some(2.5));
        assert_eq!(scalar_string(&yaml("1.5")), Some("1.5".into()));
        assert_eq!(
            typed_scalars(yaml("{a: \"true\", b: \"12\", c: x}")),
            yaml("{a: true, b: 12, c: x}")
        );
    }
}
