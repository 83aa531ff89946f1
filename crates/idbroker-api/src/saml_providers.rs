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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSamlProvider {
    /// New metadata (certificate rotation).
    pub metadata: String,
    /// Unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_sha1: Option<bool>,
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SamlProviderList {
    pub saml_providers: Vec<SamlProviderBody>,
}
