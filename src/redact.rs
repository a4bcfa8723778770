//! One place that decides what of a URL or a configured value may be shown.
//!
//! Downstream server URLs, endpoints and base URLs routinely carry credentials
//! (`user:password@host`, `?api_key=…`, `#access_token=…`). Everything that shows a URL to a
//! person or a log — `get_health`, `/health`, the registry, `pallas check`, error messages —
//! goes through [`redact_url`] or [`redact_text`], so a new secret shape is fixed here once.
//!
//! The rules: scheme, host, port and path are kept (they say *which* server); userinfo and
//! every query or fragment parameter value become [`REDACTED`]. Parameter names are kept,
//! because "which parameter carried the key" helps the operator and reveals nothing.

/// What replaces a secret.
pub const REDACTED: &str = "***";

/// Redacts one URL (with or without a scheme). Text that is not URL-shaped comes back with
/// only the parts that look like userinfo, query or fragment parameters replaced.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) if is_scheme(&url[..at]) => url.split_at(at + 3),
        _ => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    // The last `@` ends the userinfo: a password may contain a raw `@`.
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let fragment_start = tail.find('#').unwrap_or(tail.len());
    let (before_fragment, fragment) = tail.split_at(fragment_start);
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            out.push_str(&redact_parameters(query, true));
        }
        None => out.push_str(before_fragment),
    }
    if let Some(fragment) = fragment.strip_prefix('#') {
        out.push('#');
        // A plain anchor (`#section`) is kept; `#access_token=…` (implicit-flow style) is not.
        if fragment.contains('=') {
            out.push_str(&redact_parameters(fragment, false));
        } else {
            out.push_str(fragment);
        }
    }
    out
}

/// Redacts every URL inside free text: log lines, error messages, `Debug` output of a
/// `url::Url` (its `password: Some("…")` and `query: Some("…")` fields). Text without
/// URL-shaped words is returned unchanged.
pub fn redact_text(text: &str) -> String {
    let text = redact_url_debug_fields(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find(|c: char| !is_separator(c)) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..]
            .find(is_separator)
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        out.push_str(&redact_word(word));
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    out
}

/// How an error shows a configured value: a value written as `${VAR}` (or containing one) is
/// named by its variables and never shown, because the substituted text may be a secret;
/// a literal value is shown with any URL in it redacted.
pub fn shown_value(written: &str, resolved: &str) -> String {
    let names = variables_in(written);
    if names.is_empty() {
        return format!("`{}`", redact_text(resolved));
    }
    let list: Vec<String> = names.iter().map(|name| format!("${{{name}}}")).collect();
    format!("the value of {}", list.join(", "))
}

/// Names of the `${VAR}` / `${VAR:default}` references in `written`, in order, the same
/// grammar `config::env` substitutes.
pub fn variables_in(written: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = written;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(close) if close > 0 => {
                let inner = &after[..close];
                names.push(inner.split_once(':').map_or(inner, |(name, _)| name));
                rest = &after[close + 1..];
            }
            _ => rest = &rest[start + 1..],
        }
    }
    names
}

