//! Database URLs carry passwords; anything shown to a person goes through here first.

/// The URL with the password (in the user-info part or a `password=` parameter) replaced by
/// `***`, so it can name the server in errors and logs.
pub fn redact_url(url: &str) -> String {
    let mut out = redact_userinfo(url);
    out = redact_query_password(&out);
    out
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_string();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
}

fn redact_query_password(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_string();
    };
    let (head, query) = url.split_at(q + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}{}", parts.join("&"))
}

/// The password a URL carries (user-info part first, then a `password=` parameter), so it can
/// be scrubbed from messages that might quote it.
pub(crate) fn password_in(url: &str) -> Option<String> {
    let authority = url.split_once("://")?.1;
    let authority = &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())];
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        return Some(password.to_string());
    }
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.eq_ignore_ascii_case("password")
            .then(|| value.to_string())
    })
}

/// Removes a secret from text that may quote it (for example a driver's error message).
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{password_in, redact_url, scrub};

    #[test]
    fn passwords_never_survive() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/pallas"),
            "postgres://app:***@db.example:5432/pallas"
        );
        assert_eq!(
            redact_url("postgresql://app:p%40ss@db/x?sslmode=require&password=hunter2"),
            "postgresql://app:***@db/x?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://app@db/x"),
            "postgres://app@db/x",
            "no password, nothing to hide"
        );
        assert_eq!(
            redact_url("postgres://localhost/x?user=a"),
            "postgres://localhost/x?user=a"
        );
    }

    #[test]
    fn the_password_is_found_to_be_scrubbed() {
        let url = "postgres://app:s3cret@db/x";
        assert_eq!(password_in(url).as_deref(), Some("s3cret"));
        assert_eq!(
            password_in("postgres://db/x?password=hunter2").as_deref(),
            Some("hunter2")
        );
        assert_eq!(password_in("postgres://app@db/x"), None);
        assert_eq!(
            scrub("bad password s3cret for app", password_in(url).as_deref()),
            "bad password *** for app"
        );
    }
}
