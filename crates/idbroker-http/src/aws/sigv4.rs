//! Verifies AWS Signature Version 4 on the signed (admin) operations.
//!
//! The canonical request is rebuilt from exactly the headers the client listed in
//! `SignedHeaders`, signed again with the admin secret by the `aws-sigv4` crate (AWS's own
//! signer, so canonicalisation matches the SDKs'), and the two signatures are compared in
//! constant time. Errors carry the names AWS uses, which the SDKs surface as typed errors.

use std::fmt;
use std::time::SystemTime;

use actix_web::HttpRequest;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use subtle::ConstantTimeEq;

use super::error::AwsError;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const SERVICE: &str = "cognito-identity";
/// How far a request's X-Amz-Date may be from our clock, as AWS allows.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);

/// The admin key pair for the AWS face. The secret never prints.
#[derive(Clone)]
pub struct AdminCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

pub struct SigV4Verifier {
    credentials: AdminCredentials,
    region: String,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn incomplete(message: impl Into<String>) -> AwsError {
    AwsError::new("IncompleteSignatureException", message)
}

fn invalid_signature(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidSignatureException", message)
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn parse_authorization(header: &str) -> Result<Authorization<'_>, AwsError> {
    let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported authorization algorithm '{algorithm}': only {ALGORITHM} is accepted."
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {
                return Err(incomplete(format!(
                    "Authorization header has an unexpected element '{part}'."
                )));
            }
        }
    }
    let missing =
        |name: &str| incomplete(format!("Authorization header requires '{name}' parameter."));
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete(format!(
            "Credential '{credential}' must have the form <access key id>/<date>/<region>/<service>/aws4_request."
        )));
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

impl SigV4Verifier {
    pub fn new(credentials: AdminCredentials, region: impl Into<String>) -> Self {
        Self {
            credentials,
            region: region.into(),
        }
    }

    /// The admin access key id requests are verified against (for the audit).
    pub fn access_key_id(&self) -> &str {
        &self.credentials.access_key_id
    }

    /// Checks the request's signature against the admin credentials at the current time.
    pub fn verify(&self, req: &HttpRequest, body: &[u8]) -> Result<(), AwsError> {
        self.verify_at(req, body, Utc::now())
    }

    pub fn verify_at(
        &self,
        req: &HttpRequest,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let header = req
            .headers()
            .get("authorization")
            .ok_or_else(|| {
                AwsError::new(
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                )
            })?
            .to_str()
            .map_err(|_| incomplete("Authorization header is not valid ASCII."))?;
        let auth = parse_authorization(header)?;

        if auth.service != SERVICE {
            return Err(invalid_signature(format!(
                "Credential should be scoped to correct service: '{SERVICE}'."
            )));
        }
        if auth.region != self.region {
            return Err(invalid_signature(format!(
                "Credential should be scoped to a valid region, not '{}'. Expected '{}'.",
                auth.region, self.region
            )));
        }
        // The key id is public; the secret is what the signature proves.
        if !bool::from(
            auth.access_key_id
                .as_bytes()
                .ct_eq(self.credentials.access_key_id.as_bytes()),
        ) {
            return Err(AwsError::new(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        }

        let amz_date = header_str(req, "x-amz-date")?.ok_or_else(|| {
            incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
        })?;
        let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| {
                incomplete(format!(
                    "X-Amz-Date '{amz_date}' is not of the form YYYYMMDDTHHMMSSZ."
                ))
            })?
            .and_utc();
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '{}' vs '{amz_date}'.",
                auth.date
            )));
        }
        let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        if signed_at < now - MAX_SKEW {
            return Err(invalid_signature(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                fmt(now - MAX_SKEW),
                fmt(now)
            )));
        }
        if signed_at > now + MAX_SKEW {
            return Err(invalid_signature(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
                fmt(now + MAX_SKEW),
                fmt(now)
            )));
        }

        check_signed_headers(req, &auth.signed_headers)?;
        let expected = self.signature_for(req, body, &auth, signed_at)?;
        if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
            Ok(())
        } else {
            Err(invalid_signature(SIGNATURE_MISMATCH))
        }
    }

    /// What the signature should be if the client holds our secret.
    fn signature_for(
        &self,
        req: &HttpRequest,
        body: &[u8],
        auth: &Authorization<'_>,
        signed_at: DateTime<Utc>,
    ) -> Result<String, AwsError> {
        let mut headers = Vec::new();
        for name in &auth.signed_headers {
            // The signer adds x-amz-date itself, from the time we give it.
            if *name == "x-amz-date" {
                continue;
            }
            let values = req.headers().get_all(*name).collect::<Vec<_>>();
            if values.is_empty() {
                return Err(invalid_signature(format!(
                    "Signed header '{name}' is missing from the request."
                )));
            }
            for value in values {
                let value = value.to_str().map_err(|_| {
                    invalid_signature(format!("Signed header '{name}' is not valid ASCII."))
                })?;
                headers.push((*name, value));
            }
        }
        let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let request = SignableRequest::new(
            req.method().as_str(),
            path_and_query,
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| invalid_signature(format!("Request cannot be canonicalised: {e}")))?;

        let identity: Identity = Credentials::new(
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
            None,
            None,
            "idbroker-admin",
        )
        .into();
        let mut settings = SigningSettings::default();
        // Sign exactly what the client signed: none of the signer's default exclusions apply.
        settings.excluded_headers = Some(Vec::new());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::from(signed_at))
            .settings(settings)
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "cannot build signing parameters");
                AwsError::internal()
            })?;
        let output = sign(request, &params.into())
            .map_err(|e| invalid_signature(format!("Request cannot be signed: {e}")))?;
        Ok(output.signature().to_owned())
    }
}