fn is_scheme(candidate: &str) -> bool {
    let mut chars = candidate.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `name=value&flag` → `name=***&***`. A bare query word can itself be a key
/// (`?sk-abc123`), so it is redacted too; in fragments bare words are kept.
fn redact_parameters(parameters: &str, redact_bare_words: bool) -> String {
    parameters
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None if pair.is_empty() || !redact_bare_words => pair.to_string(),
            None => REDACTED.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Characters that end a URL in prose and error messages. `,` and `;` are not among them:
/// they occur inside query values and would leave a secret's tail behind.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '(' | '|')
}

/// Trailing punctuation that belongs to the sentence, not to the URL.
fn split_trailing_punctuation(word: &str) -> (&str, &str) {
    let end = word
        .trim_end_matches(['.', ',', ';', ':', '!', ')', ']', '}'])
        .len();
    word.split_at(end)
}

fn redact_word(word: &str) -> String {
    let (body, trailing) = split_trailing_punctuation(word);
    if let Some(scheme_sep) = body.find("://") {
        // `url=https://…`: the URL starts where its scheme starts.
        let scheme_start = body[..scheme_sep]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        if is_scheme(&body[scheme_start..scheme_sep]) {
            let (prefix, url) = body.split_at(scheme_start);
            return format!("{prefix}{}{trailing}", redact_url(url));
        }
    }
    if looks_like_schemeless_url(body) {
        return format!("{}{trailing}", redact_url(body));
    }
    word.to_string()
}

/// `user:pw@host/…` or `host/path?key=value`; an e-mail address (`a@b.c`, no `:` before
/// the `@`) and `key=value` log fields (no `?`) are not URLs.
fn looks_like_schemeless_url(word: &str) -> bool {
    let authority_end = word.find(['/', '?', '#']).unwrap_or(word.len());
    let authority = &word[..authority_end];
    let has_userinfo = authority
        .rfind('@')
        .is_some_and(|at| authority[..at].contains(':'));
    let has_query = word
        .split_once('?')
        .is_some_and(|(before, query)| !before.is_empty() && query.contains('='));
    has_userinfo || has_query
}

/// Standard error for log lines, every line passed through [`redact_text`] first: libraries
/// (rmcp, reqwest) log `Debug` dumps of errors that carry the full request URL, so
/// redacting at the call sites Pallas owns is not enough. Use as
/// `tracing_subscriber::fmt().with_writer(RedactingStderr)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

/// One log event's bytes, written redacted when the formatter is done with it.
pub struct RedactingLine(Vec<u8>);

impl std::io::Write for RedactingLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let text = redact_text(&String::from_utf8_lossy(&self.0));
        self.0.clear();
        std::io::stderr().write_all(text.as_bytes())
    }
}

impl Drop for RedactingLine {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingLine;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingLine(Vec::new())
    }
}

