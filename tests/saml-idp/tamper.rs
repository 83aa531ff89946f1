//! Tampering with the responses tests/saml-idp/idp.py (pysaml2) issues: the attacks of the SAML
//! refusal table, on the decoded XML. Shared, with `#[path]`, by the verifier's tests
//! (crates/idbroker-saml/tests/pysaml2.rs) and the API's (tests/api/saml.rs), so both send the
//! same forgeries. pysaml2 writes the protocol namespace as `ns0`, the assertion namespace as
//! `ns1` and XML-DSig as `ns2`.

// Each test crate uses only some of these.
#![allow(dead_code)]

use base64::Engine;

/// The XML of a base64 SAMLResponse.
pub fn decode(response: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(response)
            .unwrap(),
    )
    .unwrap()
}

/// A base64 SAMLResponse of `xml`.
pub fn encode(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// The start and end (exclusive) of the first `<ns1:Assertion …>…</ns1:Assertion>`.
pub fn assertion_span(xml: &str) -> (usize, usize) {
    let start = xml.find("<ns1:Assertion").expect("an assertion");
    let end = xml.find("</ns1:Assertion>").expect("its end") + "</ns1:Assertion>".len();
    (start, end)
}

/// An unsigned copy of the response's assertion for another user (alice → mallory), with a
/// new ID.
pub fn forged_assertion(xml: &str) -> String {
    let (start, end) = assertion_span(xml);
    let mut copy = xml[start..end].to_owned();
    if let (Some(s), Some(e)) = (copy.find("<ns2:Signature"), copy.find("</ns2:Signature>")) {
        copy.replace_range(s..e + "</ns2:Signature>".len(), "");
    }
    let id_at = copy.find("ID=\"").unwrap() + 4;
    copy.insert_str(id_at, "forged-");
    copy.replace(">alice<", ">mallory<")
}

/// Signature wrapping: a forged assertion inserted before the signed one (a response whose
/// assertion alone is signed).
pub fn wrapped_before(xml: &str) -> String {
    let (start, _) = assertion_span(xml);
    let mut wrapped = xml.to_owned();
    wrapped.insert_str(start, &forged_assertion(xml));
    wrapped
}

/// Signature wrapping: a forged assertion inserted after the signed one.
pub fn wrapped_after(xml: &str) -> String {
    let (_, end) = assertion_span(xml);
    let mut wrapped = xml.to_owned();
    wrapped.insert_str(end, &forged_assertion(xml));
    wrapped
}

/// Signature wrapping: the signed assertion moved under `samlp:Extensions` (right after the
/// response's Issuer), a forged one in its place.
pub fn assertion_under_extensions(xml: &str) -> String {
    let (start, end) = assertion_span(xml);
    let signed = xml[start..end].to_owned();
    let mut wrapped = xml.to_owned();
    wrapped.replace_range(start..end, &forged_assertion(xml));
    let issuer_end = wrapped.find("</ns1:Issuer>").unwrap() + "</ns1:Issuer>".len();
    wrapped.insert_str(
        issuer_end,
        &format!("<ns0:Extensions>{signed}</ns0:Extensions>"),
    );
    wrapped
}

/// Signature wrapping: a whole signed response (`xml`, signed as a response) moved under the
/// `Extensions` of a forged, unsigned one carrying a forged assertion.
pub fn response_under_extensions(xml: &str) -> String {
    let inner = &xml[xml.find("<ns0:Response").unwrap()..];
    format!(
        "<ns0:Response xmlns:ns0=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:ns1=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"forged-response\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\"><ns0:Extensions>{inner}</ns0:Extensions><ns0:Status><ns0:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></ns0:Status>{}</ns0:Response>",
        forged_assertion(xml)
    )
}

/// The NameID this attack needs the IdP to issue.
pub const COMMENT_USER: &str = "user@example.com.evil";

/// A comment in the NameID (`user@example.com<!---->.evil`): exclusive canonicalisation drops
/// it from what is signed, so a reader that takes the first text node sees `user@example.com`.
/// `xml` is a response for [`COMMENT_USER`].
pub fn comment_in_name_id(xml: &str) -> String {
    let injected = xml.replace(&format!("{COMMENT_USER}<"), "user@example.com<!---->.evil<");
    assert_ne!(injected, xml, "the response names {COMMENT_USER}");
    injected
}

/// A DOCTYPE declaring nested entities, one of them used in the NameID (alice's).
pub fn doctype_bomb(xml: &str) -> String {
    let body = &xml[xml.find("<ns0:Response").unwrap()..];
    format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>{}",
        body.replace(">alice<", ">&lol2;<")
    )
}
