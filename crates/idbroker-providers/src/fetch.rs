//! HTTP GETs to identity providers: short timeouts, no redirects (a redirect could take a
//! request for keys somewhere the issuer never pointed), a size limit, and error messages that
//! never contain the URL (Facebook and Amazon take the user's token in the query string).

use std::time::Duration;

use idbroker_trust::TrustRoots;
use serde_json::Value;

use crate::error::VerifyError;

/// Largest provider response read: key sets and token-info documents are a few KiB.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// The longest a single fetch may take, whatever the settings say: a login waits for at most
/// one fetch, and the whole public request must finish in a few seconds.
pub const MAX_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The default total time of one fetch.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
}

/// A provider's answer that was not a success.
#[derive(Debug)]
pub enum FetchError {
    /// The provider answered with this status and (size-limited, parsed if JSON) body.
    Status(u16, Value),
    /// It did not answer usefully: connection, timeout, size or format problem.
    Unreachable(String),
}

impl Fetcher {
    /// `timeout` bounds each GET from connecting to the last byte of the body; it is capped
    /// at `MAX_FETCH_TIMEOUT`. HTTPS trusts exactly `roots` (not reqwest's own set), the same
    /// roots as the STS client.
    pub fn new(timeout: Duration, roots: &TrustRoots) -> Result<Self, VerifyError> {
        let timeout = timeout.min(MAX_FETCH_TIMEOUT);
        let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
        for cert in roots.certificates() {
            let cert = reqwest::Certificate::from_der(cert.as_ref())
                .map_err(|e| VerifyError::Unreachable(format!("cannot use a trust root: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("idbroker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VerifyError::Unreachable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// GETs `url` and parses the JSON body. `what` names the document in messages.
    pub async fn get_json(&self, url: &str, what: &str) -> Result<Value, FetchError> {
        let unreachable = |detail: String| FetchError::Unreachable(format!("{what}: {detail}"));
        let mut res = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(describe(e)))?;
        let status = res.status();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| unreachable(describe(e)))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(unreachable(format!(
                    "response larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let json = serde_json::from_slice(&body);
        if status.is_success() {
            json.map_err(|e| unreachable(format!("response is not JSON: {e}")))
        } else {
            Err(FetchError::Status(
                status.as_u16(),
                json.unwrap_or(Value::Null),
            ))
        }
    }
}

/// A request error with its causes ("error sending request: client error (Connect): invalid
/// peer certificate: UnknownIssuer"), so an operator sees why, never with the URL (Facebook
/// and Amazon take the user's token in the query string; the causes hold none), and bounded.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper repeats its cause in its own message at times; keep each once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.chars().take(500).collect()
}
