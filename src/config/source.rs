//! One loaded config file kept with its raw text, so messages can point at lines.
//!
//! A value may come from several files (an agent from its module and agents.yaml, settings
//! from the config and secrets), so [`Sources`] asks each file where a key path is written
//! and points at the file that supplied it.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::error::ConfigError;
use super::locate::find_key_line;

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
                let (line, column) = e
                    .location()
                    .map_or((1, 1), |l| (l.line() + line_offset, l.column()));
                ConfigError::Yaml {
                    file: file.to_path_buf(),
                    line,
                    column,
                    message: e.to_string(),
                }
            })?
        };
        let source = Source {
            file: file.to_path_buf(),
            text,
            line_offset,
            prefix,
        };
        Ok((source, value))
    }
}

/// Reads a file, mapping I/O failures to [`ConfigError::Read`].
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

    /// `{file}:{line}` of `path`.
    pub fn at(&self, path: &[String]) -> String {
        let (file, line) = self.locate(path);
        format!("{}:{line}", file.display())
    }

    /// The standard message: `{file}:{line}: {field path}: {problem}; {fix}`.
    pub fn message(&self, path: &[String], problem: &str, fix: &str) -> String {
        format!("{}: {}: {problem}; {fix}", self.at(path), dotted(path))
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
