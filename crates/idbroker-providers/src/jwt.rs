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

use crate::diagnosis::{Diagnosis, Recorder, Stop};
use crate::endpoints::KeyLocation;
use crate::error::VerifyError;
use crate::jwks::KeyCache;

/// Skew allowed past `exp` (IAM and Cognito allow 5 minutes).
pub const EXP_LEEWAY_SECS: i64 = 300;
/// Skew allowed for `nbf` and `iat` in the future: clocks differ a little, never by much.
pub const FUTURE_LEEWAY_SECS: i64 = 60;

/// OpenID Connect Core 1.0 §2: `sub` "MUST NOT exceed 255 ASCII characters". It is stored as
/// the login and written into the `amr` of idbroker's tokens, so a longer one (a token may be
/// 50,000 characters) is refused rather than carried into every token and STS call.
pub const MAX_SUB_CHARS: usize = 255;

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

/// The `iss` of a token, read without verifying anything: only to choose which of a pool's
/// providers must verify it (token exchange names no Logins key). `None` for anything that
/// is not a JWT with a string `iss`.
pub fn unverified_issuer(token: &str) -> Option<String> {
    if !looks_like_jwt(token) {
        return None;
    }
    let claims = unverified_claims(token).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
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

/// The largest time claim taken seriously: 9999-12-31T23:59:59Z. Bounding the numbers keeps
/// the leeway arithmetic far from overflow, whatever a token claims.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

fn seconds(claims: &BTreeMap<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    let value = match claims.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let secs = match value.as_i64() {
        Some(secs) => Some(secs),
        // NumericDate may have a fraction; floats out of range saturate and are caught below.
        None => value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64),
    }
    .ok_or_else(|| VerifyError::invalid(format!("Claim {name} is not a number.")))?;
    if !(-MAX_TIMESTAMP..=MAX_TIMESTAMP).contains(&secs) {
        return Err(VerifyError::invalid(format!(
            "Claim {name} is out of range."
        )));
    }
    Ok(Some(secs))
}

fn audiences(claims: &BTreeMap<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A claim as a diagnosis shows it (`(absent)` when missing).
fn shown(claims: &BTreeMap<String, Value>, name: &str) -> String {
    match claims.get(name) {
        None => "(absent)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn one_of(values: &[String]) -> String {
    match values {
        [one] => one.clone(),
        _ => format!("one of {}", values.join(", ")),
    }
}

/// `Ok` when `failure` is `None`.
fn outcome(failure: Option<VerifyError>) -> Result<(), VerifyError> {
    failure.map_or(Ok(()), Err)
}

/// Checks the claims against the rules and the clock, in order: `exp`, `nbf`, `iat`,
/// `azp`/`aud`, `token_use`, `sub`.
fn record_claims(
    claims: &BTreeMap<String, Value>,
    rules: &Rules<'_>,
    now: DateTime<Utc>,
    rec: &mut Recorder,
) -> Result<(), Stop> {
    let now_s = now.timestamp();
    let exp = match seconds(claims, "exp") {
        Ok(None) => Err(VerifyError::invalid("Missing a required claim: exp")),
        Ok(Some(exp)) if now_s >= exp.saturating_add(EXP_LEEWAY_SECS) => Err(VerifyError::invalid(
            format!("Token expired: {now_s} >= {exp}"),
        )),
        other => other.map(|_| ()),
    };
    rec.check(
        "expiry",
        exp,
        || {
            format!(
                "exp > {} (now {now_s} minus {EXP_LEEWAY_SECS} s of skew)",
                now_s.saturating_sub(EXP_LEEWAY_SECS)
            )
        },
        || shown(claims, "exp"),
    )?;
    let future = |name: &str, failure: fn(i64) -> String| match seconds(claims, name) {
        Ok(Some(at)) if at > now_s.saturating_add(FUTURE_LEEWAY_SECS) => {
            Err(VerifyError::invalid(failure(at)))
        }
        other => other.map(|_| ()),
    };
    let not_later = |name: &str| {
        format!(
            "{name} absent or ≤ {} (now {now_s} plus {FUTURE_LEEWAY_SECS} s of skew)",
            now_s.saturating_add(FUTURE_LEEWAY_SECS)
        )
    };
    rec.check(
        "not_before",
        future("nbf", |nbf| format!("Token is not valid before {nbf}.")),
        || not_later("nbf"),
        || shown(claims, "nbf"),
    )?;
    rec.check(
        "issued_at",
        future("iat", |iat| {
            format!("Token was issued in the future ({iat}).")
        }),
        || not_later("iat"),
        || shown(claims, "iat"),
    )?;
    let wrong_client = || {
        VerifyError::Rejected(
            "Token is not from a supported provider of this identity pool.".into(),
        )
    };
    let expected_client = || one_of(rules.client_ids);
    // OpenID Connect: when azp is present it names the client the token was issued to.
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) => {
            let ours = rules.client_ids.iter().any(|c| c == azp);
            rec.check(
                "azp",
                outcome((!ours).then(wrong_client)),
                expected_client,
                || azp.to_owned(),
            )?;
        }
        None => {
            let aud = audiences(claims);
            let failure = if aud.is_empty() {
                Some(VerifyError::invalid("Missing a required claim: aud"))
            } else if !aud.iter().any(|a| rules.client_ids.iter().any(|c| c == a)) {
                Some(wrong_client())
            } else {
                None
            };
            rec.check("audience", outcome(failure), expected_client, || {
                shown(claims, "aud")
            })?;
        }
    }
    if rules.require_id_token_use {
        let is_id = claims.get("token_use").and_then(Value::as_str) == Some("id");
        rec.check(
            "token_use",
            outcome(
                (!is_id).then(|| {
                    VerifyError::invalid("Not a Cognito ID token (token_use must be id).")
                }),
            ),
            || "id".to_owned(),
            || shown(claims, "token_use"),
        )?;
    }
    let sub = match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if sub.chars().count() > MAX_SUB_CHARS => Err(VerifyError::invalid(format!(
            "Claim sub is longer than {MAX_SUB_CHARS} characters."
        ))),
        Some(sub) if !sub.is_empty() => Ok(()),
        _ => Err(VerifyError::invalid("Missing a required claim: sub")),
    };
    rec.check(
        "subject",
        sub,
        || format!("a string of 1–{MAX_SUB_CHARS} characters"),
        || shown(claims, "sub"),
    )?;
    Ok(())
}

