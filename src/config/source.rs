//! One loaded config file kept with its raw text, so messages can point at lines.
//!
//! A value may come from several files (an agent from its module and agents.yaml, settings
//! from the config and secrets), so [`Sources`] asks each file where a key path is written
//! and points at the file that supplied it.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::diagnostic::{Diagnostic, Severity};
use super::env::{Unset, substitute_value};
use super::error::ConfigError;
use super::locate::find_key_line;
use super::value::key_string;

#[derive(Debug, Clone)]
pub struct Source {
    /// As shown in messages: the agents.yaml path as given, joined with the file name.
    pub file: PathBuf,
    /// The YAML text (for a `.md` module, only its front matter).
    pub text: String,
    /// Lines before `text` in the file (the opening `---` of front matter).
    pub line_offset: usize,
    /// Key path at which this file's top level sits in the merged document (a module file
    /// for agent `jarvis` sits at `agents.jarvis`).
    pub prefix: Vec<String>,
    /// Values that came through `${VAR}`: key path → (as written, as substituted). A
    /// message about such a value names the variable instead of echoing what may be a secret.
    pub substituted: Vec<(Vec<String>, String, String)>,
}

impl Source {
    /// Parses `text` (taken from `file`) as YAML. An empty document reads as `null`.
    pub fn parse(
        file: &Path,
        text: String,
        line_offset: usize,
        prefix: Vec<String>,
    ) -> Result<(Source, Value), ConfigError> {
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_yaml::from_str::<Value>(&text).map_err(|e| {
                let (line, column) = syntax_error_position(&e);
                let (line, column) = duplicate_key_position(&text, line, column, &e.to_string())
                    .unwrap_or((line, column));
                let line = line + line_offset;
                ConfigError::Yaml {
                    file: file.to_path_buf(),
                    line,
                    column,
                    message: without_marks(&e.to_string()),
                }
            })?
        };
        let source = Source {
            file: file.to_path_buf(),
            text,
            line_offset,
            prefix,
            substituted: Vec::new(),
        };
        Ok((source, value))
    }

    /// Substitutes `${VAR}` in `value` (this file's document), remembering which values
    /// changed. Returns the variables left unset.
    pub fn substitute(
        &mut self,
        value: &mut Value,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<Unset> {
        let written = value.clone();
        let mut unset = Vec::new();
        substitute_value(value, lookup, &mut self.prefix.clone(), &mut unset);
        record_changes(
            &written,
            value,
            &mut self.prefix.clone(),
            &mut self.substituted,
        );
        unset
    }
}

/// Every string that differs between `before` and `after`, with its key path.
fn record_changes(
    before: &Value,
    after: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String, String)>,
) {
    match (before, after) {
        (Value::String(written), Value::String(now)) if written != now => {
            out.push((path.clone(), written.clone(), now.clone()));
        }
        (Value::Sequence(a), Value::Sequence(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(format!("[{i}]"));
                record_changes(x, y, path, out);
                path.pop();
            }
        }
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, x) in a {
                if let Some(y) = b.get(k) {
                    path.push(key_string(k));
                    record_changes(x, y, path, out);
                    path.pop();
                }
            }
        }
        (Value::Tagged(a), Value::Tagged(b)) => record_changes(&a.value, &b.value, path, out),
        _ => {}
    }
}

/// Where to send the reader for a YAML syntax error, 1-based. libyaml notices an unclosed
/// `[`, `{` or quote only at the next token, often on a later line or past the end of the
/// file; the place to fix is where the unclosed construct opens, which it names as the
/// error's context ("while parsing a flow sequence at line 5 column 14").
fn syntax_error_position(error: &serde_yaml::Error) -> (usize, usize) {
    const OPENED: [&str; 3] = [
        "while parsing a flow sequence at ",
        "while parsing a flow mapping at ",
        "while scanning a quoted scalar at ",
    ];
    let message = error.to_string();
    let opened = OPENED
        .iter()
        .find_map(|context| message.split_once(context).map(|(_, at)| at))
        .and_then(parse_mark);
    let problem = error.location().map(|l| (l.line(), l.column()));
    match (opened, problem) {
        (Some(opened), Some(problem)) if opened < problem => opened,
        (_, Some(problem)) => problem,
        (Some(opened), None) => opened,
        (None, None) => (1, 1),
    }
}

