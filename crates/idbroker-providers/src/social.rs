//! Access tokens that only their provider can judge: Facebook (Graph API `debug_token`) and
//! Login with Amazon (`/auth/o2/tokeninfo`). The token travels in the query string, as both
//! APIs require, and is never logged (fetch errors carry no URL).

use std::collections::BTreeMap;

use idbroker_domain::login::{LoginRef, VerifiedLogin};
use serde_json::{Value, json};

use crate::endpoints::ProviderEndpoints;
use crate::error::VerifyError;
use crate::fetch::{FetchError, Fetcher};

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A provider that says no (4xx) rejects the token; one that cannot answer is unreachable.
fn provider_error(provider: &str, err: FetchError) -> VerifyError {
    match err {
        FetchError::Status(status, _) if (400..500).contains(&status) => {
            VerifyError::invalid(format!("{provider} did not accept the token."))
        }
        FetchError::Status(status, _) => {
            VerifyError::Unreachable(format!("{provider} answered HTTP {status}."))
        }
        FetchError::Unreachable(detail) => {
            VerifyError::Unreachable(format!("{provider} could not be reached: {detail}"))
        }
    }
}

fn verified(key: &str, subject: &str, claims: BTreeMap<String, Value>) -> VerifiedLogin {
    VerifiedLogin {
        login: LoginRef {
            provider: key.to_owned(),
            subject: subject.to_owned(),
        },
        claims,
    }
}

pub async fn facebook(
    fetcher: &Fetcher,
    endpoints: &ProviderEndpoints,
    key: &str,
    app_id: &str,
    token: &str,
) -> Result<VerifiedLogin, VerifyError> {
    let url = format!(
        "{}/debug_token?input_token={t}&access_token={t}",
        endpoints.facebook_graph_url.trim_end_matches('/'),
        t = encode(token)
    );
    let doc = fetcher
        .get_json(&url, "Facebook")
        .await
        .map_err(|e| provider_error("Facebook", e))?;
    let data = &doc["data"];
    if data["is_valid"].as_bool() != Some(true) {
        return Err(VerifyError::invalid(
            "Facebook says the token is not valid.",
        ));
    }
    if data["app_id"].as_str() != Some(app_id) {
        return Err(VerifyError::Rejected(
            "Token is not from a supported provider of this identity pool.".into(),
        ));
    }
    let user = data["user_id"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| VerifyError::invalid("Facebook did not name the user."))?;
    let claims = BTreeMap::from([
        ("iss".to_owned(), json!(key)),
        ("aud".to_owned(), json!(app_id)),
        ("sub".to_owned(), json!(user)),
    ]);
    Ok(verified(key, user, claims))
}

pub async fn amazon(
    fetcher: &Fetcher,
    endpoints: &ProviderEndpoints,
    key: &str,
    client_id: &str,
    token: &str,
) -> Result<VerifiedLogin, VerifyError> {
    let url = format!(
        "{}/auth/o2/tokeninfo?access_token={}",
        endpoints.amazon_api_url.trim_end_matches('/'),
        encode(token)
    );
    let doc = fetcher
        .get_json(&url, "Login with Amazon")
        .await
        .map_err(|e| provider_error("Login with Amazon", e))?;
    if doc["aud"].as_str() != Some(client_id) {
        return Err(VerifyError::Rejected(
            "Token is not from a supported provider of this identity pool.".into(),
        ));
    }
    let user = doc["user_id"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| VerifyError::invalid("Login with Amazon did not name the user."))?;
    let claims = BTreeMap::from([
        ("iss".to_owned(), json!(key)),
        ("aud".to_owned(), json!(client_id)),
        ("sub".to_owned(), json!(user)),
        ("user_id".to_owned(), json!(user)),
    ]);
    Ok(verified(key, user, claims))
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn tokens_are_percent_encoded_for_the_query_string() {
        assert_eq!(encode("a b&c=d|e"), "a%20b%26c%3Dd%7Ce");
        assert_eq!(encode("Atza|IQEB"), "Atza%7CIQEB");
    }
}
