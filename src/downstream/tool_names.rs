//! Downstream tools as the model sees them: `server__tool` names that Bedrock accepts
//! (`[a-zA-Z0-9_-]{1,64}`) with a reverse map, and input schemas Bedrock accepts
//! (root `type: object`, no `$ref`).

use std::collections::HashMap;

use serde_json::{Map, Value};

pub const SEPARATOR: &str = "__";
const MAX_LEN: usize = 64;

/// Where an exposed tool name really points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolTarget {
    pub server: String,
    pub tool: String,
}

/// Exposed names for one agent's tool list; built fresh from whatever servers are up.
#[derive(Debug, Default, Clone)]
pub struct ToolNameMap {
    by_exposed: HashMap<String, ToolTarget>,
}

impl ToolNameMap {
    /// Returns the exposed name for `server`/`tool`, unique within this map.
    pub fn insert(&mut self, server: &str, tool: &str) -> String {
        let base = sanitize(&format!("{server}{SEPARATOR}{tool}"));
        let mut name = base.clone();
        let mut n = 2;
        while self.by_exposed.contains_key(&name) {
            let suffix = format!("_{n}");
            let keep = base.len().min(MAX_LEN - suffix.len());
            name = format!("{}{suffix}", &base[..keep]);
            n += 1;
        }
        self.by_exposed.insert(
            name.clone(),
            ToolTarget {
                server: server.to_string(),
                tool: tool.to_string(),
            },
        );
        name
    }

    pub fn resolve(&self, exposed: &str) -> Option<&ToolTarget> {
        self.by_exposed.get(exposed)
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.by_exposed.keys()
    }
}

/// Replaces characters Bedrock rejects and cuts to 64 bytes (ASCII after replacement).
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(MAX_LEN);
    if out.is_empty() {
        out.push_str("tool");
    }
    out
}

/// Makes an MCP input schema acceptable to Bedrock: object root, `properties` present,
/// local `$ref`s inlined (recursion cut off), schema bookkeeping keys dropped.
pub fn normalize_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut root = inline_refs(schema, &defs, 0);
    let obj = match root.as_object_mut() {
        Some(o) => o,
        None => return empty_object_schema(),
    };
    for key in ["$defs", "definitions", "$schema", "$id"] {
        obj.remove(key);
    }
    obj.insert("type".into(), Value::String("object".into()));
    if !obj.get("properties").is_some_and(Value::is_object) {
        obj.insert("properties".into(), Value::Object(Map::new()));
    }
    root
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// Deep enough for real schemas, shallow enough that a self-referencing one terminates.
const MAX_REF_DEPTH: usize = 8;

fn inline_refs(v: &Value, defs: &Value, depth: usize) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                let target = r
                    .strip_prefix("#/$defs/")
                    .or_else(|| r.strip_prefix("#/definitions/"))
                    .and_then(|name| defs.get(name));
                return match target {
                    Some(t) if depth < MAX_REF_DEPTH => {
                        let mut inlined = inline_refs(t, defs, depth + 1);
                        // Sibling keywords (e.g. a description next to $ref) still apply.
                        if let Some(obj) = inlined.as_object_mut() {
                            for (k, val) in o.iter().filter(|(k, _)| *k != "$ref") {
                                obj.entry(k.clone())
                                    .or_insert_with(|| inline_refs(val, defs, depth + 1));
                            }
                        }
                        inlined
                    }
                    _ => serde_json::json!({"type": "object"}),
                };
            }
            Value::Object(
                o.iter()
                    .filter(|(k, val)| !(k.as_str() == "properties" && val.is_null()))
                    .map(|(k, val)| (k.clone(), inline_refs(val, defs, depth)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline_refs(x, defs, depth)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_sanitized_unique_and_reversible() {
        let mut map = ToolNameMap::default();
        let a = map.insert("my.server", "get note!");
        assert_eq!(a, "my_server__get_note_");
        let b = map.insert("my_server", "get_note?");
        assert_ne!(a, b);
        assert_eq!(map.resolve(&b).unwrap().tool, "get_note?");
        let long = map.insert(&"s".repeat(40), &"t".repeat(40));
        assert_eq!(long.len(), 64);
        let long2 = map.insert(&"s".repeat(40), &format!("{}x", "t".repeat(40)));
        assert_eq!(long2.len(), 64);
        assert_ne!(long, long2);
        assert!(map.names().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }));
    }

    #[test]
    fn schemas_get_object_root_and_inlined_refs() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "properties": {"p": {"$ref": "#/$defs/Point", "description": "where"}},
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}}
        });
        let n = normalize_schema(&s);
        assert_eq!(n["type"], "object");
        assert_eq!(n["properties"]["p"]["properties"]["x"]["type"], "number");
        assert_eq!(n["properties"]["p"]["description"], "where");
        assert!(n.get("$defs").is_none() && n.get("$schema").is_none());
        assert!(!n.to_string().contains("$ref"));

        let null_props = normalize_schema(&json!({"type": "object", "properties": null}));
        assert_eq!(null_props, json!({"type": "object", "properties": {}}));

        let cyclic = json!({"properties": {"n": {"$ref": "#/$defs/N"}},
            "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}});
        assert!(!normalize_schema(&cyclic).to_string().contains("$ref"));
    }
}
