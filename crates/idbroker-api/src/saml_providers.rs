//! `/v1/saml-providers`: the SAML identity providers pools may trust (`saml_provider_arns`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSamlProvider {
    /// 1–128 of `[\w._-]`: the last part of the provider's ARN.
    pub name: String,
    /// The identity provider's SAML metadata (an `md:EntityDescriptor` with an
    /// `md:IDPSSODescriptor`): entity id, signing certificates, optional `validUntil`.
    pub metadata: String,
    /// Accept RSA-SHA1 signatures and SHA-1 digests from this provider (off by default).
    #[serde(default)]
    pub legacy_sha1: bool,
    /// The SAML attribute (its `Name`) whose one value is the user's subject, in place of the
    /// NameID: for IdPs that send a transient NameID. Absent: the NameID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSamlProvider {
    /// New metadata (certificate rotation).
    pub metadata: String,
    /// Unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_sha1: Option<bool>,
    /// Unchanged when absent; `null` returns to the NameID. A new subject attribute gives
    /// users who signed in before new identities.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, nullable)]
    pub subject_attribute: Option<Option<String>>,
}

/// A member that is present, `null` or not: `Some(None)` for `null`, so that an absent member
/// (`None`, by `default`) can mean "unchanged".
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SamlProviderBody {
    /// `arn:aws:iam::<account>:saml-provider/<name>`: the pool's `saml_provider_arns` entry and
    /// the Logins key of its users' SAML responses.
    pub arn: String,
    pub name: String,
    pub entity_id: String,
    /// The metadata's `validUntil` (RFC 3339), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// SHA-256 fingerprints of the signing certificates.
    pub certificate_fingerprints: Vec<String>,
    pub legacy_sha1: bool,
    /// The attribute whose value is a login's subject; absent: the NameID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SamlProviderList {
    pub saml_providers: Vec<SamlProviderBody>,
}
