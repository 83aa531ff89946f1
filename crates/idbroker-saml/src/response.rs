//! Verifying a base64 `SAMLResponse` presented as a login.
//!
//! In order, each step refusing what the next would not be safe with:
//! 1. size (before decoding), base64, UTF-8 and the raw markup (`guard`: no DOCTYPE, comment,
//!    processing instruction or CDATA);
//! 2. the shape of the whole document (roxmltree): a `Response` root with exactly one
//!    `Assertion`, its direct child, no `EncryptedAssertion`, no nested `Response`; every
//!    `Signature` enveloped in the response or the assertion, one `Reference` to its parent's
//!    `ID`, exclusive canonicalisation and allowed algorithms only;
//! 3. the signatures (xmlsec through samael), with the registered certificates only; xmlsec
//!    returns the bytes it digested for the one signed element (the response, or else the
//!    assertion);
//! 4. everything used is read from those bytes alone: issuer, audience, recipient, times,
//!    bearer confirmation, NameID and attributes.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use roxmltree::Node;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};

use idbroker_domain::saml_provider::{MAX_ATTRIBUTE_NAME_CHARS, is_invisible};

use crate::MAX_RESPONSE_BASE64;
use crate::guard::check_raw;
use crate::text::{ASSERTION, DSIG, PROTOCOL, children, is, only_child, parse, text_only};

/// The identity provider as registered: whom to trust and with which keys.
#[derive(Debug, Clone)]
pub struct TrustedIdp<'a> {
    pub entity_id: &'a str,
    /// DER certificates from the registered metadata; any one may have signed.
    pub certificates: &'a [Vec<u8>],
    /// RSA-SHA1 and SHA-1 digests are accepted only for a provider marked legacy.
    pub legacy_sha1: bool,
    /// The attribute whose one value is the subject, in place of the NameID.
    pub subject_attribute: Option<&'a str>,
}

/// What the assertion must say about its audience, destination and time.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// Accepted `Audience` values (every `AudienceRestriction` must name one).
    pub audiences: &'a [String],
    /// Accepted `Recipient` (bearer confirmation) and response `Destination` values.
    pub recipients: &'a [String],
    pub now: DateTime<Utc>,
    /// How long after `NotOnOrAfter` an assertion is still taken (clock skew).
    pub expiry_skew: Duration,
    /// How long before `NotBefore` an assertion is already taken (clock skew).
    pub future_skew: Duration,
}

/// The one signed assertion, as read from the verified bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion's `ID` (the replay cache's key).
    pub id: String,
    /// Whom the assertion is about, as the identity's login knows it: the NameID, or the one
    /// value of the provider's subject attribute.
    pub subject: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// `Attribute` `Name` → its values, in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The earliest `NotOnOrAfter` of the bearer confirmation and the conditions.
    pub not_on_or_after: DateTime<Utc>,
    /// Whether the response (and so the assertion in it) was signed, or only the assertion.
    pub response_signed: bool,
}

/// Why a response was refused. `Display` is safe to show a caller: it names what failed,
/// never a value from the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("the SAML response is larger than {MAX_RESPONSE_BASE64} base64 characters")]
    TooLarge,
    #[error("the SAML response is not base64")]
    NotBase64,
    #[error("the SAML response was refused before parsing: {0}")]
    Markup(&'static str),
    #[error("the SAML response is malformed: {0}")]
    Malformed(String),
    #[error("encrypted assertions are not supported")]
    Encrypted,
    #[error("the SAML response must hold exactly one assertion: {0}")]
    Structure(String),
    #[error("the signature method or digest is not allowed: {0}")]
    Algorithm(String),
    #[error("the SAML response is not signed by a registered certificate of the provider")]
    Signature,
    #[error("the issuer is not the provider's entity id")]
    Issuer,
    #[error("the assertion is not for this audience")]
    Audience,
    #[error("the assertion is not for this recipient")]
    Recipient,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the SAML response's status is not Success")]
    Status,
    #[error("the assertion's subject is unusable: {0}")]
    Subject(String),
    /// The provider's subject attribute is missing, empty or has several values. `present`
    /// names the assertion's attributes (names only) for explain; it is not in `Display`.
    #[error("the assertion's subject is unusable: {why}")]
    SubjectAttribute { why: String, present: Vec<String> },
}