/// Checks the verified claims against the rules and the clock.
#[cfg(test)]
fn check_claims(
    claims: &BTreeMap<String, Value>,
    rules: &Rules<'_>,
    now: DateTime<Utc>,
) -> Result<(), VerifyError> {
    let mut rec = Recorder::stopping();
    let _ = record_claims(claims, rules, now, &mut rec);
    rec.finish(Some(()))
}

fn allowed_algorithms() -> String {
    let names: Vec<String> = ALLOWED.iter().map(|a| format!("{a:?}")).collect();
    format!("one of {}", names.join(", "))
}

/// What a token that is not a readable JWS looks like, for a diagnosis: its shape, never its
/// text. When the header is JSON naming an algorithm that is not even a JWS one (`none`), the
/// failure is reported as the algorithm's.
fn unreadable(token: &str) -> (&'static str, String, String) {
    let segments = token.split('.').count();
    let alg = token
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|header| header.get("alg").map(shown_value));
    match alg {
        Some(alg) if segments == 3 => ("algorithm", allowed_algorithms(), alg),
        _ => (
            "format",
            "a JWS in compact form: three base64url segments, the first a JSON header".to_owned(),
            format!(
                "{segments} segment(s), {} characters, without a readable JWS header",
                token.chars().count()
            ),
        ),
    }
}

