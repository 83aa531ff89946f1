//! Logging: `RUST_LOG` filters (default `info`); JSON lines in production, text in development
//! mode (`IDBROKER_LOG_FORMAT` overrides). Request spans come from tracing-actix-web and carry
//! the request id; secrets are kept out by the types that hold them.
//!
//! Values that came from a caller are bounded where they are recorded; as a second line of
//! defence, text lines escape control characters and cut long values (JSON escapes by itself),
//! so no field can start a forged line or carry megabytes.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::settings::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        // Colour codes only for a person at a terminal, never into a file or a log collector.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        // Every line carries its spans, so each one names the request id it belongs to.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        LogFormat::Text => builder.fmt_fields(escaped_fields()).try_init(),
    };
}

/// Longest field value in a text line, in characters.
const MAX_FIELD_CHARS: usize = 2048;

/// Text-format fields as `name=value` (the message bare), each value escaped and bounded.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = escape(&format!("{value:?}"));
        if field.name() == "message" {
            // A message recorded as a string comes quoted by Debug; its escapes are kept.
            let bare = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(&text);
            write!(writer, "{bare}")
        } else if needs_quotes(&text) {
            // A value with spaces would read as more fields: `ua=x admin=yes`.
            write!(writer, "{}={text:?}", field.name())
        } else {
            write!(writer, "{}={text}", field.name())
        }
    })
    .delimited(" ")
}

/// Whether a field value must be quoted to stay one field (not already a quoted string).
fn needs_quotes(text: &str) -> bool {
    let quoted = text.len() >= 2 && text.starts_with('"') && text.ends_with('"');
    !quoted && text.contains([' ', '=', '"'])
}

/// `text` with control characters escaped (`\n`, `\u{1b}`) and cut to `MAX_FIELD_CHARS`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_FIELD_CHARS + 16));
    for (count, c) in text.chars().enumerate() {
        if count == MAX_FIELD_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_escaped_and_long_values_cut() {
        assert_eq!(escape("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert!(escape(&"x".repeat(10_000)).chars().count() <= 2049);
    }

    #[test]
    fn values_that_would_read_as_more_fields_are_quoted() {
        assert!(super::needs_quotes("ua request_id=forged"));
        assert!(super::needs_quotes("a\"b"));
        assert!(!super::needs_quotes("\"already quoted\""));
        assert!(!super::needs_quotes("us-east-1:abc"));
    }
}
