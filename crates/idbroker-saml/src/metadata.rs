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
}

fn decode_certificate(node: Node<'_, '_>) -> Result<Vec<u8>, MetadataError> {
    let text = text_only(node, "X509Certificate").map_err(MetadataError)?;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| MetadataError("an X509Certificate is not base64".into()))?;
    // The key xmlsec will load must be a certificate it can read; checked here so a broken
    // one is refused at registration, not at the first login.
    openssl::x509::X509::from_der(&der)
        .map_err(|_| MetadataError("an X509Certificate is not a DER X.509 certificate".into()))?;
    Ok(der)
}
