//! Model-constraint checks shared by every shape, and the one error type of this crate.
//!
//! Two kinds, as the real service answers them: a violation of a model constraint (length,
//! pattern, range, required member, list or map size) is `ValidationException` with AWS's
//! "1 validation error detected" sentence; a request that is well-formed but makes no sense
//! (a provider the pool does not configure, a bad role mapping) is
//! `InvalidParameterException` (`docs/spec.md` §1). Values are echoed only when they are short
//! and not secret-bearing.

/// A request that breaks a rule of the model or of Cognito's semantics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String, pub Violation);

/// Which rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A constraint of the API model (ValidationException).
    Model,
    /// A rule of Cognito's semantics (InvalidParameterException).
    Semantic,
}

/// Longest value we repeat back in an error message; longer ones are cut.
const ECHO_LIMIT: usize = 64;

impl ValidationError {
    /// The AWS-style constraint message for `field`, echoing `value`.
    pub fn constraint(field: &str, value: &str, constraint: &str) -> Self {
        let shown: String = value.chars().take(ECHO_LIMIT).collect();
        let ellipsis = if value.chars().count() > ECHO_LIMIT {
            "…"
        } else {
            ""
        };
        Self(
            format!(
                "1 validation error detected: Value '{shown}{ellipsis}' at '{field}' failed to satisfy constraint: {constraint}"
            ),
            Violation::Model,
        )
    }

    /// A constraint message that does not repeat the value (for collections and secrets).
    pub fn constraint_no_echo(field: &str, constraint: &str) -> Self {
        Self(
            format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"
            ),
            Violation::Model,
        )
    }

    /// A semantic failure (InvalidParameterException).
    pub fn message(message: impl Into<String>) -> Self {
        Self(message.into(), Violation::Semantic)
    }

    /// Whether this is a violation of the API model (ValidationException).
    pub fn is_model(&self) -> bool {
        self.1 == Violation::Model
    }
}

pub type Validated<T = ()> = Result<T, ValidationError>;

/// Length in characters must lie in `min..=max`.
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> Validated {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(ValidationError::constraint(
            field,
            value,
            &format!(
                "Member must have length {}",
                if len < min {
                    format!("greater than or equal to {min}")
                } else {
                    format!("less than or equal to {max}")
                }
            ),
        ));
    }
    Ok(())
}

/// Every character must satisfy `allowed`; `pattern` is the model's regular expression, for the message.
pub fn check_chars(
    field: &str,
    value: &str,
    pattern: &str,
    allowed: fn(char) -> bool,
) -> Validated {
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(ValidationError::constraint(
            field,
            value,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ))
    }
}

/// A collection may hold at most `max` members.
pub fn check_count(field: &str, count: usize, max: usize) -> Validated {
    if count > max {
        return Err(ValidationError::constraint_no_echo(
            field,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// `\w` as AWS's (Java) patterns mean it: ASCII letters, digits and underscore.
pub fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `\s` in Java patterns.
pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_too_long_value_names_the_maximum_and_is_cut_in_the_message() {
        let long = "a".repeat(129);
        let err = check_len("identityPoolName", &long, 1, 128).unwrap_err();
        assert!(err.0.contains("less than or equal to 128"), "{err}");
        assert!(err.0.contains('…'), "{err}");
        assert!(err.0.len() < 250, "{err}");
    }

    #[test]
    fn an_empty_value_names_the_minimum() {
        let err = check_len("f", "", 1, 5).unwrap_err();
        assert!(err.0.contains("greater than or equal to 1"), "{err}");
    }

    #[test]
    fn word_characters_are_ascii_only() {
        assert!(is_word('a') && is_word('Z') && is_word('0') && is_word('_'));
        assert!(!is_word('é') && !is_word('-') && !is_word('/'));
    }
}
