//! `module: agents.jarvis`: an agent's settings kept in `agents/jarvis.yaml`, or in the
//! front matter of `agents/jarvis.md` whose body is the instruction.

use std::path::PathBuf;

use serde_yaml::{Mapping, Value};

use super::agents::AgentsContext;
use super::diagnostic::{Diagnostic, Severity};
use super::error::ConfigError;
use super::source::{Source, Sources, read_text};
use super::value::{describe, scalar_string};

/// Loads `module: agents.jarvis` from `<root>/agents/jarvis.yaml` or `.md`. The outer
/// `Result` is fatal; the inner `Err` is this agent's problem.
pub fn load_module(
    name: &str,
    value: &Value,
    loc: &Sources<'_>,
    ctx: &AgentsContext<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Result<(Source, Mapping), Diagnostic>, ConfigError> {
    let path = vec!["agents".to_string(), name.to_string(), "module".to_string()];
    let module = scalar_string(value).unwrap_or_default();
    let parts: Vec<&str> = module.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.contains(['/', '\\']))
    {
        return Ok(Err(loc.diagnostic(
            &path,
            &format!("{} is not a module name", describe(value)),
            "write it as dotted names below the agents.yaml folder, e.g. `module: agents.jarvis` for agents/jarvis.yaml",
        )));
    }
    let base: PathBuf = parts
        .iter()
        .fold(ctx.root.to_path_buf(), |p, part| p.join(part));
    let yaml_file = base.with_extension("yaml");
    let md_file = base.with_extension("md");
    let prefix = vec!["agents".to_string(), name.to_string()];

    // A module file that cannot be read or parsed is this agent's problem only: the rest of
    // the fleet still serves.
    let parsed = if yaml_file.is_file() {
        read_text(&yaml_file)
            .and_then(|text| Source::parse(&yaml_file, text, 0, prefix.clone()))
            .map(|(source, value)| (source, value, None))
    } else if md_file.is_file() {
        read_text(&md_file).and_then(|text| {
            let (front, body) = split_front_matter(&text);
            // The front matter starts on line 2, below the opening `---`.
            Source::parse(&md_file, front, 1, prefix.clone())
                .map(|(source, value)| (source, value, Some(body)))
        })
    } else {
        return Ok(Err(loc.diagnostic(
            &path,
            &format!(
                "module '{module}' not found (tried {} and {})",
                yaml_file.display(),
                md_file.display()
            ),
            "create one of those files or fix the module name",
        )));
    };
    let (mut source, mut value, body) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Err(module_error(name, &path, loc, e))),
    };

    let unset = source.substitute(&mut value, ctx.lookup);
    let module_loc = Sources::new(vec![&source]);
    warnings.extend(
        unset
            .iter()
            .map(|u| unset_warning(&module_loc, &u.path, &u.var)),
    );

    let mut map = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(map) => map,
        other => {
            return Ok(Err(Diagnostic {
                severity: Severity::Error,
                agent: Some(name.into()),
                file: source.file.clone().into(),
                line: 1 + source.line_offset,
                field: format!("agents.{name}").into(),
                problem: format!("module file is {}, not a mapping", describe(&other)).into(),
                fix: "write the agent's settings as `key: value` lines".into(),
            }));
        }
    };
    // A markdown card's body is the instruction: prose reads better outside YAML. It is
    // not `${VAR}`-substituted (fast-agent substitutes config values, not prompt text).
    if let Some(body) = body.map(|b| b.trim().to_string()).filter(|b| !b.is_empty()) {
        map.insert("instruction".into(), Value::String(body));
    }
    Ok(Ok((source, map)))
}

/// A module file's read or syntax error as a diagnostic for its agent, at the file's own
/// line (or the `module:` line when the file cannot be read).
fn module_error(name: &str, path: &[String], loc: &Sources<'_>, e: ConfigError) -> Diagnostic {
    match e {
        ConfigError::Yaml {
            file,
            line,
            column,
            message,
        } => Diagnostic {
            severity: Severity::Error,
            agent: Some(name.into()),
            file: file.into(),
            line,
            field: format!("agents.{name}").into(),
            problem: format!("invalid YAML at column {column}: {message}").into(),
            fix: "fix the syntax at that spot; this agent is skipped until then".into(),
        },
        other => loc.diagnostic(
            path,
            &other.to_string(),
            "this agent is skipped until the module file can be read",
        ),
    }
}

/// Splits `---\nfront matter\n---\nbody`. Without an opening `---` line it is all body.
fn split_front_matter(text: &str) -> (String, String) {
    let mut lines = text.split_inclusive('\n');
    if lines.next().is_none_or(|first| first.trim() != "---") {
        return (String::new(), text.to_string());
    }
    let mut front = String::new();
    for line in lines.by_ref() {
        if matches!(line.trim(), "---" | "...") {
            return (front, lines.collect());
        }
        front.push_str(line);
    }
    // No closing line: treat everything after the opening `---` as front matter.
    (front, String::new())
}

/// Warning for a `${VAR}` left as written.
pub fn unset_warning(loc: &Sources<'_>, path: &[String], var: &str) -> Diagnostic {
    loc.diagnostic(
        path,
        &format!("${{{var}}} is not set and has no default, so it is left as written"),
        &format!("set {var} in the environment or .env, or write ${{{var}:default}}"),
    )
    .warning()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_splits_from_body() {
        let (front, body) = split_front_matter("---\nport: 1\n---\nYou are X.\n");
        assert_eq!(front, "port: 1\n");
        assert_eq!(body, "You are X.\n");
        let (front, body) = split_front_matter("Just prose.\n");
        assert_eq!(front, "");
        assert_eq!(body, "Just prose.\n");
    }
}
