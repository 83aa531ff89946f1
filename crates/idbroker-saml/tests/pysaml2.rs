//! The verifier against a real identity provider: pysaml2 (PyPI; it signs with the `xmlsec1`
//! command) issues the responses, in a virtual environment that scripts/test.sh installs
//! (`IDBROKER_TEST_PYSAML2_PYTHON`, else target/test-tools/pysaml2-<version>). Without it the
//! tests fail, saying what is missing. Each refusal of the table is its own test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{Duration, Utc};
use idbroker_saml::{Expectations, IdpMetadata, SamlError, TrustedIdp, verify_response};
use serde_json::{Value, json};

#[path = "../../../tests/saml-idp/tamper.rs"]
mod tamper;
use tamper::{decode, encode};

const ENTITY: &str = "https://idp.example.test/saml";
const AUDIENCE: &str = "urn:amazon:webservices";
const RECIPIENT: &str = "https://signin.aws.amazon.com/saml";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let path = std::env::var_os("IDBROKER_TEST_PYSAML2_PYTHON").map_or_else(
        || workspace().join("target/test-tools/pysaml2-7.5.5/bin/python"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "pysaml2 is missing: {} does not exist. Run scripts/test.sh (it installs pysaml2 from PyPI \
         into target/test-tools) or set IDBROKER_TEST_PYSAML2_PYTHON to a Python with pysaml2; \
         the xmlsec1 command (Debian package xmlsec1) must be on PATH too.",
        path.display()
    );
    path
}

/// One identity provider: its key folder (a fresh key unless shared).
struct Idp {
    dir: PathBuf,
    entity: String,
}

impl Idp {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "idbroker-saml-{name}-{}-{}",
            std::process::id(),
            uuid()
        ));
        Self {
            dir,
            entity: ENTITY.to_owned(),
        }
    }

    fn run(&self, command: &str, input: &str) -> String {
        let mut child = Command::new(python())
            .arg(workspace().join("tests/saml-idp/idp.py"))
            .args([command, self.dir.to_str().unwrap(), &self.entity])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pysaml2's IdP");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "idp.py {command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn metadata(&self) -> IdpMetadata {
        IdpMetadata::parse(&self.run("metadata", "")).unwrap()
    }

    /// A base64 SAMLResponse for `options` (see tests/saml-idp/idp.py).
    fn response(&self, options: Value) -> String {
        self.run("response", &options.to_string())
    }
}

fn uuid() -> u128 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn verify_with(
    response: &str,
    metadata: &IdpMetadata,
    legacy: bool,
    now_offset: Duration,
) -> Result<idbroker_saml::VerifiedAssertion, SamlError> {
    verify_as(response, metadata, legacy, None, now_offset)
}

fn verify_as(
    response: &str,
    metadata: &IdpMetadata,
    legacy: bool,
    subject_attribute: Option<&str>,
    now_offset: Duration,
) -> Result<idbroker_saml::VerifiedAssertion, SamlError> {
    let audiences = [AUDIENCE.to_owned()];
    let recipients = [RECIPIENT.to_owned()];
    verify_response(
        response,
        &TrustedIdp {
            entity_id: &metadata.entity_id,
            certificates: &metadata.certificates,
            legacy_sha1: legacy,
            subject_attribute,
        },
        &Expectations {
            audiences: &audiences,
            recipients: &recipients,
            now: Utc::now() + now_offset,
            expiry_skew: Duration::seconds(300),
            future_skew: Duration::seconds(60),
        },
    )
}

fn verify(
    response: &str,
    metadata: &IdpMetadata,
) -> Result<idbroker_saml::VerifiedAssertion, SamlError> {
    verify_with(response, metadata, false, Duration::zero())
}

const ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";

fn alice() -> Value {
    json!({
        "user": "alice",
        "attributes": {
            ROLE: ["arn:aws:iam::123456789012:role/r1,arn:aws:iam::123456789012:saml-provider/corp"],
            "urn:test:department": ["engineering"],
        }
    })
}

fn with(mut options: Value, key: &str, value: Value) -> Value {
    options[key] = value;
    options
}