fn shown_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What is read before any key is fetched: the header (its algorithm must be allowed), the
/// unverified payload, its issuer (must be one of the rules') and the kid. `None` when the
/// token cannot be read at all; otherwise whether a key may be fetched for it.
fn preflight(
    token: &str,
    rules: &Rules<'_>,
    rec: &mut Recorder,
) -> Result<Option<Preflight>, Stop> {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        let (name, expected, got) = if rec.is_thorough() {
            unreadable(token)
        } else {
            ("format", String::new(), String::new())
        };
        rec.check(name, Err(not_a_token()), || expected, || got)?;
        return Ok(None);
    };
    let alg_ok = rec.check(
        "algorithm",
        outcome((!ALLOWED.contains(&header.alg)).then(|| {
            VerifyError::invalid(format!(
                "Signing algorithm {:?} is not allowed.",
                header.alg
            ))
        })),
        allowed_algorithms,
        || format!("{:?}", header.alg),
    )?;
    let unverified = match unverified_claims(token) {
        Ok(claims) => claims,
        Err(err) => {
            rec.check(
                "format",
                Err(err),
                || "a payload of base64url-encoded JSON".to_owned(),
                || "a payload that does not decode to a JSON object".to_owned(),
            )?;
            return Ok(None);
        }
    };
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let iss_ok = rec.check(
        "issuer",
        outcome(
            (!rules.issuers.iter().any(|i| i == iss))
                .then(|| VerifyError::invalid("Issuer doesn't match providerName")),
        ),
        || one_of(rules.issuers),
        || shown(&unverified, "iss"),
    )?;
    let kid_ok =
        rec.check(
            "kid",
            outcome(header.kid.is_none().then(|| {
                VerifyError::invalid("Couldn't verify signed token: the token has no kid.")
            })),
            || "a kid in the header".to_owned(),
            || header.kid.clone().unwrap_or_else(|| "(absent)".to_owned()),
        )?;
    Ok(Some(Preflight {
        fetch_key: alg_ok && iss_ok && kid_ok,
        header,
        unverified,
    }))
}

struct Preflight {
    /// Whether the header and issuer passed, so a key may be fetched.
    fetch_key: bool,
    header: jsonwebtoken::Header,
    unverified: BTreeMap<String, Value>,
}

/// The key for the token's kid, the key's fit with the algorithm, and the signature: the
/// verified claims, or `None` if any of these failed.
async fn signature(
    token: &str,
    header: &jsonwebtoken::Header,
    rules: &Rules<'_>,
    location: &KeyLocation,
    keys: &KeyCache,
    rec: &mut Recorder,
) -> Result<Option<BTreeMap<String, Value>>, Stop> {
    let kid = header.kid.clone().unwrap_or_default();
    let (found, fetch) = keys.key_traced(location, &kid).await;
    rec.key_set = Some(fetch);
    let expected_key = || format!("a key with kid {kid} in the issuer's key set");
    let jwk = match found {
        Ok(jwk) => {
            rec.check("key", Ok(()), expected_key, || "found".to_owned())?;
            jwk
        }
        Err(err) => {
            let got = err.to_string();
            rec.check("key", Err(err), expected_key, || got)?;
            return Ok(None);
        }
    };
    let fits = rec.check(
        "key_algorithm",
        outcome((!key_matches(&jwk, header.alg)).then(|| {
            VerifyError::invalid(
                "Couldn't verify signed token: the key does not fit the algorithm.",
            )
        })),
        || format!("a key usable with {:?}", header.alg),
        || match &jwk.common.key_algorithm {
            Some(declared) => format!("a key declared for {declared}"),
            None => "a key of another type".to_owned(),
        },
    )?;
    if !fits {
        return Ok(None);
    }
    let decoded = DecodingKey::from_jwk(&jwk).ok().and_then(|decoding_key| {
        let mut validation = Validation::new(header.alg);
        // The time and audience checks are ours (record_claims), against the broker's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["iss"]);
        validation.set_issuer(rules.issuers);
        jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &decoding_key, &validation).ok()
    });
    rec.check(
        "signature",
        outcome(
            decoded
                .is_none()
                .then(|| VerifyError::invalid("Couldn't verify signed token.")),
        ),
        || format!("a valid {:?} signature by key {kid}", header.alg),
        || {
            if decoded.is_some() {
                "valid"
            } else {
                "invalid"
            }
            .to_owned()
        },
    )?;
    Ok(decoded.map(|data| data.claims))
}

/// Every check of an ID token, in order, into `rec`. Returns the claims it ended with and
/// whether they were verified; the verdict is the recorder's.
async fn examine(
    token: &str,
    rules: &Rules<'_>,
    location: &KeyLocation,
    keys: &KeyCache,
    now: DateTime<Utc>,
    rec: &mut Recorder,
) -> Result<(BTreeMap<String, Value>, bool), Stop> {
    let Some(pre) = preflight(token, rules, rec)? else {
        return Ok((BTreeMap::new(), false));
    };
    // Nothing goes over the network for a token whose header or issuer is wrong; a diagnosis
    // still reads its (unverified) claims.
    let verified = if pre.fetch_key {
        signature(token, &pre.header, rules, location, keys, rec).await?
    } else {
        None
    };
    let is_verified = verified.is_some();
    let claims = verified.unwrap_or(pre.unverified);
    record_claims(&claims, rules, now, rec)?;
    Ok((claims, is_verified))
}