impl SamlError {
    /// A short, fixed name for metrics and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::NotBase64 => "not_base64",
            Self::Markup(_) => "markup",
            Self::Malformed(_) => "malformed",
            Self::Encrypted => "encrypted",
            Self::Structure(_) => "structure",
            Self::Algorithm(_) => "algorithm",
            Self::Signature => "signature",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Recipient => "recipient",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Status => "status",
            Self::Subject(_) => "subject",
            Self::SubjectAttribute { .. } => "subject_attribute",
        }
    }
}

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// SHA-256 or stronger, RSA or ECDSA: what every current IdP offers.
const STRONG: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

const MAX_ATTRIBUTES: usize = 100;
const MAX_VALUES: usize = 100;
const MAX_VALUE_CHARS: usize = 2048;
const MAX_NAME_ID_CHARS: usize = 1024;
const MAX_ID_CHARS: usize = 256;

/// Verifies a base64 `SAMLResponse` from `idp` (see the module's documentation for the steps).
pub fn verify_response(
    base64_response: &str,
    idp: &TrustedIdp<'_>,
    expect: &Expectations<'_>,
) -> Result<VerifiedAssertion, SamlError> {
    if base64_response.len() > MAX_RESPONSE_BASE64 {
        return Err(SamlError::TooLarge);
    }
    // The HTTP-POST binding wraps base64 in lines.
    let compact: String = base64_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SamlError::NotBase64)?;
    let xml = check_raw(&bytes).map_err(|r| SamlError::Markup(r.describe()))?;

    let document = parse(xml).map_err(SamlError::Malformed)?;
    let shape = check_shape(&document, idp.legacy_sha1)?;

    let certificates: Vec<CertificateDer> = idp
        .certificates
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    if certificates.is_empty() {
        return Err(SamlError::Signature);
    }
    // samael knows no SHA-1 algorithm: a legacy provider's algorithms are held to the list
    // `check_shape` applied instead.
    let allowed = (!idp.legacy_sha1).then_some(&STRONG[..]);
    let signed = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certificates,
        ReduceMode::PreDigest,
        allowed,
    )
    .map_err(|_| SamlError::Signature)?;

    let verified = parse(&signed).map_err(SamlError::Malformed)?;
    let root = verified.root_element();
    let (assertion, response_signed) = if is(&root, PROTOCOL, "Response") {
        if root.attribute("ID") != Some(shape.response_id.as_str()) {
            return Err(SamlError::Signature);
        }
        check_signed_response(root, idp, expect)?;
        let assertion = only_child(root, ASSERTION, "Assertion").map_err(SamlError::Structure)?;
        (assertion, true)
    } else if is(&root, ASSERTION, "Assertion") {
        (root, false)
    } else {
        return Err(SamlError::Signature);
    };
    if assertion.attribute("ID") != Some(shape.assertion_id.as_str()) {
        return Err(SamlError::Signature);
    }
    read_assertion(assertion, idp, expect, response_signed)
}

/// What the shape check learned from the whole (not yet verified) document.
struct Shape {
    response_id: String,
    assertion_id: String,
}

