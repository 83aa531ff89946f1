//! "unknown field `Logins`; did you mean `logins`?": serde refuses an unknown member and lists
//! the expected ones; this picks the nearest of those for the message.
//!
//! serde has no structured form of this error (only `de::Error::unknown_field`, which formats
//! it), so the parts are read back from serde's message, whose wording is part of serde's
//! stable `de::Error` behaviour: "unknown field `x`, expected `a`" / "… expected `a` or `b`" /
//! "… expected one of `a`, `b`, …" / "… there are no fields".

/// An unknown member and the nearest known one, if any is near enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// As the caller wrote it (unbounded: bound it before it goes into a message).
    pub field: String,
    pub nearest: Option<String>,
    pub expected: Vec<String>,
}

/// Longest name of ours a message may list; anything longer was not written by serde.
const MAX_NAME_CHARS: usize = 64;

/// Reads serde's unknown-field message, which must start `message`: found anywhere, it could
/// be a caller's string value quoted inside another error. The expected names must look like
/// our member names (short identifiers); otherwise the caller shaped the message, and it is
/// not read.
pub fn parse(message: &str) -> Option<UnknownField> {
    const MARK: &str = "unknown field `";
    let rest = message.strip_prefix(MARK)?;
    let end = rest.find("`, ")?;
    let field = rest[..end].to_owned();
    let tail = &rest[end + 3..];
    let expected = if tail.starts_with("there are no fields") {
        Vec::new()
    } else {
        let tail = tail.strip_prefix("expected ")?;
        let tail = tail.strip_prefix("one of ").unwrap_or(tail);
        // The list ends at the first character after a closing backtick that is not `, ` or ` or `.
        let mut names = Vec::new();
        let mut parts = tail.split('`');
        parts.next(); // text before the first backtick
        while let (Some(name), Some(sep)) = (parts.next(), parts.next()) {
            names.push(name.to_owned());
            if sep != ", " && sep != " or " {
                break;
            }
        }
        names
    };
    let is_member_name = |name: &String| {
        !name.is_empty()
            && name.chars().count() <= MAX_NAME_CHARS
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !expected.iter().all(is_member_name) {
        return None;
    }
    let nearest = nearest(&field, expected.iter().map(String::as_str));
    Some(UnknownField {
        field,
        nearest,
        expected,
    })
}

fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The known name nearest to `field`, compared without case and underscores, if it is within
/// a third of the name's length (so `Logins` → `logins`, `OpenIdConnectProviderArns` →
/// `open_id_connect_provider_arns`, but `color` suggests nothing).
pub fn nearest<'a>(field: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let folded = fold(field);
    known
        .into_iter()
        .map(|name| (strsim::levenshtein(&folded, &fold(name)), name))
        .filter(|(distance, name)| *distance <= (fold(name).chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.to_owned())
}

impl UnknownField {
    /// The message, with the caller's name passed through `bound` first.
    pub fn message(&self, bound: impl Fn(&str) -> String) -> String {
        let field = bound(&self.field);
        match &self.nearest {
            Some(near) => format!("unknown field `{field}`; did you mean `{near}`?"),
            None if self.expected.is_empty() => format!("unknown field `{field}`"),
            None => format!(
                "unknown field `{field}`; expected one of {}",
                self.expected
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_quoted_inside_another_error_is_not_read() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            kind: Option<String>,
            logins: Option<u8>,
        }
        let forged =
            r#"{"logins": "unknown field `identity_pool_id`, expected `identity_pool_ic`"}"#;
        let err = serde_json::from_str::<Body>(forged).unwrap_err();
        assert_eq!(parse(&err.to_string()), None);
        // A key shaped to plant a name of its own in the list is not read either.
        let planted = r#"{"x`, expected `<script>": 1}"#;
        let err = serde_json::from_str::<Body>(planted).unwrap_err();
        assert_eq!(parse(&err.to_string()), None);
        // The real thing still is.
        let err = serde_json::from_str::<Body>(r#"{"Logins": 1}"#).unwrap_err();
        assert_eq!(
            parse(&err.to_string()).unwrap().nearest.as_deref(),
            Some("logins")
        );
    }

    #[test]
    fn finds_the_snake_case_name_of_a_pascal_case_member() {
        let err =
            serde_json::from_str::<crate::identities::LoginsBody>(r#"{"Logins": {}}"#).unwrap_err();
        let unknown = parse(&err.to_string()).unwrap();
        assert_eq!(unknown.field, "Logins");
        assert_eq!(unknown.nearest.as_deref(), Some("logins"));
        assert_eq!(
            unknown.message(str::to_owned),
            "unknown field `Logins`; did you mean `logins`?"
        );
    }

    #[test]
    fn folds_case_and_underscores_over_a_long_list() {
        let err = serde_json::from_str::<crate::pools::PoolRequest>(
            r#"{"identity_pool_name": "a", "allow_unauthenticated_identities": true, "OpenIdConnectProviderArns": []}"#,
        )
        .unwrap_err();
        let unknown = parse(&err.to_string()).unwrap();
        assert_eq!(
            unknown.nearest.as_deref(),
            Some("open_id_connect_provider_arns")
        );
    }

    #[test]
    fn suggests_nothing_far_away_and_lists_the_names_instead() {
        let unknown =
            parse("unknown field `colour`, expected `logins` or `custom_role_arn`").unwrap();
        assert_eq!(unknown.nearest, None);
        assert_eq!(
            unknown.message(str::to_owned),
            "unknown field `colour`; expected one of `logins`, `custom_role_arn`"
        );
        assert_eq!(parse("missing field `logins`"), None);
    }
}
