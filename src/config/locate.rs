//! Finds the line of a key path in block-style YAML text.
//!
//! serde_yaml 0.9 keeps no spans for values, yet every config message must name a line.
//! Config files are hand-written block YAML, so scanning keys and their indentation is
//! enough: the scanner tracks the chain of open keys and reports where the requested path
//! (or, failing that, its deepest ancestor) is written.

/// Line (1-based) of the deepest prefix of `path` written as keys in `text`, with the
/// number of path components matched. `None` when not even the first key is found.
///
/// Flow mappings (`{a: 1}`), list indexes and keys inside block scalars are not keys to
/// the scanner; callers get the nearest ancestor line instead, which is what a reader
/// needs to find the spot.
pub fn find_key_line(text: &str, path: &[String]) -> Option<(usize, usize)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut best: Option<(usize, usize)> = None;
    // Indent of the key owning a `|` / `>` block scalar: deeper lines are text, not keys.
    let mut block_owner: Option<usize> = None;

    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let mut indent = raw.len() - trimmed.len();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(owner) = block_owner {
            if indent > owner {
                continue;
            }
            block_owner = None;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            stack.clear();
            continue;
        }
        // `- key: value` opens a mapping whose keys sit where the key text starts.
        let mut content = trimmed;
        while let Some(rest) = content.strip_prefix("- ") {
            let rest_trimmed = rest.trim_start();
            indent += content.len() - rest_trimmed.len();
            content = rest_trimmed;
        }
        let Some((key, value)) = split_key(content) else {
            continue;
        };
        while stack.last().is_some_and(|(open, _)| *open >= indent) {
            stack.pop();
        }
        stack.push((indent, key));

        let depth = stack.len();
        let matches = depth <= path.len() && stack.iter().zip(path).all(|((_, k), p)| k == p);
        if matches && best.is_none_or(|(_, d)| depth > d) {
            best = Some((index + 1, depth));
        }
        if value.starts_with('|') || value.starts_with('>') {
            block_owner = Some(indent);
        }
    }
    best
}

/// Splits `key: value` into the unquoted key and the value text (comment-free start).
fn split_key(content: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(quote @ ('"' | '\'')) = content.chars().next() {
        let close = content[1..].find(quote)? + 1;
        (content[1..close].to_string(), &content[close + 1..])
    } else {
        if content.starts_with(['{', '[', '?', '&', '*', '!', '|', '>']) {
            return None;
        }
        let colon = content
            .char_indices()
            .find(|&(i, c)| {
                c == ':'
                    && content[i + 1..]
                        .chars()
                        .next()
                        .is_none_or(char::is_whitespace)
            })
            .map(|(i, _)| i)?;
        let key = content[..colon].trim_end();
        if key.is_empty() || key.contains(" #") {
            return None;
        }
        (key.to_string(), &content[colon..])
    };
    let value = rest.trim_start().strip_prefix(':')?;
    if !value.is_empty() && !value.starts_with(char::is_whitespace) {
        return None;
    }
    Some((key, value.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, path: &str) -> Option<(usize, usize)> {
        let path: Vec<String> = path.split('.').map(String::from).collect();
        find_key_line(text, &path)
    }

    const TEXT: &str = "\
name: demo
# comment: not a key
agents:
  friday:
    port: 8201
    instruction: |
      port: 1
      text
  jarvis:
    model: x   # trailing comment
    port: 8201
    servers:
      - notes
    model_capabilities: {vision: true}
\"quoted key\": 1
list:
  - name: a
    command: b
";

    #[test]
    fn finds_nested_keys_under_the_right_parent() {
        assert_eq!(line(TEXT, "name"), Some((1, 1)));
        assert_eq!(line(TEXT, "agents.friday.port"), Some((5, 3)));
        assert_eq!(line(TEXT, "agents.jarvis.port"), Some((11, 3)));
        assert_eq!(line(TEXT, "agents.jarvis.model"), Some((10, 3)));
        assert_eq!(line(TEXT, "quoted key"), Some((15, 1)));
    }

    #[test]
    fn block_scalar_text_is_not_keys() {
        // `port: 1` inside friday's instruction must not be taken for a key.
        assert_eq!(line(TEXT, "agents.friday.instruction"), Some((6, 3)));
        assert_eq!(line(TEXT, "agents.jarvis"), Some((9, 2)));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        assert_eq!(line(TEXT, "agents.jarvis.title"), Some((9, 2)));
        assert_eq!(
            line(TEXT, "agents.jarvis.model_capabilities.vision"),
            Some((14, 3))
        );
        assert_eq!(line(TEXT, "agents.nobody.port"), Some((3, 1)));
        assert_eq!(line(TEXT, "missing"), None);
    }

    #[test]
    fn list_item_mappings_are_keys() {
        assert_eq!(line(TEXT, "list.command"), Some((18, 2)));
        assert_eq!(line(TEXT, "list.name"), Some((17, 2)));
    }

    #[test]
    fn urls_and_colons_in_values_are_not_split() {
        let text = "url: http://h:80/x\nmodel: bedrock.x:0\n";
        assert_eq!(line(text, "model"), Some((2, 1)));
        assert_eq!(
            split_key("url: http://h:80/x"),
            Some(("url".into(), "http://h:80/x"))
        );
        assert_eq!(split_key("http://h:80"), None);
    }
}