/// `url::Url`'s `Debug` prints `password: Some("…")` and `query: Some("…")`; those values
/// would pass [`redact_text`] since they are not URL-shaped.
fn redact_url_debug_fields(text: &str) -> String {
    let mut out = text.to_string();
    for field in ["password: Some(\"", "query: Some(\"", "fragment: Some(\""] {
        let mut from = 0;
        while let Some(found) = out[from..].find(field) {
            let value_start = from + found + field.len();
            let Some(value_len) = out[value_start..].find("\")") else {
                break;
            };
            out.replace_range(value_start..value_start + value_len, REDACTED);
            from = value_start + REDACTED.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_from_libraries_are_redacted() {
        let line = r#"ERROR rmcp: Client(reqwest::Error { kind: Request, url: "http://127.0.0.1:9/mcp?api_key=qs-secret", source: x })"#;
        let shown = redact_text(line);
        assert!(!shown.contains("qs-secret"), "{shown}");
        assert!(
            shown.contains("http://127.0.0.1:9/mcp?api_key=***"),
            "{shown}"
        );
    }

    #[test]
    fn userinfo_is_replaced_and_host_path_kept() {
        assert_eq!(
            redact_url("https://user:pass@host.example/mcp"),
            "https://***@host.example/mcp"
        );
        assert_eq!(
            redact_url("https://token-only@host.example:8443/mcp"),
            "https://***@host.example:8443/mcp"
        );
    }

    #[test]
    fn every_query_value_is_replaced_names_kept() {
        assert_eq!(
            redact_url("https://h.example/mcp?api_key=sk-123&x=1"),
            "https://h.example/mcp?api_key=***&x=***"
        );
        assert_eq!(redact_url("http://h/p?sk-abcdef"), "http://h/p?***");
        assert_eq!(redact_url("http://h/p?a=&b"), "http://h/p?a=***&***");
    }

    #[test]
    fn fragment_parameters_are_replaced_plain_anchors_kept() {
        assert_eq!(
            redact_url("https://h/cb#access_token=eyJ.abc&token_type=bearer"),
            "https://h/cb#access_token=***&token_type=***"
        );
        assert_eq!(
            redact_url("https://h/docs#token=abc"),
            "https://h/docs#token=***"
        );
        assert_eq!(redact_url("https://h/docs#usage"), "https://h/docs#usage");
    }

    #[test]
    fn percent_encoded_and_raw_at_credentials_are_replaced_whole() {
        assert_eq!(
            redact_url("https://us%40er:p%3Ass%2F@h.example/mcp?k=%2Fsecret%3D"),
            "https://***@h.example/mcp?k=***"
        );
        assert_eq!(
            redact_url("https://user:p@ss@h.example/mcp"),
            "https://***@h.example/mcp"
        );
    }

    #[test]
    fn ipv6_hosts_and_ports_survive() {
        assert_eq!(
            redact_url("http://admin:pw@[::1]:8080/mcp?key=v"),
            "http://***@[::1]:8080/mcp?key=***"
        );
        assert_eq!(
            redact_url("http://[fe80::1%25eth0]:9/x"),
            "http://[fe80::1%25eth0]:9/x"
        );
    }

    #[test]
    fn urls_without_scheme_are_redacted() {
        assert_eq!(
            redact_url("user:pw@db.internal:5432/app"),
            "***@db.internal:5432/app"
        );
        assert_eq!(
            redact_url("search.example/mcp?api_key=abc"),
            "search.example/mcp?api_key=***"
        );
    }

    #[test]
    fn clean_urls_are_unchanged() {
        for url in [
            "http://127.0.0.1:8001/mcp",
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            "https://h.example/a/b/",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn text_with_several_urls_redacts_each() {
        let text = "connect to https://u:p@a.example/mcp failed (retrying http://b.example/x?token=t1&n=2), \
                    see \"wss://c.example/s?key=k\".";
        assert_eq!(
            redact_text(text),
            "connect to https://***@a.example/mcp failed (retrying http://b.example/x?token=***&n=***), \
             see \"wss://c.example/s?key=***\"."
        );
    }

    #[test]
    fn embedded_and_schemeless_urls_in_text() {
        assert_eq!(
            redact_text("url=https://h/mcp?api_key=abc; next"),
            "url=https://h/mcp?api_key=***; next"
        );
        assert_eq!(
            redact_text("dial user:secret@db.internal:5432 refused"),
            "dial ***@db.internal:5432 refused"
        );
        // Query values containing `,` or `;` are redacted to their end.
        assert_eq!(
            redact_text("GET http://h/p?k=a,b;c done"),
            "GET http://h/p?k=*** done"
        );
    }

    #[test]
    fn ipv6_and_bracketed_urls_in_text() {
        assert_eq!(
            redact_text("[http://a:b@[::1]:80/mcp?k=v] failed"),
            "[http://***@[::1]:80/mcp?k=***] failed"
        );
    }

    #[test]
    fn non_url_text_is_untouched() {
        for text in [
            "agent jarvis ready on port 8001",
            "mail ops@example.com about key=value pairs",
            "what? x=1 is fine",
            "ratio 3:2 at 10:30, see section 4.2.",
            "",
        ] {
            assert_eq!(redact_text(text), text);
        }
    }

    #[test]
    fn url_debug_output_is_redacted() {
        let debug = r#"Url { scheme: "https", cannot_be_a_base: false, username: "u", password: Some("hunter2"), host: Some(Domain("h")), port: None, path: "/mcp", query: Some("api_key=sk-1"), fragment: None }"#;
        let redacted = redact_text(debug);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(!redacted.contains("sk-1"), "{redacted}");
        assert!(redacted.contains(r#"password: Some("***")"#), "{redacted}");
    }

    #[test]
    fn values_from_variables_name_the_variable_only() {
        assert_eq!(
            shown_value("${SEARCH_TOKEN}", "sk-live-123"),
            "the value of ${SEARCH_TOKEN}"
        );
        assert_eq!(
            shown_value(
                "https://h/mcp?key=${KEY:dflt}&u=${USER_ID}",
                "https://h/mcp?key=s&u=1"
            ),
            "the value of ${KEY}, ${USER_ID}"
        );
        assert_eq!(shown_value("fast", "fast"), "`fast`");
        assert_eq!(
            shown_value("https://u:p@h/mcp", "https://u:p@h/mcp"),
            "`https://***@h/mcp`"
        );
    }

    #[test]
    fn variable_names_follow_the_substitution_grammar() {
        assert_eq!(variables_in("a ${X} b ${Y:z} ${} $"), vec!["X", "Y"]);
        assert!(variables_in("no refs").is_empty());
    }
}