#[test]
fn a_response_signed_by_the_registered_key_is_accepted() {
    let idp = Idp::new("ok");
    let metadata = idp.metadata();
    assert_eq!(metadata.entity_id, ENTITY);
    for sign in ["response", "assertion", "both"] {
        let response = idp.response(with(alice(), "sign", json!(sign)));
        let verified = verify(&response, &metadata).unwrap_or_else(|e| panic!("{sign}: {e}"));
        assert_eq!(verified.name_id, "alice", "{sign}");
        assert_eq!(
            verified.subject, "alice",
            "the NameID is the subject by default"
        );
        assert_eq!(verified.response_signed, sign != "assertion");
        assert_eq!(
            verified.attributes["urn:test:department"],
            vec!["engineering"]
        );
        assert_eq!(verified.attributes[ROLE].len(), 1);
        assert!(verified.not_on_or_after > Utc::now());
    }
}

#[test]
fn a_configured_attribute_is_the_subject_when_it_has_exactly_one_value() {
    let idp = Idp::new("subject-attribute");
    let metadata = idp.metadata();
    let employee = "urn:test:employee-id";
    let by_attribute =
        |response: &str| verify_as(response, &metadata, false, Some(employee), Duration::zero());
    let response = idp.response(json!({
        "user": "transient-4c1f",
        "attributes": {employee: ["E-1001"], "urn:test:department": ["engineering"]},
    }));
    let verified = by_attribute(&response).unwrap();
    assert_eq!(verified.subject, "E-1001");
    assert_eq!(
        verified.name_id, "transient-4c1f",
        "the NameID is still read"
    );

    let missing = idp.response(alice());
    assert_eq!(
        by_attribute(&missing),
        Err(SamlError::SubjectAttribute {
            why: "the provider's subject attribute is missing".into(),
            present: vec![ROLE.into(), "urn:test:department".into()],
        })
    );
    let several = idp.response(json!({"user": "alice", "attributes": {employee: ["E-1", "E-2"]}}));
    assert_eq!(
        by_attribute(&several),
        Err(SamlError::SubjectAttribute {
            why: "the provider's subject attribute has more than one value".into(),
            present: vec![employee.into()],
        })
    );
    let empty = idp.response(json!({"user": "alice", "attributes": {employee: [""]}}));
    assert!(
        matches!(
            by_attribute(&empty),
            Err(SamlError::SubjectAttribute { .. })
        ),
        "an empty value is no subject"
    );
}

#[test]
fn an_unsigned_response_is_refused() {
    let idp = Idp::new("unsigned");
    let response = idp.response(with(alice(), "sign", json!("none")));
    assert_eq!(
        verify(&response, &idp.metadata()),
        Err(SamlError::Signature)
    );
}

#[test]
fn a_signature_by_an_unregistered_key_is_refused() {
    let idp = Idp::new("signer");
    let other = Idp::new("registered");
    let response = idp.response(alice());
    // The response carries its signer's certificate in KeyInfo: it must not be used.
    assert!(decode(&response).contains("X509Certificate"));
    assert_eq!(
        verify(&response, &other.metadata()),
        Err(SamlError::Signature)
    );
}

#[test]
fn wrapping_an_unsigned_assertion_before_the_signed_one_is_refused() {
    let idp = Idp::new("xsw-before");
    let xml = decode(&idp.response(with(alice(), "sign", json!("assertion"))));
    let wrapped = tamper::wrapped_before(&xml);
    let err = verify(&encode(&wrapped), &idp.metadata()).unwrap_err();
    assert_eq!(err.code(), "structure", "{err}");
}

#[test]
fn wrapping_an_unsigned_assertion_after_the_signed_one_is_refused() {
    let idp = Idp::new("xsw-after");
    let xml = decode(&idp.response(with(alice(), "sign", json!("assertion"))));
    let wrapped = tamper::wrapped_after(&xml);
    let err = verify(&encode(&wrapped), &idp.metadata()).unwrap_err();
    assert_eq!(err.code(), "structure", "{err}");
}

#[test]
fn a_signed_assertion_moved_under_extensions_is_refused() {
    let idp = Idp::new("xsw-extensions");
    let xml = decode(&idp.response(with(alice(), "sign", json!("assertion"))));
    let wrapped = tamper::assertion_under_extensions(&xml);
    let err = verify(&encode(&wrapped), &idp.metadata()).unwrap_err();
    assert_eq!(err.code(), "structure", "{err}");
    // And a whole signed response moved under the Extensions of a forged one.
    let outer = tamper::response_under_extensions(&decode(&idp.response(alice())));
    let err = verify(&encode(&outer), &idp.metadata()).unwrap_err();
    assert_eq!(err.code(), "structure", "{err}");
}

#[test]
fn a_name_id_with_a_comment_is_refused() {
    let idp = Idp::new("comment");
    let options = with(alice(), "user", json!(tamper::COMMENT_USER));
    let xml = decode(&idp.response(with(options, "sign", json!("assertion"))));
    let injected = tamper::comment_in_name_id(&xml);
    assert_eq!(
        verify(&encode(&injected), &idp.metadata()),
        Err(SamlError::Markup("the document has an XML comment"))
    );
}

