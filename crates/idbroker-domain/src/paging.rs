//! Paging for the list operations: `MaxResults` (1–60) and opaque `NextToken`s.
//!
//! A token is the base64url of `v1:<last key of the page>`, so a client cannot mistake it for
//! anything meaningful, and a token from another list or a garbled one is a clear error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::validation::{Validated, ValidationError, check_len};

/// Results per page, 1–60 (model and quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxResults(u32);

impl MaxResults {
    pub fn parse(value: i64) -> Validated<Self> {
        if (1..=60).contains(&value) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked just above
            Ok(Self(value as u32))
        } else {
            let constraint = if value < 1 {
                "Member must have value greater than or equal to 1"
            } else {
                "Member must have value less than or equal to 60"
            };
            Err(ValidationError::constraint(
                "maxResults",
                &value.to_string(),
                constraint,
            ))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken(String);

const PREFIX: &str = "v1:";

impl PageToken {
    pub fn after(last_key: &str) -> Self {
        Self(last_key.to_owned())
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}", self.0))
    }

    pub fn decode(token: &str) -> Validated<Self> {
        check_len("nextToken", token, 1, 65535)?;
        URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix(PREFIX).map(str::to_owned))
            .map(Self)
            .ok_or_else(|| ValidationError::message("Invalid NextToken"))
    }

    pub fn last_key(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips() {
        let token = PageToken::after("us-east-1:abc");
        assert_eq!(PageToken::decode(&token.encode()).unwrap(), token);
    }

    #[test]
    fn garbage_tokens_are_rejected() {
        assert!(PageToken::decode("not base64!").is_err());
        assert!(PageToken::decode(&URL_SAFE_NO_PAD.encode("v0:x")).is_err());
        assert!(PageToken::decode("").is_err());
    }

    #[test]
    fn max_results_must_be_between_1_and_60() {
        assert!(MaxResults::parse(0).is_err());
        assert!(MaxResults::parse(61).is_err());
        assert_eq!(MaxResults::parse(60).unwrap().get(), 60);
    }
}