fn check_shape(document: &roxmltree::Document<'_>, legacy_sha1: bool) -> Result<Shape, SamlError> {
    let root = document.root_element();
    if !is(&root, PROTOCOL, "Response") {
        return Err(SamlError::Structure(
            "the root element is not a SAML Response".into(),
        ));
    }
    let all: Vec<Node<'_, '_>> = root.descendants().filter(Node::is_element).collect();
    if all.iter().any(|n| is(n, ASSERTION, "EncryptedAssertion")) {
        return Err(SamlError::Encrypted);
    }
    let responses = all.iter().filter(|n| is(n, PROTOCOL, "Response")).count();
    if responses != 1 {
        return Err(SamlError::Structure(
            "a Response inside the Response".into(),
        ));
    }
    let assertions: Vec<&Node<'_, '_>> = all
        .iter()
        .filter(|n| is(n, ASSERTION, "Assertion"))
        .collect();
    let assertion = match assertions.as_slice() {
        [one] => **one,
        [] => return Err(SamlError::Structure("none found".into())),
        _ => return Err(SamlError::Structure(format!("{} found", assertions.len()))),
    };
    if assertion.parent_element() != Some(root) {
        return Err(SamlError::Structure(
            "the Assertion is not a child of the Response".into(),
        ));
    }
    let response_id = bounded_id(root)?;
    let assertion_id = bounded_id(assertion)?;

    let signatures: Vec<&Node<'_, '_>> = all.iter().filter(|n| is(n, DSIG, "Signature")).collect();
    if signatures.is_empty() {
        return Err(SamlError::Signature);
    }
    for signature in signatures {
        let parent = signature
            .parent_element()
            .filter(|p| *p == root || *p == assertion)
            .ok_or_else(|| {
                SamlError::Structure("a Signature outside the Response and the Assertion".into())
            })?;
        if children(parent, DSIG, "Signature").count() > 1 {
            return Err(SamlError::Structure("two Signatures on one element".into()));
        }
        check_signature(*signature, parent, legacy_sha1)?;
    }
    Ok(Shape {
        response_id,
        assertion_id,
    })
}

fn bounded_id(node: Node<'_, '_>) -> Result<String, SamlError> {
    match node.attribute("ID") {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_CHARS => Ok(id.to_owned()),
        _ => Err(SamlError::Malformed(format!(
            "the {} has no usable ID",
            node.tag_name().name()
        ))),
    }
}

/// One enveloped signature over its parent, by ID, with allowed algorithms only.
fn check_signature(
    signature: Node<'_, '_>,
    parent: Node<'_, '_>,
    legacy_sha1: bool,
) -> Result<(), SamlError> {
    let malformed = |what: String| SamlError::Malformed(format!("Signature: {what}"));
    let signed_info = only_child(signature, DSIG, "SignedInfo").map_err(malformed)?;
    let c14n = only_child(signed_info, DSIG, "CanonicalizationMethod")
        .map_err(malformed)?
        .attribute("Algorithm");
    if !matches!(c14n, Some(EXC_C14N | EXC_C14N_COMMENTS)) {
        return Err(SamlError::Algorithm(
            "canonicalisation must be exclusive".into(),
        ));
    }
    let method = only_child(signed_info, DSIG, "SignatureMethod")
        .map_err(malformed)?
        .attribute("Algorithm")
        .unwrap_or_default();
    let strong_method = STRONG.iter().any(|a| a.signature_uri() == method);
    if !(strong_method || legacy_sha1 && method == RSA_SHA1) {
        return Err(SamlError::Algorithm(if method == RSA_SHA1 {
            "RSA-SHA1 is accepted only from a provider marked legacy".into()
        } else {
            "signature method".into()
        }));
    }
    let reference = only_child(signed_info, DSIG, "Reference").map_err(malformed)?;
    let expected_uri = format!("#{}", parent.attribute("ID").unwrap_or_default());
    if reference.attribute("URI") != Some(expected_uri.as_str()) {
        return Err(SamlError::Structure(
            "a Signature does not reference the element it is in".into(),
        ));
    }
    if let Some(transforms) = children(reference, DSIG, "Transforms").next() {
        for transform in transforms.children().filter(Node::is_element) {
            let algorithm = transform.attribute("Algorithm");
            if !is(&transform, DSIG, "Transform")
                || !matches!(algorithm, Some(ENVELOPED | EXC_C14N | EXC_C14N_COMMENTS))
            {
                return Err(SamlError::Algorithm("transform".into()));
            }
        }
    }
    let digest = only_child(reference, DSIG, "DigestMethod")
        .map_err(malformed)?
        .attribute("Algorithm")
        .unwrap_or_default();
    let strong_digest = STRONG.iter().any(|a| a.digest_uri() == digest);
    if !(strong_digest || legacy_sha1 && digest == SHA1) {
        return Err(SamlError::Algorithm(if digest == SHA1 {
            "SHA-1 digests are accepted only from a provider marked legacy".into()
        } else {
            "digest method".into()
        }));
    }
    Ok(())
}

