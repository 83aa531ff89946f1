//! An identity provider's SAML metadata: its entity id, the certificates it signs with (several
//! while it rotates keys) and how long the document is valid.

use base64::Engine;
use chrono::{DateTime, Utc};
use roxmltree::Node;

use crate::MAX_METADATA_BYTES;
use crate::guard::check_raw;
use crate::text::{DSIG, METADATA, children, is, parse, text_only};

/// At most this many signing certificates are kept from one document.
pub const MAX_CERTIFICATES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub valid_until: Option<DateTime<Utc>>,
    /// The signing certificates (DER), in document order, without duplicates.
    pub certificates: Vec<Vec<u8>>,
}

/// What the admin console shows of one signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// SHA-256 of the DER, hex, colon-separated (as `IdpMetadata::fingerprints`).
    pub fingerprint: String,
    /// The subject's distinguished name, `CN=…, O=…`.
    pub subject: String,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
}

/// Why a metadata document was refused; safe to show to the admin who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid SAML metadata: {0}")]
pub struct MetadataError(pub String);

impl IdpMetadata {
    /// Parses the metadata of one identity provider (an `EntityDescriptor` with an
    /// `IDPSSODescriptor`). Certificates whose `KeyDescriptor` is for encryption only are
    /// skipped; every other one must be an X.509 certificate.
    pub fn parse(xml: &str) -> Result<Self, MetadataError> {
        if xml.len() > MAX_METADATA_BYTES {
            return Err(MetadataError(format!(
                "the document is larger than {MAX_METADATA_BYTES} bytes"
            )));
        }
        let xml = check_raw(xml.as_bytes()).map_err(|r| MetadataError(r.describe().into()))?;
        let document = parse(xml).map_err(MetadataError)?;
        let root = document.root_element();
        if !is(&root, METADATA, "EntityDescriptor") {
            return Err(MetadataError(
                "the root element must be an md:EntityDescriptor".into(),
            ));
        }
        let entity_id = root.attribute("entityID").unwrap_or_default().to_owned();
        if entity_id.is_empty() || entity_id.chars().count() > 1024 {
            return Err(MetadataError(
                "entityID must have 1 to 1024 characters".into(),
            ));
        }
        let valid_until = root
            .attribute("validUntil")
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| MetadataError("validUntil is not a dateTime".into()))
            })
            .transpose()?;
        let idp = children(root, METADATA, "IDPSSODescriptor")
            .next()
            .ok_or_else(|| MetadataError("no md:IDPSSODescriptor".into()))?;
        let mut certificates: Vec<Vec<u8>> = Vec::new();
        for key in children(idp, METADATA, "KeyDescriptor") {
            if key.attribute("use") == Some("encryption") {
                continue;
            }
            for cert in key
                .descendants()
                .filter(|n: &Node<'_, '_>| is(n, DSIG, "X509Certificate"))
            {
                let der = decode_certificate(cert)?;
                if !certificates.contains(&der) {
                    certificates.push(der);
                }
            }
        }
        if certificates.is_empty() {
            return Err(MetadataError(
                "no signing certificate (md:KeyDescriptor with ds:X509Certificate)".into(),
            ));
        }
        if certificates.len() > MAX_CERTIFICATES {
            return Err(MetadataError(format!(
                "more than {MAX_CERTIFICATES} signing certificates"
            )));
        }
        Ok(Self {
            entity_id,
            valid_until,
            certificates,
        })
    }

    /// The SHA-256 fingerprints of the signing certificates (hex, colon-separated), to show.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certificates
            .iter()
            .map(|der| {
                openssl::sha::sha256(der)
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .collect()
    }

    /// Each signing certificate's fingerprint, subject and validity. A certificate's validity
    /// is informational: xmlsec checks the signature against the registered key, as AWS does,
    /// whatever the dates say.
    pub fn certificate_info(&self) -> Vec<CertificateInfo> {
        self.fingerprints()
            .into_iter()
            .zip(&self.certificates)
            .map(|(fingerprint, der)| {
                let parsed = openssl::x509::X509::from_der(der).ok();
                CertificateInfo {
                    fingerprint,
                    subject: parsed
                        .as_ref()
                        .map(|c| distinguished_name(c.subject_name()))
                        .unwrap_or_default(),
                    not_before: parsed.as_ref().and_then(|c| instant(c.not_before())),
                    not_after: parsed.as_ref().and_then(|c| instant(c.not_after())),
                }
            })
            .collect()
    }
}

fn distinguished_name(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An ASN.1 time as an instant: its distance from the Unix epoch.
fn instant(time: &openssl::asn1::Asn1TimeRef) -> Option<DateTime<Utc>> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    DateTime::from_timestamp(i64::from(diff.days) * 86_400 + i64::from(diff.secs), 0)
}

fn decode_certificate(node: Node<'_, '_>) -> Result<Vec<u8>, MetadataError> {
    let text = text_only(node, "X509Certificate").map_err(MetadataError)?;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| MetadataError("an X509Certificate is not base64".into()))?;
    // The key xmlsec will load must be a certificate it can read; checked here so a broken
    // one is refused at registration, not at the first login.
    openssl::x509::X509::from_der(&der)
        .map_err(|_| MetadataError("an X509Certificate is not a DER X.509 certificate".into()))?;
    Ok(der)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};

    use super::IdpMetadata;

    /// A self-signed certificate for `cn`, valid between the two Unix times.
    fn certificate(cn: &str, from: i64, until: i64) -> Vec<u8> {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        name.append_entry_by_text("O", "Example").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(from).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(until).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    }

    #[test]
    fn certificates_show_their_subject_and_validity() {
        let der = certificate("idp.example.test", 1_700_000_000, 1_800_000_000);
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        let metadata = IdpMetadata::parse(&xml).unwrap();
        let info = metadata.certificate_info();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].fingerprint, metadata.fingerprints()[0]);
        assert_eq!(info[0].subject, "CN=idp.example.test, O=Example");
        assert_eq!(info[0].not_before.unwrap().timestamp(), 1_700_000_000);
        assert_eq!(info[0].not_after.unwrap().timestamp(), 1_800_000_000);
    }
}