/// Headers a proxy may add on the way (CloudFront's request id): not the client's to sign.
const PROXY_ADDED: [&str; 1] = ["x-amz-cf-id"];

/// The signature must cover what the request does: the host, the time, the operation
/// (`x-amz-target` — else a captured DescribeIdentityPool could be replayed as
/// DeleteIdentityPool), and every other `x-amz-*` header present, as AWS requires and the SDKs
/// do.
fn check_signed_headers(req: &HttpRequest, signed: &[&str]) -> Result<(), AwsError> {
    let present_amz = req
        .headers()
        .keys()
        .map(|name| name.as_str())
        .filter(|name| name.starts_with("x-amz-") && !PROXY_ADDED.contains(name));
    for required in ["host", "x-amz-date", "x-amz-target"]
        .into_iter()
        .chain(present_amz)
    {
        if !signed.contains(&required) {
            return Err(incomplete(format!("'{required}' must be a signed header.")));
        }
    }
    Ok(())
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Result<Option<&'a str>, AwsError> {
    req.headers()
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| incomplete(format!("Header '{name}' is not valid ASCII.")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_authorization_header_is_parsed() {
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/cognito-identity/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature=abc123",
        )
        .unwrap();
        assert_eq!(
            auth,
            Authorization {
                access_key_id: "AKID",
                date: "20260101",
                region: "us-east-1",
                service: "cognito-identity",
                signed_headers: vec!["content-type", "host", "x-amz-date"],
                signature: "abc123",
            }
        );
    }

    #[test]
    fn malformed_authorization_headers_are_incomplete_signatures() {
        for header in [
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/cognito-identity/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/aws4_request, SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 Credential=A/B/C/D/aws4_request, SignedHeaders=host, Signature=x, Bogus",
        ] {
            assert_eq!(
                parse_authorization(header).unwrap_err().kind,
                "IncompleteSignatureException",
                "{header}"
            );
        }
    }

    #[test]
    fn credentials_never_print_their_secret() {
        let creds = AdminCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "super-secret".into(),
        };
        assert!(!format!("{creds:?}").contains("super-secret"));
    }

    mod properties {
        use super::super::*;
        use actix_web::test::TestRequest;
        use proptest::prelude::*;

        fn verifier() -> SigV4Verifier {
            SigV4Verifier::new(
                AdminCredentials {
                    access_key_id: "AKIDEXAMPLE".into(),
                    secret_access_key: "secret".into(),
                },
                "us-east-1",
            )
        }

        /// Header values as a client can send them (visible ASCII and spaces).
        fn header_text() -> impl Strategy<Value = String> {
            prop_oneof![
                "[ -~]{0,300}",
                // Near-misses of the real shape reach the deeper checks.
                (
                    "[A-Z0-9]{0,24}",
                    "[0-9]{0,10}",
                    "[a-z0-9-]{0,12}",
                    "[a-z-]{0,20}",
                    "[a-z0-9;-]{0,60}",
                    "[0-9a-f]{0,70}"
                )
                    .prop_map(|(k, d, r, s, h, sig)| format!(
                        "AWS4-HMAC-SHA256 Credential={k}/{d}/{r}/{s}/aws4_request, SignedHeaders={h}, Signature={sig}"
                    )),
            ]
        }

        proptest! {
            #[test]
            fn any_authorization_header_is_refused_with_a_typed_error(
                auth in header_text(),
                date in "[0-9TZ]{0,20}",
                body in prop::collection::vec(any::<u8>(), 0..64),
            ) {
                let req = TestRequest::post()
                    .uri("/")
                    .insert_header(("authorization", auth.as_str()))
                    .insert_header(("x-amz-date", date.as_str()))
                    .insert_header(("x-amz-target", "AWSCognitoIdentityService.DeleteIdentityPool"))
                    .to_http_request();
                let err = verifier().verify_at(&req, &body, Utc::now()).unwrap_err();
                prop_assert!(
                    [
                        "IncompleteSignatureException",
                        "InvalidSignatureException",
                        "UnrecognizedClientException",
                        "MissingAuthenticationTokenException",
                    ]
                    .contains(&err.kind),
                    "{err:?}"
                );
                prop_assert!(err.message.chars().count() <= crate::echo::MAX_MESSAGE_CHARS + 1);
            }

            #[test]
            fn the_parser_never_panics(header in ".{0,400}") {
                let _ = parse_authorization(&header);
            }
        }
    }
}
