//! `POST /v1/identity-pools/{pool_id}/explain`: an admin's dry run of GetId and
//! GetCredentialsForIdentity for the logins a user sent. Nothing is written and STS is not
//! called; the answer says what each login's checks found, which identity the logins map to,
//! which role would be assumed, the session tags and the claims of the token that would be
//! issued, and the error the public call would return. Tokens never appear in it, only their
//! claims, each bounded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Longest claim value shown, in characters (longer ones are cut and end with `…`).
pub const MAX_CLAIM_CHARS: usize = 256;
/// Most claims shown per token.
pub const MAX_CLAIMS: usize = 64;

/// What a client would send to GetId / GetCredentialsForIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// Provider key → token, as the Cognito `Logins` map.
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
    /// The identity named by GetCredentialsForIdentity; without it, GetId's answer is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    pub identity_pool_id: String,
    /// The broker's clock when the checks ran (epoch seconds).
    pub evaluated_at: i64,
    /// One entry per login, in key order.
    pub logins: Vec<LoginExplanation>,
    /// Absent when the logins did not get that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityExplanation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleExplanation>,
    /// Session tags that would be sent to STS (key → value).
    #[serde(default)]
    pub principal_tags: BTreeMap<String, String>,
    /// The inline session policy sent with guests' credentials, if one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    /// The claims of the token idbroker would sign for STS (no token is signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub token_claims: Option<Value>,
    /// The error the public calls would answer; absent when they would succeed (up to STS,
    /// which is not called).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_error: Option<PublicError>,
}

/// An error as the public call returns it (`__type` on the AWS face, `title` on REST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicError {
    /// `GetId` or `GetCredentialsForIdentity`.
    pub operation: String,
    /// e.g. `NotAuthorizedException`.
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginExplanation {
    pub provider_key: String,
    pub pool_entry: PoolEntry,
    /// The checks of the token, in the order verification runs them. Checks that cannot run
    /// after an earlier failure (no key is fetched for a token of the wrong issuer) are absent.
    pub checks: Vec<TokenCheck>,
    /// How the provider's signing keys were found, when a key was looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_set: Option<KeySetSource>,
    /// The token's claims (`sub`, `iss`, `aud`, `exp`, …), each value bounded.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub claims: BTreeMap<String, Value>,
    /// Whether the claims passed the signature check (else they are what the token says).
    pub claims_verified: bool,
    /// Whether the login would be accepted.
    pub accepted: bool,
    /// Why not, as the public call says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
}

/// Which entry of the pool's configuration the Logins key matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolEntry {
    pub matched: bool,
    /// `supported_login_provider`, `cognito_user_pool`, `oidc_provider`, `idbroker_token`;
    /// or, unmatched, `not_configured`, `developer_provider`, `legacy_provider`.
    pub kind: String,
    /// The client ids (app ids) tokens must be for, when matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_ids: Vec<String>,
    /// Unmatched: the configured provider keys nearest to this one, nearest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closest: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCheck {
    /// `format`, `algorithm`, `issuer`, `kid`, `key`, `key_algorithm`, `signature`, `expiry`,
    /// `not_before`, `issued_at`, `audience`, `azp`, `token_use`, `subject`, `provider_api`,
    /// `idbroker_token`.
    pub name: String,
    pub passed: bool,
    pub expected: String,
    pub got: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeySetSource {
    /// From the cache; nothing was fetched.
    Cached,
    /// Fetched now: nothing usable was cached.
    Fetched,
    /// The kid was not in the cached set, so it was fetched again.
    Refetched,
    /// The provider failed recently and is in backoff; nothing was fetched.
    InBackoff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityOutcome {
    /// The logins lead to this existing identity, unchanged.
    Existing,
    /// The logins (or a guest call) would create a new identity.
    New,
    /// New logins would be linked to an existing identity.
    Link,
    /// Identities would be merged into the survivor.
    Merge,
    /// The call would be refused (see `error`).
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityExplanation {
    pub outcome: IdentityOutcome,
    /// The identity the call would answer with (the survivor); absent for a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// Identities that would be merged into it (and disabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<String>,
    /// Provider keys that would be linked to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<String>,
    /// Who owns each presented login now (provider key → identity id); unowned ones absent.
    #[serde(default)]
    pub owners: BTreeMap<String, String>,
    /// Whether the identity is a guest (no logins) after the call.
    pub guest: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleExplanation {
    /// `guest` (the unauthenticated role), `default` (the authenticated role: no mapping
    /// applies) or `mapping`.
    pub decided_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_key: Option<String>,
    /// `Token` or `Rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_type: Option<String>,
    /// Token mappings: the roles the token allows and its preferred one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_role: Option<String>,
    /// Rules mappings: each rule compared, in order, up to the one that decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleEvaluation>,
    /// When no rule or token role decided: the pool's AmbiguousRoleResolution (`Deny`,
    /// `AuthenticatedRole`, or `unset`, which denies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_role_resolution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleEvaluation {
    pub claim: String,
    /// `Equals`, `Contains`, `StartsWith`, `NotEqual`.
    pub match_type: String,
    pub value: String,
    /// The claim's values in the token, each bounded; empty when it is absent.
    pub claim_values: Vec<String>,
    pub matched: bool,
    pub role_arn: String,
}

/// `text`, cut to `max` characters with `…` when longer.
pub fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// Up to `n` of `known`, nearest to `key` by edit distance (case-insensitive), nearest first.
pub fn closest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<String> {
    let key = key.to_lowercase();
    let mut ranked: Vec<(usize, &str)> = known
        .into_iter()
        .map(|name| (strsim::levenshtein(&key, &name.to_lowercase()), name))
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(n)
        .map(|(_, name)| bounded(name, 128))
        .collect()
}

/// Claims as an explanation shows them: at most `MAX_CLAIMS`, strings bounded, other values
/// kept when their JSON is short and shown as bounded JSON text otherwise.
pub fn bounded_claims(claims: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut shown: BTreeMap<String, Value> = claims
        .iter()
        .take(MAX_CLAIMS)
        .map(|(name, value)| {
            let value = match value {
                Value::String(s) => Value::String(bounded(s, MAX_CLAIM_CHARS)),
                other => {
                    let text = other.to_string();
                    if text.chars().count() <= MAX_CLAIM_CHARS {
                        other.clone()
                    } else {
                        Value::String(bounded(&text, MAX_CLAIM_CHARS))
                    }
                }
            };
            (bounded(name, MAX_CLAIM_CHARS), value)
        })
        .collect();
    if claims.len() > MAX_CLAIMS {
        shown.insert(
            "…".to_owned(),
            Value::String(format!("{} more claims", claims.len() - MAX_CLAIMS)),
        );
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_are_bounded_in_length_and_number() {
        let mut claims: BTreeMap<String, Value> =
            (0..100).map(|i| (format!("c{i:03}"), json!(i))).collect();
        claims.insert("big".into(), json!("x".repeat(10_000)));
        claims.insert("nested".into(), json!({"a": "y".repeat(10_000)}));
        let shown = bounded_claims(&claims);
        assert_eq!(shown.len(), MAX_CLAIMS + 1);
        assert!(serde_json::to_string(&shown).unwrap().len() < 64 * 300);
        let small: BTreeMap<String, Value> = [("big".to_owned(), json!("x".repeat(10_000)))].into();
        let big = bounded_claims(&small)["big"].as_str().unwrap().to_owned();
        assert_eq!(big.chars().count(), MAX_CLAIM_CHARS + 1);
    }
}
