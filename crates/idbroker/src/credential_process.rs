//! `idbroker credentials`: AWS credentials for an identity of a pool, printed as an AWS
//! `credential_process` answers, so the AWS CLI and SDKs get them from a profile without a
//! Cognito SDK. It calls the public one-shot route (`POST /v1/identity-pools/{pool}/credentials`)
//! and never sends the admin token. Tokens are read from files or stdin, never from the
//! command line (which `ps` and the AWS config file would show), and are scrubbed from every
//! error message.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, bail};
use idbroker_api::client::Client;
use idbroker_api::identities::{CredentialsBody, PoolCredentialsRequest};
use serde::Serialize;

/// What `credential_process` prints (version 1 of the AWS format).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub version: u8,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// ISO 8601, UTC (`2026-01-01T00:00:00Z`).
    pub expiration: String,
}

impl ProcessCredentials {
    fn from_body(body: CredentialsBody) -> anyhow::Result<Self> {
        let expiration = chrono::DateTime::parse_from_rfc3339(&body.expiration)
            .context("the server's expiration is not an RFC 3339 instant")?
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        Ok(Self {
            version: 1,
            access_key_id: body.access_key_id,
            secret_access_key: body.secret_access_key,
            session_token: body.session_token,
            expiration,
        })
    }
}

/// The `--login` values read: provider key → token. `KEY=@FILE` reads FILE, `KEY=-` stdin
/// (once); the token is trimmed and may not be empty. Messages name the key, never the value.
pub fn read_logins(
    values: &[String],
    stdin: &mut dyn Read,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut logins = BTreeMap::new();
    let mut stdin_used = false;
    for value in values {
        let Some((key, source)) = value.split_once('=') else {
            bail!("--login takes KEY=@FILE or KEY=- (the token from FILE or from stdin)");
        };
        let token = if source == "-" {
            if stdin_used {
                bail!("--login {key}=-: only one login can be read from stdin");
            }
            stdin_used = true;
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .with_context(|| format!("--login {key}: cannot read the token from stdin"))?;
            text
        } else if let Some(path) = source.strip_prefix('@') {
            std::fs::read_to_string(path)
                .with_context(|| format!("--login {key}: cannot read the token from {path}"))?
        } else {
            // The value may be a token: it is not repeated here.
            bail!(
                "--login {key}: give the token as @FILE or - (stdin); a token on the command \
                 line would show in the process list and in the AWS config file"
            );
        };
        let token = token.trim().to_owned();
        if token.is_empty() {
            bail!("--login {key}: the token is empty");
        }
        if logins.insert(key.to_owned(), token).is_some() {
            bail!("--login {key} is given twice");
        }
    }
    Ok(logins)
}

/// `message` with every token replaced, so that no error (the server's or a transport's) can
/// carry one to the terminal or the AWS CLI's output.
pub(crate) fn scrubbed(message: String, logins: &BTreeMap<String, String>) -> String {
    logins
        .values()
        .fold(message, |m, token| m.replace(token.as_str(), "<token>"))
}

/// Asks `endpoint` for credentials and returns the JSON `credential_process` prints.
pub async fn run(
    endpoint: &str,
    pool: &str,
    logins: BTreeMap<String, String>,
    identity_id: Option<String>,
    role_arn: Option<String>,
) -> anyhow::Result<String> {
    let asked = async {
        let client = Client::with_http(crate::cli::http_client()?, endpoint, None)
            .with_context(|| format!("bad endpoint {endpoint}"))?;
        let request = PoolCredentialsRequest {
            logins: logins.clone(),
            identity_id,
            custom_role_arn: role_arn,
        };
        let body = client
            .pool_credentials(pool, &request)
            .await
            .context("no credentials")?;
        let credentials = ProcessCredentials::from_body(body)?;
        Ok::<_, anyhow::Error>(serde_json::to_string_pretty(&credentials)?)
    };
    asked
        .await
        .map_err(|err| anyhow::anyhow!(scrubbed(format!("{err:#}"), &logins)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(values: &[&str], stdin: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        read_logins(&values, &mut stdin.as_bytes())
    }

    #[test]
    fn tokens_come_from_files_or_stdin_and_never_show_in_messages() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let logins = read(
            &[&format!("a.example=@{}", file.display()), "b.example=-"],
            " from-stdin\n",
        )
        .unwrap();
        assert_eq!(logins["a.example"], "from-file");
        assert_eq!(logins["b.example"], "from-stdin");

        let err = read(&["a.example=eyJsecret.token.here"], "").unwrap_err();
        assert!(!format!("{err:#}").contains("eyJsecret"), "{err:#}");
        assert!(format!("{err:#}").contains("@FILE"), "{err:#}");
        let err = read(&["eyJsecret-without-a-key"], "").unwrap_err();
        assert!(!format!("{err:#}").contains("eyJsecret"), "{err:#}");
        assert!(read(&["a=-", "b=-"], "x").is_err(), "stdin is read once");
        assert!(read(&["a=-"], "  \n").is_err(), "an empty token");
        let missing = dir.path().join("missing");
        assert!(read(&[&format!("a=@{}", missing.display())], "").is_err());
    }

    #[test]
    fn tokens_are_scrubbed_from_errors() {
        let logins = BTreeMap::from([("k".to_owned(), "tok-123".to_owned())]);
        assert_eq!(
            scrubbed("refused tok-123 and tok-123".to_owned(), &logins),
            "refused <token> and <token>"
        );
    }

    #[test]
    fn expiration_is_iso_8601_in_utc() {
        let body = CredentialsBody {
            identity_id: "us-east-1:x".into(),
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
            session_token: "ST".into(),
            expiration: "2026-12-01T04:00:00+01:00".into(),
        };
        let json = serde_json::to_value(ProcessCredentials::from_body(body).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "SK",
                "SessionToken": "ST", "Expiration": "2026-12-01T03:00:00Z"})
        );
    }
}