/// What a signed response says about itself: status, destination, issuer.
fn check_signed_response(
    response: Node<'_, '_>,
    idp: &TrustedIdp<'_>,
    expect: &Expectations<'_>,
) -> Result<(), SamlError> {
    let status = only_child(response, PROTOCOL, "Status")
        .and_then(|s| only_child(s, PROTOCOL, "StatusCode"))
        .map_err(|_| SamlError::Status)?;
    if status.attribute("Value") != Some(SUCCESS) {
        return Err(SamlError::Status);
    }
    if let Some(destination) = response.attribute("Destination")
        && !expect.recipients.iter().any(|r| r == destination)
    {
        return Err(SamlError::Recipient);
    }
    if let Some(issuer) = children(response, ASSERTION, "Issuer").next() {
        let issuer = text_only(issuer, "Issuer").map_err(SamlError::Malformed)?;
        if issuer != idp.entity_id {
            return Err(SamlError::Issuer);
        }
    }
    Ok(())
}

fn time(node: Node<'_, '_>, attribute: &str) -> Result<Option<DateTime<Utc>>, SamlError> {
    node.attribute(attribute)
        .map(|value| {
            DateTime::parse_from_rfc3339(value)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| SamlError::Malformed(format!("{attribute} is not a dateTime")))
        })
        .transpose()
}

fn check_window(
    not_before: Option<DateTime<Utc>>,
    not_on_or_after: Option<DateTime<Utc>>,
    expect: &Expectations<'_>,
) -> Result<(), SamlError> {
    if let Some(not_before) = not_before
        && expect.now + expect.future_skew < not_before
    {
        return Err(SamlError::NotYetValid);
    }
    if let Some(end) = not_on_or_after
        && expect.now >= end + expect.expiry_skew
    {
        return Err(SamlError::Expired);
    }
    Ok(())
}

fn read_assertion(
    assertion: Node<'_, '_>,
    idp: &TrustedIdp<'_>,
    expect: &Expectations<'_>,
    response_signed: bool,
) -> Result<VerifiedAssertion, SamlError> {
    if assertion.attribute("Version") != Some("2.0") {
        return Err(SamlError::Malformed("the assertion is not SAML 2.0".into()));
    }
    let id = bounded_id(assertion)?;
    let issuer = only_child(assertion, ASSERTION, "Issuer").map_err(SamlError::Malformed)?;
    if text_only(issuer, "Issuer").map_err(SamlError::Malformed)? != idp.entity_id {
        return Err(SamlError::Issuer);
    }

    // Conditions: the time window and every audience restriction.
    let conditions =
        only_child(assertion, ASSERTION, "Conditions").map_err(SamlError::Malformed)?;
    let conditions_end = time(conditions, "NotOnOrAfter")?;
    check_window(time(conditions, "NotBefore")?, conditions_end, expect)?;
    let restrictions: Vec<_> = children(conditions, ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(SamlError::Audience);
    }
    for restriction in restrictions {
        let mut audiences = children(restriction, ASSERTION, "Audience");
        let named = audiences
            .any(|a| text_only(a, "Audience").is_ok_and(|a| expect.audiences.contains(&a)));
        if !named {
            return Err(SamlError::Audience);
        }
    }

    // Subject: the NameID, and a bearer confirmation for us that has not expired.
    let subject = only_child(assertion, ASSERTION, "Subject").map_err(SamlError::Subject)?;
    if children(subject, ASSERTION, "EncryptedID").next().is_some() {
        return Err(SamlError::Encrypted);
    }
    let name_id_node = only_child(subject, ASSERTION, "NameID").map_err(SamlError::Subject)?;
    let name_id = text_only(name_id_node, "NameID").map_err(SamlError::Subject)?;
    check_subject("NameID", &name_id)?;
    let mut confirmed_until = None;
    let mut refusal = SamlError::Subject("no bearer SubjectConfirmation".into());
    for confirmation in children(subject, ASSERTION, "SubjectConfirmation") {
        if confirmation.attribute("Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = children(confirmation, ASSERTION, "SubjectConfirmationData").next() else {
            continue;
        };
        match check_confirmation(data, expect) {
            Ok(end) => {
                confirmed_until = Some(end);
                break;
            }
            Err(e) => refusal = e,
        }
    }
    let confirmed_until = confirmed_until.ok_or(refusal)?;
    let not_on_or_after = conditions_end.map_or(confirmed_until, |c| c.min(confirmed_until));

    let attributes = read_attributes(assertion)?;
    let subject = match idp.subject_attribute {
        None => name_id.clone(),
        Some(name) => subject_from_attribute(&attributes, name)?,
    };
    Ok(VerifiedAssertion {
        id,
        subject,
        name_id,
        name_id_format: name_id_node.attribute("Format").map(str::to_owned),
        attributes,
        not_on_or_after,
        response_signed,
    })
}