/// The message without libyaml's ` at line N column M` marks: they count from the start of
/// the parsed text (not the file, for front matter) and the position is already in front.
fn without_marks(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some((before, after)) = rest.split_once(" at line ") {
        out.push_str(before);
        let digits = |t: &str| t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let mark_end = after
            .split_once(" column ")
            .filter(|(line, _)| !line.is_empty() && digits(line) == 0)
            .map(|(_, column)| column.trim_start_matches(|c: char| c.is_ascii_digit()));
        rest = match mark_end {
            Some(tail) => tail,
            None => {
                out.push_str(" at line ");
                after
            }
        };
    }
    out.push_str(rest);
    out
}

/// `line 5 column 14…` → (5, 14).
fn parse_mark(text: &str) -> Option<(usize, usize)> {
    let rest = text.strip_prefix("line ")?;
    let (line, rest) = rest.split_once(" column ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// Reads a file, mapping I/O failures to [`ConfigError::Read`].
/// serde_yaml reports a duplicate key at the start of its mapping (often line 1); the
/// user needs the line of the second occurrence, which is the one to remove or rename.
fn duplicate_key_position(
    text: &str,
    line: usize,
    column: usize,
    message: &str,
) -> Option<(usize, usize)> {
    let key = message
        .split_once("duplicate entry with key \"")?
        .1
        .split_once('"')?
        .0;
    let indent = " ".repeat(column.saturating_sub(1));
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        if let Some(rest) = l.strip_prefix(&indent)
            && !rest.starts_with(' ')
            && (rest.starts_with(&format!("{key}:")) || rest.starts_with(&format!("\"{key}\":")))
        {
            seen += 1;
            if seen == 2 {
                return Some((i + 1, column));
            }
        }
    }
    None
}

pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The files a merged value came from, lowest priority first.
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    pub files: Vec<&'a Source>,
}

impl<'a> Sources<'a> {
    pub fn new(files: Vec<&'a Source>) -> Self {
        Sources { files }
    }

    /// File and line where `path` (or its deepest written ancestor) is. The file matching
    /// most of the path wins; on a tie the higher-priority (later) file wins, since its
    /// value is the one in effect. Nothing found: line 1 of the first top-level file.
    pub fn locate(&self, path: &[String]) -> (PathBuf, usize) {
        let mut best: Option<(&Source, usize, usize)> = None;
        for source in &self.files {
            let Some(rest) = path.strip_prefix(source.prefix.as_slice()) else {
                continue;
            };
            if let Some((line, depth)) = find_key_line(&source.text, rest) {
                let depth = depth + source.prefix.len();
                if best.is_none_or(|(_, _, d)| depth >= d) {
                    best = Some((source, line + source.line_offset, depth));
                }
            }
        }
        match best {
            Some((source, line, _)) => (source.file.clone(), line),
            None => {
                let fallback = self
                    .files
                    .iter()
                    .find(|s| s.prefix.is_empty())
                    .or(self.files.first());
                fallback.map_or((PathBuf::new(), 1), |s| (s.file.clone(), 1 + s.line_offset))
            }
        }
    }

    /// An error about `path`, located in the file that supplied it.
    pub fn diagnostic(&self, path: &[String], problem: &str, fix: &str) -> Diagnostic {
        let (file, line) = self.locate(path);
        Diagnostic {
            severity: Severity::Error,
            agent: None,
            file: file.into(),
            line,
            field: dotted(path).into(),
            problem: self.without_substituted_value(path, problem).into(),
            fix: fix.into(),
        }
    }

