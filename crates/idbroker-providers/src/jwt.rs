//! Strict verification of OpenID Connect ID tokens.
//!
//! Order matters: the header and the unverified `iss` are read first, and an issuer that is not
//! the one configured for the Logins key is refused before any key is fetched. Then the
//! signature is checked with the issuer's key for the token's `kid`, with the algorithm taken
//! from an allowlist and required to match the key's type (so `none` and HMAC-with-a-public-key
//! can never pass), and finally the claims, against our clock.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use idbroker_domain::login::{LoginRef, VerifiedLogin};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::endpoints::KeyLocation;
use crate::error::VerifyError;
use crate::jwks::KeyCache;

/// Skew allowed past `exp` (IAM and Cognito allow 5 minutes).
pub const EXP_LEEWAY_SECS: i64 = 300;
/// Skew allowed for `nbf` and `iat` in the future: clocks differ a little, never by much.
pub const FUTURE_LEEWAY_SECS: i64 = 60;

/// Asymmetric algorithms only; STS accepts the same families.
const ALLOWED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

pub struct Rules<'a> {
    pub issuers: &'a [String],
    pub client_ids: &'a [String],
    pub require_id_token_use: bool,
}

pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

fn not_a_token() -> VerifyError {
    VerifyError::invalid("Not a valid OpenId Connect identity token.")
}

/// The payload, decoded without verifying anything: only to route the token.
fn unverified_claims(token: &str) -> Result<BTreeMap<String, Value>, VerifyError> {
    let payload = token.split('.').nth(1).ok_or_else(not_a_token)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| not_a_token())?;
    serde_json::from_slice(&bytes).map_err(|_| not_a_token())
}

fn key_matches(jwk: &Jwk, alg: Algorithm) -> bool {
    let family_ok = matches!(
        (&jwk.algorithm, alg),
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) | (
            AlgorithmParameters::EllipticCurve(_),
            Algorithm::ES256 | Algorithm::ES384
        )
    );
    // A key that names its algorithm may only be used with that one.
    let declared_ok = jwk.common.key_algorithm.is_none_or(|declared| {
        declared
            .to_string()
            .parse::<Algorithm>()
            .is_ok_and(|a| a == alg)
    });
    family_ok && declared_ok
}

fn seconds(claims: &BTreeMap<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| VerifyError::invalid(format!("Claim {name} is not a number."))),
    }
}

fn audiences(claims: &BTreeMap<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Checks the verified claims against the rules and the clock.
fn check_claims(
    claims: &BTreeMap<String, Value>,
    rules: &Rules<'_>,
    now: DateTime<Utc>,
) -> Result<(), VerifyError> {
    let now_s = now.timestamp();
    let exp = seconds(claims, "exp")?
        .ok_or_else(|| VerifyError::invalid("Missing a required claim: exp"))?;
    if now_s >= exp + EXP_LEEWAY_SECS {
        return Err(VerifyError::invalid(format!(
            "Token expired: {now_s} >= {exp}"
        )));
    }
    if let Some(nbf) = seconds(claims, "nbf")?
        && nbf > now_s + FUTURE_LEEWAY_SECS
    {
        return Err(VerifyError::invalid(format!(
            "Token is not valid before {nbf}."
        )));
    }
    if let Some(iat) = seconds(claims, "iat")?
        && iat > now_s + FUTURE_LEEWAY_SECS
    {
        return Err(VerifyError::invalid(format!(
            "Token was issued in the future ({iat})."
        )));
    }
    let wrong_client = || {
        VerifyError::Rejected(
            "Token is not from a supported provider of this identity pool.".into(),
        )
    };
    // OpenID Connect: when azp is present it names the client the token was issued to.
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) => {
            if !rules.client_ids.iter().any(|c| c == azp) {
                return Err(wrong_client());
            }
        }
        None => {
            let aud = audiences(claims);
            if aud.is_empty() {
                return Err(VerifyError::invalid("Missing a required claim: aud"));
            }
            if !aud.iter().any(|a| rules.client_ids.iter().any(|c| c == a)) {
                return Err(wrong_client());
            }
        }
    }
    if rules.require_id_token_use && claims.get("token_use").and_then(Value::as_str) != Some("id") {
        return Err(VerifyError::invalid(
            "Not a Cognito ID token (token_use must be id).",
        ));
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(()),
        _ => Err(VerifyError::invalid("Missing a required claim: sub")),
    }
}