/// Why a subject (the NameID, or the subject attribute's value) cannot be a login key: it
/// must be 1 to 1024 characters, without control or invisible characters or Unicode space
/// around it, so that two values that look alike are never one key, nor one value two.
fn unusable_subject(what: &str, value: &str) -> Option<String> {
    if value.is_empty() || value.chars().count() > MAX_NAME_ID_CHARS {
        return Some(format!(
            "{what} must have 1 to {MAX_NAME_ID_CHARS} characters"
        ));
    }
    if value.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Some(format!("{what} has control or invisible characters"));
    }
    if value.trim() != value {
        return Some(format!("{what} begins or ends with white space"));
    }
    None
}

fn check_subject(what: &str, value: &str) -> Result<(), SamlError> {
    unusable_subject(what, value).map_or(Ok(()), |why| Err(SamlError::Subject(why)))
}

/// The attribute names an assertion carries, as explain shows them (bounded, 20 at most).
fn attribute_names(attributes: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    attributes.keys().take(20).cloned().collect()
}

/// The one value of the subject attribute (every `Attribute` of that `Name`, in every
/// statement, counts): absent, empty or several values is a refusal (several values would
/// make the identity depend on their order).
fn subject_from_attribute(
    attributes: &BTreeMap<String, Vec<String>>,
    name: &str,
) -> Result<String, SamlError> {
    let refused = |why: String| SamlError::SubjectAttribute {
        why,
        present: attribute_names(attributes),
    };
    match attributes.get(name).map(Vec::as_slice) {
        Some([value]) => match unusable_subject("the subject attribute's value", value) {
            None => Ok(value.clone()),
            Some(why) => Err(refused(why)),
        },
        None | Some([]) => Err(refused(
            "the provider's subject attribute is missing".into(),
        )),
        Some(_) => Err(refused(
            "the provider's subject attribute has more than one value".into(),
        )),
    }
}

/// A bearer confirmation's data: our recipient, and a `NotOnOrAfter` not passed.
fn check_confirmation(
    data: Node<'_, '_>,
    expect: &Expectations<'_>,
) -> Result<DateTime<Utc>, SamlError> {
    let recipient = data.attribute("Recipient").unwrap_or_default();
    if !expect.recipients.iter().any(|r| r == recipient) {
        return Err(SamlError::Recipient);
    }
    let end = time(data, "NotOnOrAfter")?
        .ok_or_else(|| SamlError::Subject("the bearer confirmation has no NotOnOrAfter".into()))?;
    check_window(time(data, "NotBefore")?, Some(end), expect)?;
    Ok(end)
}

