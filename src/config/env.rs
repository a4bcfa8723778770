//! `${VAR}` substitution and `.env` parsing, matching fast-agent so the same config files
//! behave the same under both.
//!
//! fast-agent applies `re.sub(r"\$\{([^}]+)\}", …)` to every string value of each file
//! before validation: `${VAR}` is replaced when set and left literally when not,
//! `${VAR:default}` (split on the first `:`) falls back when unset. There is no `$VAR`
//! form, no escaping and no nesting. Variables come from the process environment first,
//! then from `.env`.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::value::key_string;

/// Replaces every `${…}` in `text`. Returns the new text and the names of variables that
/// were unset and had no default (those occurrences stay as written).
pub fn substitute_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut unset = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        // `[^}]+` then `}`: the first `}` closes, and the name part must not be empty.
        match after.find('}') {
            Some(close) if close > 0 => {
                out.push_str(&rest[..start]);
                let inner = &after[..close];
                let replacement = match inner.split_once(':') {
                    Some((name, default)) => lookup(name).unwrap_or_else(|| default.to_string()),
                    None => match lookup(inner) {
                        Some(value) => value,
                        None => {
                            unset.push(inner.to_string());
                            format!("${{{inner}}}")
                        }
                    },
                };
                out.push_str(&replacement);
                rest = &after[close + 1..];
            }
            _ => {
                // No match at this `$`; the regex would retry from the next character.
                out.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    (out, unset)
}

/// One `${VAR}` left unsubstituted: where it was and which variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unset {
    pub path: Vec<String>,
    pub var: String,
}

/// Substitutes in every string value of `value` (recursively; keys and non-strings are left
/// alone), recording unset variables with the key path they were found under. List items
/// get `[i]` path components.
pub fn substitute_value(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    path: &mut Vec<String>,
    unset: &mut Vec<Unset>,
) {
    match value {
        Value::String(s) => {
            let (new, vars) = substitute_str(s, lookup);
            *s = new;
            unset.extend(vars.into_iter().map(|var| Unset {
                path: path.clone(),
                var,
            }));
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                substitute_value(item, lookup, path, unset);
                path.pop();
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                path.push(key_string(k));
                substitute_value(v, lookup, path, unset);
                path.pop();
            }
        }
        Value::Tagged(tagged) => substitute_value(&mut tagged.value, lookup, path, unset),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// One meaningful line of dotenv text (blank lines and `#` comments are not).
enum DotenvLine<'a> {
    Pair { key: &'a str, raw: &'a str },
    NoEquals,
    BadKey(&'a str),
}

/// The meaningful lines of dotenv text with their 1-based numbers; `export ` is dropped.
fn dotenv_lines(text: &str) -> impl Iterator<Item = (usize, DotenvLine<'_>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let parsed = match line.split_once('=') {
            None => DotenvLine::NoEquals,
            Some((key, _)) if key.trim().is_empty() || key.trim().contains(char::is_whitespace) => {
                DotenvLine::BadKey(key.trim())
            }
            Some((key, raw)) => DotenvLine::Pair {
                key: key.trim(),
                raw: raw.trim(),
            },
        };
        Some((i + 1, parsed))
    })
}

/// Parses dotenv text: `KEY=value`, optional `export `, `#` comments, blank lines, single
/// quoted (literal) and double quoted (`\n`, `\"`, `\\` escapes) values. Malformed lines
/// are skipped, as python-dotenv does ([`dotenv_problems`] reports them).
pub fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for (_, line) in dotenv_lines(text) {
        let DotenvLine::Pair { key, raw } = line else {
            continue;
        };
        let value = if let Some(body) = raw.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(other) => value.push(other),
                        None => value.push('\\'),
                    },
                    c => value.push(c),
                }
            }
            value
        } else if let Some(body) = raw.strip_prefix('\'') {
            body.split_once('\'').map_or(body, |(v, _)| v).to_string()
        } else {
            // Unquoted: an inline comment starts at ` #`.
            raw.split_once(" #")
                .map_or(raw, |(v, _)| v)
                .trim_end()
                .to_string()
        };
        vars.insert(key.to_string(), value);
    }
    vars
}

