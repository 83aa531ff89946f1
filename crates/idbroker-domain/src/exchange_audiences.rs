//! Extra token-exchange audiences, a per-pool extension (REST face, bootstrap files and export
//! records, not the AWS face): besides the pool id, the `audience` values `POST /oauth2/token`
//! accepts for the pool, so Google Cloud Workload Identity Federation, Azure federated
//! credentials or an internal API can be named as the token's `aud`.

use crate::ids::IdentityPoolId;
use crate::validation::{Validated, ValidationError};

/// Audiences one pool may list.
pub const MAX_EXCHANGE_AUDIENCES: usize = 10;
/// The longest audience, in characters (the token endpoint's bound on a parameter).
pub const MAX_AUDIENCE_CHARS: usize = 256;

/// Checks a pool's list: at most 10 entries, each 1–256 printable ASCII characters without
/// whitespace (URIs such as `//iam.googleapis.com/…` or `api://AzureADTokenExchange`), no
/// duplicates, and none that reads as an identity pool id (an audience in that form always
/// means that pool).
pub fn validate_exchange_audiences(audiences: &[String]) -> Validated {
    if audiences.len() > MAX_EXCHANGE_AUDIENCES {
        return Err(ValidationError::message(format!(
            "exchange_audiences must have at most {MAX_EXCHANGE_AUDIENCES} entries; got {}",
            audiences.len()
        )));
    }
    for (i, audience) in audiences.iter().enumerate() {
        let printable = audience.chars().all(|c| c.is_ascii_graphic());
        if audience.is_empty() || audience.chars().count() > MAX_AUDIENCE_CHARS || !printable {
            // Not echoed: it may be long or hold control characters.
            return Err(ValidationError::message(format!(
                "exchange_audiences[{i}] must be 1 to {MAX_AUDIENCE_CHARS} printable ASCII characters without whitespace"
            )));
        }
        if IdentityPoolId::parse("audience", audience).is_ok() {
            return Err(ValidationError::message(format!(
                "exchange_audiences[{i}] ('{audience}') is an identity pool id; a pool's own id is always accepted, and another pool's may not be listed"
            )));
        }
        if audiences[..i].contains(audience) {
            return Err(ValidationError::message(format!(
                "exchange_audiences lists '{audience}' twice"
            )));
        }
    }
    Ok(())
}

/// Whether an `audience` parameter has the shape of an extra audience (so a store lookup is
/// worth making).
pub fn is_audience_shaped(audience: &str) -> bool {
    !audience.is_empty()
        && audience.chars().count() <= MAX_AUDIENCE_CHARS
        && audience.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn typical_audiences_are_accepted() {
        let typical = list(&[
            "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/idb",
            "https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/idb",
            "api://AzureADTokenExchange",
            "https://api.internal.example",
        ]);
        assert!(validate_exchange_audiences(&typical).is_ok());
        assert!(validate_exchange_audiences(&[]).is_ok());
        let longest = "a".repeat(MAX_AUDIENCE_CHARS);
        let ten: Vec<String> = (0..10).map(|i| format!("aud-{i}")).collect();
        assert!(validate_exchange_audiences(&[longest]).is_ok());
        assert!(validate_exchange_audiences(&ten).is_ok());
    }

    #[test]
    fn each_rule_is_checked_with_a_semantic_error_naming_the_entry() {
        let eleven: Vec<String> = (0..11).map(|i| format!("aud-{i}")).collect();
        let cases: Vec<(Vec<String>, &str)> = vec![
            (eleven, "at most 10 entries; got 11"),
            (list(&[""]), "exchange_audiences[0] must be 1 to 256"),
            (
                vec!["a".repeat(257)],
                "exchange_audiences[0] must be 1 to 256",
            ),
            (list(&["ok", "has space"]), "exchange_audiences[1] must be"),
            (list(&["tab\there"]), "exchange_audiences[0] must be"),
            (list(&["new\nline"]), "exchange_audiences[0] must be"),
            (list(&["caf\u{e9}"]), "exchange_audiences[0] must be"),
            (
                list(&["us-east-1:00000000-0000-4000-8000-000000000001"]),
                "is an identity pool id",
            ),
            (list(&["a", "b", "a"]), "lists 'a' twice"),
        ];
        for (audiences, expected) in cases {
            let err = validate_exchange_audiences(&audiences)
                .expect_err(&format!("{audiences:?} should be refused"));
            assert!(err.0.contains(expected), "{audiences:?}: {err}");
            assert!(!err.is_model(), "InvalidParameterException");
        }
    }

    #[test]
    fn the_shape_check_matches_the_entry_rule() {
        assert!(is_audience_shaped("api://AzureADTokenExchange"));
        assert!(!is_audience_shaped(""));
        assert!(!is_audience_shaped("with space"));
        assert!(!is_audience_shaped(&"a".repeat(257)));
    }
}