pub async fn verify(
    key: &str,
    token: &str,
    rules: &Rules<'_>,
    location: &KeyLocation,
    keys: &KeyCache,
    now: DateTime<Utc>,
) -> Result<VerifiedLogin, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| not_a_token())?;
    if !ALLOWED.contains(&header.alg) {
        return Err(VerifyError::invalid(format!(
            "Signing algorithm {:?} is not allowed.",
            header.alg
        )));
    }
    let unverified = unverified_claims(token)?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !rules.issuers.iter().any(|i| i == iss) {
        return Err(VerifyError::invalid("Issuer doesn't match providerName"));
    }
    let kid = header.kid.as_deref().ok_or_else(|| {
        VerifyError::invalid("Couldn't verify signed token: the token has no kid.")
    })?;

    let jwk = keys.key(location, kid).await?;
    if !key_matches(&jwk, header.alg) {
        return Err(VerifyError::invalid(
            "Couldn't verify signed token: the key does not fit the algorithm.",
        ));
    }
    let decoding_key = DecodingKey::from_jwk(&jwk)
        .map_err(|_| VerifyError::invalid("Couldn't verify signed token."))?;
    let mut validation = Validation::new(header.alg);
    // The time and audience checks are ours (check_claims), against the broker's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss"]);
    validation.set_issuer(rules.issuers);
    let data = jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &decoding_key, &validation)
        .map_err(|_| VerifyError::invalid("Couldn't verify signed token."))?;
    check_claims(&data.claims, rules, now)?;

    let subject = data
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(VerifiedLogin {
        login: LoginRef {
            provider: key.to_owned(),
            subject,
        },
        claims: data.claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn claims(value: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    fn rules<'a>(clients: &'a [String], issuers: &'a [String]) -> Rules<'a> {
        Rules {
            issuers,
            client_ids: clients,
            require_id_token_use: false,
        }
    }

    fn check(value: Value) -> Result<(), VerifyError> {
        let clients = ["app".to_owned()];
        let issuers = ["https://idp".to_owned()];
        check_claims(&claims(value), &rules(&clients, &issuers), now())
    }

    #[test]
    fn a_fresh_token_for_our_client_passes() {
        assert_eq!(
            check(json!({"sub": "u", "aud": "app", "exp": 1_800_000_100, "iat": 1_800_000_000})),
            Ok(())
        );
    }

    #[test]
    fn expiry_has_five_minutes_of_grace_and_no_more() {
        assert!(check(json!({"sub": "u", "aud": "app", "exp": 1_800_000_000 - 299})).is_ok());
        let err = check(json!({"sub": "u", "aud": "app", "exp": 1_800_000_000 - 300})).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Rejected(
                "Invalid login token. Token expired: 1800000000 >= 1799999700".into()
            )
        );
    }

    #[test]
    fn tokens_from_the_future_are_refused() {
        assert!(
            check(json!({"sub": "u", "aud": "app", "exp": 1_800_009_000, "nbf": 1_800_000_100}))
                .is_err()
        );
        assert!(
            check(json!({"sub": "u", "aud": "app", "exp": 1_800_009_000, "iat": 1_800_000_100}))
                .is_err()
        );
    }

    #[test]
    fn azp_decides_when_present() {
        assert!(
            check(json!({"sub": "u", "aud": "other", "azp": "app", "exp": 1_800_000_100})).is_ok()
        );
        assert!(
            check(json!({"sub": "u", "aud": "app", "azp": "other", "exp": 1_800_000_100})).is_err()
        );
    }

    #[test]
    fn audience_arrays_and_missing_audiences() {
        assert!(check(json!({"sub": "u", "aud": ["x", "app"], "exp": 1_800_000_100})).is_ok());
        let err = check(json!({"sub": "u", "exp": 1_800_000_100})).unwrap_err();
        assert!(
            err.to_string().contains("Missing a required claim: aud"),
            "{err}"
        );
    }

    #[test]
    fn user_pool_tokens_must_be_id_tokens() {
        let clients = ["app".to_owned()];
        let issuers = ["https://idp".to_owned()];
        let mut r = rules(&clients, &issuers);
        r.require_id_token_use = true;
        let access =
            claims(json!({"sub": "u", "aud": "app", "exp": 1_800_000_100, "token_use": "access"}));
        assert!(check_claims(&access, &r, now()).is_err());
        let id = claims(json!({"sub": "u", "aud": "app", "exp": 1_800_000_100, "token_use": "id"}));
        assert!(check_claims(&id, &r, now()).is_ok());
    }

    #[test]
    fn only_compact_jws_looks_like_a_jwt() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.sig"));
        assert!(!looks_like_jwt("EAAGm0PX4ZCpsBA"));
    }
}