#[test]
fn an_expired_assertion_is_refused() {
    let idp = Idp::new("expired");
    let response = idp.response(with(alice(), "lifetime_minutes", json!(5)));
    let metadata = idp.metadata();
    // Within the 5 minutes of skew after NotOnOrAfter: still taken; past them: refused.
    assert!(verify_with(&response, &metadata, false, Duration::minutes(9)).is_ok());
    assert_eq!(
        verify_with(&response, &metadata, false, Duration::minutes(11)),
        Err(SamlError::Expired)
    );
}

#[test]
fn an_assertion_not_yet_valid_is_refused() {
    let idp = Idp::new("early");
    let response = idp.response(alice());
    assert_eq!(
        verify_with(&response, &idp.metadata(), false, Duration::minutes(-5)),
        Err(SamlError::NotYetValid)
    );
}

#[test]
fn a_wrong_audience_is_refused() {
    let idp = Idp::new("audience");
    let response = idp.response(with(alice(), "audience", json!("urn:other:service")));
    assert_eq!(verify(&response, &idp.metadata()), Err(SamlError::Audience));
}

#[test]
fn a_wrong_recipient_is_refused() {
    let idp = Idp::new("recipient");
    let response = idp.response(with(
        alice(),
        "recipient",
        json!("https://evil.example/saml"),
    ));
    assert_eq!(
        verify(&response, &idp.metadata()),
        Err(SamlError::Recipient)
    );
}

#[test]
fn a_wrong_issuer_is_refused() {
    let mut idp = Idp::new("issuer");
    let metadata = idp.metadata();
    idp.entity = "https://other-idp.example.test/saml".into();
    let response = idp.response(alice());
    assert_eq!(verify(&response, &metadata), Err(SamlError::Issuer));
}

#[test]
fn sha1_is_refused_unless_the_provider_is_legacy() {
    let idp = Idp::new("sha1");
    let response = idp.response(with(alice(), "alg", json!("sha1")));
    let metadata = idp.metadata();
    let err = verify(&response, &metadata).unwrap_err();
    assert_eq!(err.code(), "algorithm", "{err}");
    let verified = verify_with(&response, &metadata, true, Duration::zero()).unwrap();
    assert_eq!(verified.name_id, "alice");
}

#[test]
fn an_assertion_encrypted_with_an_unknown_key_is_refused() {
    let idp = Idp::new("encrypted");
    let stranger = Idp::new("stranger");
    stranger.metadata(); // creates its key pair
    let options = with(
        with(
            alice(),
            "encrypt_cert",
            json!(stranger.dir.join("cert.pem")),
        ),
        "sign",
        json!("response"),
    );
    let response = idp.response(options);
    assert!(decode(&response).contains("EncryptedAssertion"));
    assert_eq!(
        verify(&response, &idp.metadata()),
        Err(SamlError::Encrypted)
    );
}

#[test]
fn a_one_mebibyte_response_is_refused_before_decoding() {
    let idp = Idp::new("huge");
    let huge = "A".repeat(1024 * 1024);
    assert_eq!(verify(&huge, &idp.metadata()), Err(SamlError::TooLarge));
}

#[test]
fn a_doctype_with_entities_is_refused_before_parsing() {
    let idp = Idp::new("doctype");
    let bomb = tamper::doctype_bomb(&decode(&idp.response(alice())));
    assert_eq!(
        verify(&encode(&bomb), &idp.metadata()),
        Err(SamlError::Markup(
            "the document has a document type declaration (DOCTYPE or ENTITY)"
        ))
    );
}

#[test]
fn rotation_accepts_either_certificate_until_the_old_one_is_removed() {
    let old = Idp::new("rotate-old");
    let new = Idp::new("rotate-new");
    let old_meta = old.metadata();
    let new_meta = new.metadata();
    let both = IdpMetadata {
        certificates: vec![
            old_meta.certificates[0].clone(),
            new_meta.certificates[0].clone(),
        ],
        ..old_meta.clone()
    };
    let from_old = old.response(alice());
    let from_new = new.response(alice());
    assert!(verify(&from_old, &both).is_ok());
    assert!(verify(&from_new, &both).is_ok());
    assert_eq!(verify(&from_old, &new_meta), Err(SamlError::Signature));
    assert!(verify(&from_new, &new_meta).is_ok());
}
