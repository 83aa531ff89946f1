//! What of a caller's input may come back in an error: a bounded, printable excerpt.
//!
//! Error messages travel in a response body, an `x-amzn-ErrorMessage` header and the request's
//! log lines, so a message built from a 1 MB input would cost 1 MB three times over. Cognito's
//! own validation messages quote a few dozen characters; so do ours.

/// Longest message sent or logged, in characters.
pub const MAX_MESSAGE_CHARS: usize = 256;

/// Longest quoted input kept inside a parser's message (the rest becomes `…`).
const MAX_QUOTED_CHARS: usize = 32;

/// `message` cut to `MAX_MESSAGE_CHARS`, with control characters shown as spaces.
pub fn bounded(message: String) -> String {
    let needs_work =
        message.chars().count() > MAX_MESSAGE_CHARS || message.chars().any(char::is_control);
    if needs_work {
        cut(&message, MAX_MESSAGE_CHARS)
    } else {
        message
    }
}

/// At most `max` characters of `text`, control characters shown as spaces, `…` where cut.
fn cut(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// A JSON parser's message with long quoted input elided: serde names the value it did not
/// expect (`invalid type: string "…", expected a map`), and that value may be a token.
pub fn json_error(err: &serde_json::Error) -> String {
    // serde quotes input with `"` (strings) and with backticks (field and variant names).
    elide_quoted(&elide_quoted(&err.to_string(), '"'), '`')
}

/// A member name the caller sent, as quoted back in an "unknown field" message: at most
/// `MAX_QUOTED_CHARS` printable characters.
pub fn field_name(name: &str) -> String {
    cut(name, MAX_QUOTED_CHARS)
}

fn elide_quoted(text: &str, quote: char) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE_CHARS * 2));
    let mut parts = text.split(quote);
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // Odd parts are inside quotes.
    for (i, part) in parts.enumerate() {
        out.push(quote);
        if i % 2 == 0 && part.chars().count() > MAX_QUOTED_CHARS {
            out.extend(part.chars().take(MAX_QUOTED_CHARS));
            out.push('…');
        } else {
            out.push_str(part);
        }
        if out.len() > MAX_MESSAGE_CHARS * 4 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_name_is_quoted_back_short_and_printable() {
        assert_eq!(field_name("Logins"), "Logins");
        let long = field_name(&"x\n".repeat(1000));
        assert_eq!(long.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(long.ends_with('…') && !long.contains('\n'));
    }

    #[test]
    fn a_long_message_is_cut() {
        let cut = bounded("x".repeat(10_000));
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn control_characters_do_not_survive() {
        assert_eq!(bounded("a\nb\rc".into()), "a b c");
    }

    #[test]
    fn short_messages_are_kept() {
        assert_eq!(bounded("Rate exceeded".into()), "Rate exceeded");
    }

    #[test]
    fn quoted_input_in_a_parser_message_is_elided() {
        let body = format!(r#"{{"Logins": "{}"}}"#, "t".repeat(900_000));
        let err = serde_json::from_str::<
            std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
        >(&body)
        .unwrap_err();
        let message = json_error(&err);
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("expected a map"), "{message}");
    }

    #[test]
    fn a_long_variant_name_is_elided_and_the_expected_ones_kept() {
        #[derive(Debug, serde::Deserialize)]
        enum Kind {
            Token,
            Rules,
        }
        let body = format!(r#""{}""#, "Q".repeat(3000));
        let err = serde_json::from_str::<Kind>(&body).unwrap_err();
        let message = json_error(&err);
        assert!(message.len() < 120, "{message}");
        assert!(
            message.contains("`Token`") && message.contains("`Rules`"),
            "{message}"
        );
    }
}
