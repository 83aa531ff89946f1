//! Access tokens that only their provider can judge: Facebook (Graph API `debug_token`) and
//! Login with Amazon (`/auth/o2/tokeninfo`). The token travels in the query string, as both
//! APIs require, and is never logged (fetch errors carry no URL).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use idbroker_domain::login::{LoginRef, VerifiedLogin};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::backoff::{Backoff, BackoffPolicy};
use crate::endpoints::ProviderEndpoints;
use crate::error::VerifyError;
use crate::fetch::{FetchError, Fetcher};
use crate::jwks::UpstreamPolicy;

/// Remembers that one token API was unreachable, so that while it is down logins fail at once
/// and the API is asked once per backoff period. Calls cannot be shared (each carries its own
/// token), so after a failure one caller probes and the others keep failing fast meanwhile.
pub(crate) struct Gate {
    provider: &'static str,
    backoff: BackoffPolicy,
    attempt: Duration,
    state: Mutex<Backoff>,
}

impl Gate {
    pub fn new(provider: &'static str, upstream: UpstreamPolicy) -> Self {
        Self {
            provider,
            backoff: upstream.backoff,
            attempt: upstream.effective_fetch_timeout(),
            state: Mutex::new(Backoff::default()),
        }
    }

    fn poisoned(&self) -> VerifyError {
        VerifyError::Unreachable(format!("{} could not be reached.", self.provider))
    }

    /// Err while the API is in backoff; otherwise the caller may call it.
    fn enter(&self) -> Result<(), VerifyError> {
        let mut state = self.state.lock().map_err(|_| self.poisoned())?;
        let now = Instant::now();
        if let Some(err) = state.blocked(now) {
            return Err(err);
        }
        state.start_probe(now, self.attempt);
        Ok(())
    }

    /// Records how the API answered and maps the answer to a verification result. An answer
    /// about the token, even a refusal (4xx), shows the API is up; only silence, 5xx and
    /// unreadable answers count as failures.
    fn record(&self, result: Result<Value, FetchError>) -> Result<Value, VerifyError> {
        let outcome = result.map_err(|e| provider_error(self.provider, e));
        if let Ok(mut state) = self.state.lock() {
            match &outcome {
                Err(err @ VerifyError::Unreachable(_)) => {
                    state.failed(&self.backoff, Instant::now(), err.clone());
                }
                _ => state.succeeded(),
            }
        }
        outcome
    }

    async fn get_json(&self, fetcher: &Fetcher, url: &str) -> Result<Value, VerifyError> {
        self.enter()?;
        let result = fetcher.get_json(url, self.provider).await;
        self.record(result)
    }
}

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
    gate: &Gate,
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
    let doc = gate.get_json(fetcher, &url).await?;
    let data = &doc["data"];
    if data["is_valid"].as_bool() != Some(true) {
        return Err(VerifyError::invalid(
            "Facebook says the token is not valid.",
        ));
    }
    let (user, claims) = answered_login(
        key,
        app_id,
        data["app_id"].as_str(),
        data["user_id"].as_str(),
        "Facebook",
    )?;
    Ok(verified(key, user, claims))
}

/// The claims of a login a provider vouched for: only when its answer is for `client_id`
/// (else the pool does not trust it) and names a user.
fn answered_login<'a>(
    key: &str,
    client_id: &str,
    answered_for: Option<&str>,
    user: Option<&'a str>,
    provider: &str,
) -> Result<(&'a str, BTreeMap<String, serde_json::Value>), VerifyError> {
    if answered_for != Some(client_id) {
        return Err(VerifyError::Rejected(
            "Token is not from a supported provider of this identity pool.".into(),
        ));
    }
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| VerifyError::invalid(format!("{provider} did not name the user.")))?;
    let claims = BTreeMap::from([
        ("iss".to_owned(), json!(key)),
        ("aud".to_owned(), json!(client_id)),
        ("sub".to_owned(), json!(user)),
    ]);
    Ok((user, claims))
}

pub async fn amazon(
    fetcher: &Fetcher,
    gate: &Gate,
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
    let doc = gate.get_json(fetcher, &url).await?;
    let (user, mut claims) = answered_login(
        key,
        client_id,
        doc["aud"].as_str(),
        doc["user_id"].as_str(),
        "Login with Amazon",
    )?;
    claims.insert("user_id".to_owned(), json!(user));
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
