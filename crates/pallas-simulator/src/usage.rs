//! Deterministic token accounting: about four characters per token, and a
//! simulated prompt cache keyed by the request prefix before each `cachePoint`.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::Value;

use super::converse_response::Usage;

/// Tokens for `chars` characters: `chars / 4`, at least 1.
pub(crate) fn tokens(chars: usize) -> u64 {
    (chars / 4).max(1) as u64
}

/// Characters a block counts for: its text for text blocks, its JSON otherwise.
fn block_chars(block: &Value) -> usize {
    match block.get("text").and_then(Value::as_str) {
        Some(text) => text.chars().count(),
        None => block.to_string().chars().count(),
    }
}

fn is_cache_point(block: &Value) -> bool {
    block.get("cachePoint").is_some()
}

/// The prompt in cache order (tools, system, messages' content), one block at a time.
fn prompt_blocks(body: &Value) -> impl Iterator<Item = &Value> {
    let array = |pointer: &str| {
        body.pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or_default()
    };
    let messages = array("/messages").iter().flat_map(|m| {
        m.get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    });
    array("/toolConfig/tools")
        .iter()
        .chain(array("/system"))
        .chain(messages)
}

/// Characters in the whole prompt (used by CountTokens too).
pub(crate) fn prompt_chars(body: &Value) -> usize {
    prompt_blocks(body)
        .filter(|b| !is_cache_point(b))
        .map(block_chars)
        .sum()
}

/// Output tokens for an assistant message's content.
pub(crate) fn output_tokens(content: &[Value]) -> u64 {
    let chars = content
        .iter()
        .map(|block| match block.get("toolUse") {
            Some(tool_use) => {
                let name = tool_use.get("name").and_then(Value::as_str).unwrap_or("");
                let input = tool_use
                    .get("input")
                    .map(Value::to_string)
                    .unwrap_or_default();
                name.len() + input.len()
            }
            None => block_chars(block),
        })
        .sum();
    tokens(chars)
}

/// Remembers prompt prefixes that ended at a cachePoint, per model.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    seen: HashSet<u64>,
}

impl PromptCache {
    /// Input-side usage of a request: a prefix seen before is a cache read, the rest
    /// up to the last cachePoint is a cache write, the remainder is plain input.
    pub fn account(&mut self, model_id: &str, body: &Value) -> Usage {
        let mut hasher = DefaultHasher::new();
        model_id.hash(&mut hasher);
        let mut chars = 0usize;
        // (prefix hash, prefix chars) at each cachePoint.
        let mut checkpoints = Vec::new();
        for block in prompt_blocks(body) {
            if is_cache_point(block) {
                checkpoints.push((hasher.clone().finish(), chars));
            } else {
                block.to_string().hash(&mut hasher);
                chars += block_chars(block);
            }
        }
        let Some(&(_, cached_chars)) = checkpoints.last() else {
            return Usage {
                input_tokens: tokens(chars),
                ..Usage::default()
            };
        };
        let read_chars = checkpoints
            .iter()
            .rev()
            .find(|(hash, _)| self.seen.contains(hash))
            .map_or(0, |&(_, c)| c);
        self.seen.extend(checkpoints.iter().map(|&(hash, _)| hash));
        let read = (read_chars / 4) as u64;
        let write = (cached_chars / 4) as u64 - read;
        Usage {
            input_tokens: tokens(chars - cached_chars),
            output_tokens: 0,
            cache_read_input_tokens: read,
            cache_write_input_tokens: write,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn second_request_with_same_prefix_reads_the_cache() {
        let system = "s".repeat(400);
        let body = |question: &str| {
            json!({
                "system": [{"text": system}, {"cachePoint": {"type": "default"}}],
                "messages": [{"role": "user", "content": [{"text": question}]}],
            })
        };
        let mut cache = PromptCache::default();
        let first = cache.account("m", &body("hello there!"));
        assert_eq!(
            (
                first.cache_write_input_tokens,
                first.cache_read_input_tokens
            ),
            (100, 0)
        );
        assert_eq!(first.input_tokens, 3);
        let second = cache.account("m", &body("another question"));
        assert_eq!(
            (
                second.cache_write_input_tokens,
                second.cache_read_input_tokens
            ),
            (0, 100)
        );
        let other_model = cache.account("other", &body("x"));
        assert_eq!(other_model.cache_write_input_tokens, 100);
    }

    #[test]
    fn no_cache_point_means_plain_input() {
        let mut cache = PromptCache::default();
        let body = json!({"messages": [{"role": "user", "content": [{"text": "12345678"}]}]});
        assert_eq!(cache.account("m", &body).input_tokens, 2);
        assert_eq!(output_tokens(&[json!({"text": "ab"})]), 1);
    }
}
