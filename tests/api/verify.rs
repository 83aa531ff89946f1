//! An independent verifier of idbroker's tokens, as a relying party (AWS STS) would do it:
//! discovery document over HTTP, then the JWKS it names, then the signature with the key of
//! the token's kid. It shares no code with the signer.

use std::collections::BTreeMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Verifies `token` against the issuer at `issuer` (its base URL), for audience `aud`, and
/// returns the claims. Expiry is checked by the caller, against the clock it controls.
pub async fn verify(
    issuer: &str,
    token: &str,
    aud: &str,
) -> Result<BTreeMap<String, Value>, String> {
    let http = reqwest::Client::new();
    let discovery: Value =
        fetch_json(&http, &format!("{issuer}/.well-known/openid-configuration")).await?;
    if discovery["issuer"] != issuer {
        return Err(format!("discovery names issuer {}", discovery["issuer"]));
    }
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or("no jwks_uri")?;
    let jwks: JwkSet =
        serde_json::from_value(fetch_json(&http, jwks_uri).await?).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if ![Algorithm::RS256, Algorithm::RS512, Algorithm::ES256].contains(&header.alg) {
        return Err(format!("algorithm {:?} is not one STS accepts", header.alg));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[aud]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "iat"]);
    jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// The number of keys the issuer publishes.
pub async fn published_keys(issuer: &str) -> usize {
    let body = reqwest::get(format!("{issuer}/.well-known/jwks.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let jwks: JwkSet = serde_json::from_slice(&body).unwrap();
    for key in &jwks.keys {
        assert!(key.common.key_id.is_some(), "every published key has a kid");
    }
    jwks.keys.len()
}

/// GETs `url` and parses its body as JSON; any failure is the error's text.
async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let res = http.get(url).send().await.map_err(|e| e.to_string())?;
    let body = res.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}