/// The lines of dotenv text that [`parse_dotenv`] skips or reads only in part, as
/// `(1-based line, problem)`, so a mistyped `.env` is reported instead of silently ignored.
pub fn dotenv_problems(text: &str) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    for (n, line) in dotenv_lines(text) {
        match line {
            DotenvLine::NoEquals => problems.push((
                n,
                "has no `=`, so it is ignored; write it as NAME=value (or start it with # to comment it out)".to_string(),
            )),
            DotenvLine::BadKey(key) => problems.push((
                n,
                format!("'{key}' is not a variable name, so the line is ignored; write NAME=value with no spaces in NAME"),
            )),
            DotenvLine::Pair { key, raw } => {
                for quote in ['"', '\''] {
                    if let Some(body) = raw.strip_prefix(quote)
                        && !closes(body, quote)
                    {
                        problems.push((
                            n,
                            format!("the value of {key} opens a {quote} quote that is not closed on this line, so the rest of the line is taken as the value; close the quote"),
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// Whether a quoted value's closing quote is on the line (`\"` does not close `"`).
fn closes(body: &str, quote: char) -> bool {
    let mut escaped = false;
    for c in body.chars() {
        if quote == '"' && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == quote && !escaped {
            return true;
        }
        escaped = false;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_without_equals_or_with_open_quotes_are_reported_with_their_line() {
        let text = "A=1\nnot a line\nB=\"open\nC='closed'\nD=\"esc \\\" still open\nE=\"ok\"\n";
        let problems = dotenv_problems(text);
        let lines: Vec<usize> = problems.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 5], "{problems:?}");
        assert!(problems[0].1.starts_with("has no `=`"));
        assert!(problems[1].1.contains("value of B opens a \" quote"));
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn sub(text: &str, vars: &[(&str, &str)]) -> (String, Vec<String>) {
        substitute_str(text, &env(vars))
    }

    #[test]
    fn set_variable_is_replaced() {
        assert_eq!(sub("${HOME}", &[("HOME", "/h")]), ("/h".into(), vec![]));
    }

    #[test]
    fn unset_variable_stays_literal_and_is_reported() {
        assert_eq!(sub("${NOPE}", &[]), ("${NOPE}".into(), vec!["NOPE".into()]));
    }

    #[test]
    fn default_used_only_when_unset() {
        assert_eq!(sub("${P:8201}", &[]).0, "8201");
        assert_eq!(sub("${P:8201}", &[("P", "9")]).0, "9");
        assert_eq!(sub("${P:8201}", &[("P", "")]).0, "");
        assert_eq!(sub("${P:}", &[]).0, "");
        assert!(sub("${P:8201}", &[]).1.is_empty());
    }

    #[test]
    fn default_splits_on_the_first_colon() {
        assert_eq!(sub("${URL:http://h:80}", &[]).0, "http://h:80");
    }

    #[test]
    fn several_per_string_inside_text() {
        let (out, unset) = sub(
            "http://${HOST}:${PORT:80}/x/${MISSING}",
            &[("HOST", "example.com")],
        );
        assert_eq!(out, "http://example.com:80/x/${MISSING}");
        assert_eq!(unset, vec!["MISSING".to_string()]);
    }

    #[test]
    fn no_dollar_var_form_no_escape_no_nesting() {
        assert_eq!(
            sub("$HOME ${} $${A}", &[("HOME", "x"), ("A", "a")]).0,
            "$HOME ${} $a"
        );
        assert_eq!(sub("${unterminated", &[]).0, "${unterminated");
        // Like the regex, the first `}` closes: the name is `A:${B`.
        assert_eq!(sub("${A:${B}}", &[]).0, "${B}");
    }

    #[test]
    fn values_are_walked_but_keys_and_non_strings_are_not() {
        let mut value: Value =
            serde_yaml::from_str("${K}: ${V}\nlist: [\"${V}\", 3, true]\nn: 5\nu: ${U}\n").unwrap();
        let mut unset = Vec::new();
        substitute_value(
            &mut value,
            &env(&[("K", "k"), ("V", "v")]),
            &mut vec![],
            &mut unset,
        );
        let expected: Value =
            serde_yaml::from_str("${K}: v\nlist: [v, 3, true]\nn: 5\nu: ${U}\n").unwrap();
        assert_eq!(value, expected);
        assert_eq!(
            unset,
            vec![Unset {
                path: vec!["u".into()],
                var: "U".into()
            }]
        );
    }

    #[test]
    fn dotenv_syntax() {
        let vars = parse_dotenv(
            "# comment\n\nA=1\nexport B = two\nC=\"quoted # not comment\\n\"\nD='single $X'\nE=val # comment\nnot a line\nF=\n",
        );
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two");
        assert_eq!(vars["C"], "quoted # not comment\n");
        assert_eq!(vars["D"], "single $X");
        assert_eq!(vars["E"], "val");
        assert_eq!(vars["F"], "");
        assert_eq!(vars.len(), 6);
    }
}