    /// `problem` with a quoted value that came from `${VAR}` replaced by the reference as
    /// written: the variable is what the reader must fix, and its value may be a secret.
    fn without_substituted_value(&self, path: &[String], problem: &str) -> String {
        let found = self
            .files
            .iter()
            .flat_map(|s| &s.substituted)
            .find(|(p, _, now)| p == path && !now.is_empty());
        let Some((_, written, now)) = found else {
            return problem.to_string();
        };
        let reference = written
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .filter(|inner| !inner.contains(['$', '}']));
        let named = match reference {
            Some(inner) => format!(
                "the value of ${{{}}}",
                inner.split(':').next().unwrap_or(inner)
            ),
            None => format!("'{written}' after substitution"),
        };
        problem.replace(&format!("'{now}'"), &named)
    }
}

/// `agents.jarvis.servers[0]` from path components (`[i]` components attach without a dot).
pub fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !out.is_empty() && !part.starts_with('[') {
            out.push('.');
        }
        out.push_str(part);
    }
    if out.is_empty() {
        out.push_str("(top level)");
    }
    out
}

/// Builds a key path from string slices.
pub fn key_path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_error_line(text: &str) -> usize {
        match Source::parse(Path::new("agents.yaml"), text.to_string(), 0, vec![]) {
            Err(ConfigError::Yaml { line, .. }) => line,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unclosed_bracket_or_quote_is_reported_where_it_opens() {
        // At the end of the file libyaml notices it one line late, past the last line.
        let text = "registry_port: 0\nagents:\n  a:\n    port: 1\n    servers: [notes\n";
        assert_eq!(syntax_error_line(text), 5);
        let text = "registry_port: 0\nagents:\n  a:\n    servers: [notes\n  b:\n    port: 2\n";
        assert_eq!(syntax_error_line(text), 4);
        assert_eq!(syntax_error_line("a: {x: 1\nb: 2\n"), 1);
        assert_eq!(syntax_error_line("a: 1\nb: \"x\nc: 2\n"), 2);
        // Other errors keep libyaml's own position, which is the offending line.
        assert_eq!(syntax_error_line("a: 1\n  b: 2\n"), 2);
        assert_eq!(syntax_error_line("a:\n  b: 1\n c: 2\n"), 3);
    }

    #[test]
    fn a_value_from_a_variable_is_named_by_the_variable_not_echoed() {
        let text = "port: ${PORT}\nurl: http://${HOST}/x\nname: ${NAME:plain}\n";
        let (mut source, mut value) =
            Source::parse(Path::new("agents.yaml"), text.into(), 0, vec![]).unwrap();
        let env = |name: &str| match name {
            "PORT" => Some("s3cr3t".to_string()),
            "HOST" => Some("h0st".to_string()),
            _ => None,
        };
        assert!(source.substitute(&mut value, &env).is_empty());
        let loc = Sources::new(vec![&source]);
        assert_eq!(
            loc.diagnostic(
                &key_path(&["port"]),
                "'s3cr3t' is not a port number",
                "fix it"
            )
            .to_string(),
            "agents.yaml:1: port: the value of ${PORT} is not a port number; fix it"
        );
        assert_eq!(
            loc.diagnostic(&key_path(&["url"]), "'http://h0st/x' is bad", "fix it")
                .to_string(),
            "agents.yaml:2: url: 'http://${HOST}/x' after substitution is bad; fix it"
        );
        assert_eq!(
            loc.diagnostic(&key_path(&["name"]), "'plain' is bad", "fix it")
                .to_string(),
            "agents.yaml:3: name: the value of ${NAME} is bad; fix it"
        );
    }

    #[test]
    fn a_module_front_matter_error_counts_the_opening_line() {
        let err = Source::parse(Path::new("a.md"), "x: [1\n".into(), 1, vec![]).unwrap_err();
        assert!(err.to_string().starts_with("a.md:2:"), "{err}");
        assert!(!err.to_string().contains("line 1"), "{err}");
    }
}