fn read_attributes(assertion: Node<'_, '_>) -> Result<BTreeMap<String, Vec<String>>, SamlError> {
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut count = 0;
    for statement in children(assertion, ASSERTION, "AttributeStatement") {
        if children(statement, ASSERTION, "EncryptedAttribute")
            .next()
            .is_some()
        {
            return Err(SamlError::Encrypted);
        }
        for attribute in children(statement, ASSERTION, "Attribute") {
            count += 1;
            if count > MAX_ATTRIBUTES {
                return Err(SamlError::Malformed(format!(
                    "more than {MAX_ATTRIBUTES} attributes"
                )));
            }
            let name = attribute.attribute("Name").unwrap_or_default();
            if name.is_empty() || name.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
                return Err(SamlError::Malformed("an attribute name is unusable".into()));
            }
            let values = attributes.entry(name.to_owned()).or_default();
            for value in children(attribute, ASSERTION, "AttributeValue") {
                let value = text_only(value, "AttributeValue").map_err(SamlError::Malformed)?;
                if value.chars().count() > MAX_VALUE_CHARS || values.len() >= MAX_VALUES {
                    return Err(SamlError::Malformed("an attribute is too large".into()));
                }
                values.push(value);
            }
        }
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes_of(statements: &str) -> BTreeMap<String, Vec<String>> {
        let xml = format!(
            r#"<saml:Assertion xmlns:saml="{ASSERTION}" ID="a" Version="2.0">{statements}</saml:Assertion>"#
        );
        let document = parse(&xml).unwrap();
        read_attributes(document.root_element()).unwrap()
    }

    fn attribute(name: &str, values: &[&str]) -> String {
        let values: String = values
            .iter()
            .map(|v| format!("<saml:AttributeValue>{v}</saml:AttributeValue>"))
            .collect();
        format!(r#"<saml:Attribute Name="{name}">{values}</saml:Attribute>"#)
    }

    fn statement(attributes: &[String]) -> String {
        format!(
            "<saml:AttributeStatement>{}</saml:AttributeStatement>",
            attributes.concat()
        )
    }

    fn why(err: SamlError) -> String {
        match err {
            SamlError::SubjectAttribute { why, present } => format!("{why} {present:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_subject_attribute_has_one_value_across_every_attribute_and_statement() {
        let one = attributes_of(&statement(&[attribute("uid", &[" alice\n"])]));
        assert_eq!(subject_from_attribute(&one, "uid").unwrap(), "alice");

        // Two Attribute elements of one Name, or one in each of two statements: two values.
        for twice in [
            statement(&[attribute("uid", &["alice"]), attribute("uid", &["bob"])]),
            statement(&[attribute("uid", &["alice"])]) + &statement(&[attribute("uid", &["bob"])]),
        ] {
            let err = subject_from_attribute(&attributes_of(&twice), "uid").unwrap_err();
            assert_eq!(
                why(err),
                "the provider's subject attribute has more than one value [\"uid\"]"
            );
        }
        let missing = attributes_of(&statement(&[attribute("mail", &["a@example.com"])]));
        assert_eq!(
            why(subject_from_attribute(&missing, "uid").unwrap_err()),
            "the provider's subject attribute is missing [\"mail\"]"
        );
        let no_values = attributes_of(&statement(&[attribute("uid", &[])]));
        assert!(subject_from_attribute(&no_values, "uid").is_err());
    }

    #[test]
    fn subjects_that_look_alike_are_refused_not_merged() {
        for value in [
            "alice\u{a0}",
            "\u{2003}alice",
            "ali\u{200B}ce",
            "\u{202E}ecila",
            "",
        ] {
            let attributes = attributes_of(&statement(&[attribute("uid", &[value])]));
            assert!(
                subject_from_attribute(&attributes, "uid").is_err(),
                "{value:?} must be refused"
            );
            assert!(check_subject("NameID", value).is_err(), "{value:?}");
        }
        assert!(check_subject("NameID", "alice@example.com").is_ok());
        assert!(check_subject("NameID", "Zoë Ørsted").is_ok());
    }
}
