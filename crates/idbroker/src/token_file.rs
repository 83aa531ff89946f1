//! `idbroker token-file`: keeps an idbroker token for one identity in a file, so that AWS SDKs
//! reading `AWS_WEB_IDENTITY_TOKEN_FILE` (with `AWS_ROLE_ARN`) call AssumeRoleWithWebIdentity
//! themselves, with no Cognito provider. The token comes from GetOpenIdToken through the public
//! REST route (`POST /v1/identities/{id}/token`); no admin token is sent.
//!
//! The file is replaced atomically (a private temporary file next to it, renamed over it), so
//! an SDK never reads half a token, and rewritten at half the token's lifetime, so a reader
//! always finds one with time left. Login files are read again at each refresh: whatever keeps
//! them fresh (a backend's developer token, a provider's token file) is followed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use idbroker_api::client::Client;
use idbroker_api::identities::LoginsBody;

use crate::credential_process::{read_logins, scrubbed};

/// What the command was asked.
pub struct TokenFile {
    pub endpoint: String,
    pub pool: String,
    pub identity_id: String,
    /// `--login` values (`KEY=@FILE`), read at each refresh.
    pub logins: Vec<String>,
    pub out: PathBuf,
}

/// The soonest a failed refresh is tried again, and the latest.
const RETRY_MIN: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(60);

impl TokenFile {
    /// Writes one token; returns how long it is valid.
    pub async fn write_once(&self) -> anyhow::Result<Duration> {
        let logins = read_logins(&self.logins, &mut std::io::stdin().lock())?;
        let token = self
            .fetch(&logins)
            .await
            .map_err(|err| anyhow::anyhow!(scrubbed(format!("{err:#}"), &logins)))?;
        let lifetime = self.check(&token)?;
        write_atomically(&self.out, &token)?;
        Ok(lifetime)
    }

    /// Writes a token, then a new one at half of each one's lifetime, until stopped. A failed
    /// refresh is reported on stderr and tried again soon while the file's token lasts.
    pub async fn keep_fresh(&self) -> anyhow::Result<()> {
        if self.logins.iter().any(|l| l.ends_with("=-")) {
            bail!("--login KEY=- (stdin) can be read only once: use --once, or KEY=@FILE");
        }
        let mut lifetime = self.write_once().await?;
        loop {
            let mut wait = lifetime / 2;
            let mut retry = RETRY_MIN;
            loop {
                tokio::time::sleep(wait).await;
                match self.write_once().await {
                    Ok(fresh) => {
                        lifetime = fresh;
                        break;
                    }
                    Err(err) => {
                        eprintln!("idbroker token-file: refresh failed, will retry: {err:#}");
                        wait = retry;
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                }
            }
        }
    }

    async fn fetch(&self, logins: &BTreeMap<String, String>) -> anyhow::Result<String> {
        let client = Client::with_http(crate::cli::http_client()?, &self.endpoint, None)
            .with_context(|| format!("bad endpoint {}", self.endpoint))?;
        let body = client
            .token(
                &self.identity_id,
                &LoginsBody {
                    logins: logins.clone(),
                },
            )
            .await
            .context("no token")?;
        Ok(body.token)
    }

    /// The token is for `--pool` (its audience) and `--identity-id` (its subject); returns
    /// its remaining lifetime. Its signature is the STS's to check, against the issuer's keys.
    fn check(&self, token: &str) -> anyhow::Result<Duration> {
        let claims = unverified_claims(token).context("the server's token is not a JWT")?;
        if claims.get("aud").and_then(|a| a.as_str()) != Some(self.pool.as_str()) {
            bail!(
                "identity {} is not in pool {} (the token's audience is another pool)",
                self.identity_id,
                self.pool
            );
        }
        if claims.get("sub").and_then(|s| s.as_str()) != Some(self.identity_id.as_str()) {
            bail!("the server's token is for another identity");
        }
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .context("the server's token has no expiry")?;
        let left = exp - chrono::Utc::now().timestamp();
        Ok(Duration::from_secs(u64::try_from(left.max(2)).unwrap_or(2)))
    }
}

/// A JWT's claims, read without checking its signature.
fn unverified_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Replaces `path` with `token`: written to a temporary file in the same directory (created
/// readable by its owner only) and renamed over it. No newline: botocore sends the file's
/// bytes as they are.
fn write_atomically(path: &Path, token: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    file.write_all(token.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write a token file in {}", dir.display()))?;
    file.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "old token, longer than the new one").unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"aud":"p","sub":"s","exp":1}"#);
        let claims = unverified_claims(&format!("h.{payload}.sig")).unwrap();
        assert_eq!(claims["aud"], "p");
        assert!(unverified_claims("not-a-jwt").is_none());
        assert!(unverified_claims("h.!!!.sig").is_none());
    }
}