fn verified_login(key: &str, claims: BTreeMap<String, Value>) -> VerifiedLogin {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    VerifiedLogin {
        login: LoginRef {
            provider: key.to_owned(),
            subject,
        },
        claims,
    }
}

/// `preflight`'s verdict alone, for the property tests.
#[cfg(test)]
fn preflight_verdict(
    token: &str,
    rules: &Rules<'_>,
) -> Result<(jsonwebtoken::Header, String), VerifyError> {
    let mut rec = Recorder::stopping();
    let pre = preflight(token, rules, &mut rec).ok().flatten();
    rec.finish(pre.map(|p| {
        let kid = p.header.kid.clone().unwrap_or_default();
        (p.header, kid)
    }))
}

pub async fn verify(
    key: &str,
    token: &str,
    rules: &Rules<'_>,
    location: &KeyLocation,
    keys: &KeyCache,
    now: DateTime<Utc>,
) -> Result<VerifiedLogin, VerifyError> {
    let mut rec = Recorder::stopping();
    let value = examine(token, rules, location, keys, now, &mut rec)
        .await
        .ok()
        .filter(|(_, verified)| *verified)
        .map(|(claims, _)| verified_login(key, claims));
    rec.finish(value)
}

/// As `verify`, recording every check (see `diagnosis`).
pub async fn diagnose(
    key: &str,
    token: &str,
    rules: &Rules<'_>,
    location: &KeyLocation,
    keys: &KeyCache,
    now: DateTime<Utc>,
) -> Diagnosis {
    let mut rec = Recorder::thorough();
    let (claims, verified) = examine(token, rules, location, keys, now, &mut rec)
        .await
        .unwrap_or_default();
    let outcome = rec.finish(verified.then(|| verified_login(key, claims.clone())));
    rec.into_diagnosis(outcome, claims, verified)
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
    fn absurd_time_claims_are_rejected_not_overflowed() {
        for exp in [
            json!(i64::MAX),
            json!(u64::MAX),
            json!(1e300),
            json!(i64::MIN),
        ] {
            let err = check(json!({"sub": "u", "aud": "app", "exp": exp})).unwrap_err();
            assert_eq!(
                err,
                VerifyError::Rejected("Invalid login token. Claim exp is out of range.".into()),
                "{exp}"
            );
        }
        let err = check(json!({"sub": "u", "aud": "app", "exp": 1_800_000_100, "nbf": i64::MAX}));
        assert!(err.is_err());
        let err = check(json!({"sub": "u", "aud": "app", "exp": "1800000100"})).unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
        assert!(check(json!({"sub": "u", "aud": "app", "exp": 1_800_000_100.5})).is_ok());
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
    fn a_sub_may_have_255_characters_and_no_more() {
        let with_sub = |n: usize| json!({"sub": "é".repeat(n), "aud": "app", "exp": 1_800_000_100});
        assert!(check(with_sub(MAX_SUB_CHARS)).is_ok());
        let err = check(with_sub(MAX_SUB_CHARS + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid login token. Claim sub is longer than 255 characters."
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
    fn a_diagnosis_goes_on_past_a_failure_and_its_verdict_is_the_first() {
        let clients = ["app".to_owned()];
        let issuers = ["https://idp".to_owned()];
        let c = claims(json!({"sub": "u", "aud": "other", "exp": 1_800_000_000 - 400}));
        let mut rec = Recorder::thorough();
        assert!(record_claims(&c, &rules(&clients, &issuers), now(), &mut rec).is_ok());
        let verdict = rec.finish(Some(()));
        let stopping = check_claims(&c, &rules(&clients, &issuers), now());
        assert_eq!(verdict, stopping, "the same verdict as verification");
        let diagnosis = rec.into_diagnosis(Err(stopping.unwrap_err()), c, true);
        let failed: Vec<(&str, &str, &str)> = diagnosis
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| (c.name, c.expected.as_str(), c.got.as_str()))
            .collect();
        assert_eq!(
            failed,
            vec![
                (
                    "expiry",
                    "exp > 1799999700 (now 1800000000 minus 300 s of skew)",
                    "1799999600"
                ),
                ("audience", "app", "other"),
            ]
        );
        assert_eq!(diagnosis.checks.len(), 5, "{:?}", diagnosis.checks);
    }

    #[test]
    fn only_compact_jws_looks_like_a_jwt() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.sig"));
        assert!(!looks_like_jwt("EAAGm0PX4ZCpsBA"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn b64(value: &str) -> String {
        URL_SAFE_NO_PAD.encode(value)
    }

    /// Any JSON value, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    "(exp|nbf|iat|aud|azp|sub|iss|kid|alg|[a-z]{1,3})",
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn issuers() -> Vec<String> {
        vec!["https://idp".to_owned()]
    }

    fn clients() -> Vec<String> {
        vec!["app".to_owned()]
    }

    proptest! {
        #[test]
        fn garbage_tokens_are_typed_rejections(token in ".{0,200}") {
            let (issuers, clients) = (issuers(), clients());
            let rules = Rules { issuers: &issuers, client_ids: &clients, require_id_token_use: false };
            prop_assert!(matches!(preflight_verdict(&token, &rules), Err(VerifyError::Rejected(_))));
        }

        #[test]
        fn arbitrary_headers_and_payloads_never_panic(
            header in any_json(),
            payload in any_json(),
            alg in "(RS256|ES256|HS256|none|PS512|[A-Z]{2,5})",
            kid in prop::option::of(".{0,8}"),
            iss in prop::option::of(prop_oneof![Just("https://idp".to_owned()), ".{0,8}"]),
        ) {
            let mut header = header;
            if let Value::Object(map) = &mut header {
                map.insert("alg".into(), json!(alg));
                match &kid {
                    Some(kid) => map.insert("kid".into(), json!(kid)),
                    None => map.remove("kid"),
                };
            }
            let mut payload = payload;
            if let (Value::Object(map), Some(iss)) = (&mut payload, &iss) {
                map.insert("iss".into(), json!(iss));
            }
            let token = format!("{}.{}.c2ln", b64(&header.to_string()), b64(&payload.to_string()));
            let (issuers, clients) = (issuers(), clients());
            let rules = Rules { issuers: &issuers, client_ids: &clients, require_id_token_use: false };
            if let Ok((h, k)) = preflight_verdict(&token, &rules) {
                // Only an allowed algorithm, our issuer and a kid get as far as a key fetch.
                prop_assert!(ALLOWED.contains(&h.alg));
                prop_assert_eq!(Some(k), kid);
                prop_assert_eq!(iss.as_deref(), Some("https://idp"));
            }
        }

        #[test]
        fn arbitrary_claims_never_panic(
            exp in any_json(),
            nbf in any_json(),
            iat in any_json(),
            aud in any_json(),
            now in -MAX_TIMESTAMP..MAX_TIMESTAMP,
        ) {
            let claims: BTreeMap<String, Value> = [
                ("sub", json!("u")), ("exp", exp), ("nbf", nbf), ("iat", iat), ("aud", aud),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let (issuers, clients) = (issuers(), clients());
            let rules = Rules { issuers: &issuers, client_ids: &clients, require_id_token_use: false };
            if let Some(now) = Utc.timestamp_opt(now, 0).single() {
                let _ = check_claims(&claims, &rules, now);
            }
        }

        #[test]
        fn huge_and_odd_expiries_are_typed(exp in prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,12}".prop_map(Value::from),
        ]) {
            let claims: BTreeMap<String, Value> =
                [("sub".to_owned(), json!("u")), ("aud".to_owned(), json!("app")), ("exp".to_owned(), exp)]
                    .into_iter()
                    .collect();
            let (issuers, clients) = (issuers(), clients());
            let rules = Rules { issuers: &issuers, client_ids: &clients, require_id_token_use: false };
            let now = Utc.timestamp_opt(1_800_000_000, 0).single().unwrap_or_default();
            match check_claims(&claims, &rules, now) {
                Ok(()) | Err(VerifyError::Rejected(_)) => {}
                Err(other) => prop_assert!(false, "untyped outcome {other:?}"),
            }
        }
    }
}
