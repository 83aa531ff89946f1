//! SAML providers: the registry (the equivalent of IAM SAML providers, named by a pool's
//! `SamlProviderARNs`) and the verification of a SAML login, whose Logins key is the
//! provider's ARN and whose value is the base64 `SAMLResponse` (docs/behaviour.md, "SAML").

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use idbroker_domain::login::{LoginRef, VerifiedLogin};
use idbroker_domain::saml_provider::{
    SamlProvider, arn_for_name, roles_for_provider, saml_provider_name, validate_name,
};
use idbroker_domain::{IdentityPoolId, PoolConfig};
use idbroker_saml::{Expectations, IdpMetadata, ROLE_ATTRIBUTE, TrustedIdp, verify_response};
use idbroker_store::StoreError;
use serde_json::Value;

use crate::{Broker, ServiceError, ServiceResult};

/// What AWS expects of an assertion meant for it (and so Cognito): the audience its sign-in
/// service announces, and its SAML endpoint as recipient (the region's one too).
pub const AUDIENCES: [&str; 2] = [
    "urn:amazon:webservices",
    "https://signin.aws.amazon.com/saml",
];
pub const RECIPIENT: &str = "https://signin.aws.amazon.com/saml";

/// How many calls may present one assertion, for one pool: GetId, GetOpenIdToken and
/// GetCredentialsForIdentity of one sign-in (the SDKs pass the same Logins map to each).
pub const MAX_ASSERTION_USES: i64 = 3;

/// The clock skew of tokens (idbroker-providers' `jwt`): 5 minutes after expiry, 1 before start.
const EXPIRY_SKEW_SECS: i64 = 300;
const FUTURE_SKEW_SECS: i64 = 60;

/// The largest metadata document accepted.
pub const MAX_METADATA_CHARS: usize = idbroker_saml::MAX_METADATA_BYTES;

/// A registered provider as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSamlProvider {
    pub arn: String,
    pub name: String,
    pub entity_id: String,
    pub valid_until: Option<DateTime<Utc>>,
    /// SHA-256 fingerprints of the signing certificates, in metadata order.
    pub certificate_fingerprints: Vec<String>,
    pub legacy_sha1: bool,
    pub metadata: String,
}

fn invalid_metadata(err: idbroker_saml::MetadataError) -> ServiceError {
    ServiceError::InvalidParameter(err.to_string())
}

pub(crate) fn parse_metadata(metadata: &str, now: DateTime<Utc>) -> ServiceResult<IdpMetadata> {
    if metadata.len() > MAX_METADATA_CHARS {
        return Err(ServiceError::Validation(format!(
            "1 validation error detected: Value at 'metadata' failed to satisfy constraint: Member must have length less than or equal to {MAX_METADATA_CHARS}"
        )));
    }
    let parsed = IdpMetadata::parse(metadata).map_err(invalid_metadata)?;
    if parsed.valid_until.is_some_and(|until| until <= now) {
        return Err(ServiceError::InvalidParameter(
            "Invalid SAML metadata: its validUntil has passed.".into(),
        ));
    }
    Ok(parsed)
}

impl Broker {
    fn registered_saml(&self, provider: SamlProvider) -> RegisteredSamlProvider {
        // Stored metadata was parsed when it was registered; should it fail now (a library
        // change), the provider is still listed, without certificates.
        let parsed = IdpMetadata::parse(&provider.metadata).ok();
        RegisteredSamlProvider {
            arn: arn_for_name(&self.settings.account_id, &provider.name),
            valid_until: parsed.as_ref().and_then(|m| m.valid_until),
            certificate_fingerprints: parsed.map(|m| m.fingerprints()).unwrap_or_default(),
            name: provider.name,
            entity_id: provider.entity_id,
            legacy_sha1: provider.legacy_sha1,
            metadata: provider.metadata,
        }
    }

    fn saml_provider_not_found(name: &str) -> ServiceError {
        ServiceError::ResourceNotFound(format!(
            "SAML provider '{}' not found.",
            crate::loggable(name)
        ))
    }

    /// The checks `create_saml_provider` makes of its input (name, metadata), without writing:
    /// the bootstrap file checks every entry before applying any. Returns the provider's ARN.
    pub fn check_saml_provider(&self, name: &str, metadata: &str) -> ServiceResult<String> {
        validate_name(name)?;
        parse_metadata(metadata, self.clock.now())?;
        Ok(arn_for_name(&self.settings.account_id, name))
    }

    pub async fn create_saml_provider(
        &self,
        name: &str,
        metadata: &str,
        legacy_sha1: bool,
    ) -> ServiceResult<RegisteredSamlProvider> {
        validate_name(name)?;
        let parsed = parse_metadata(metadata, self.clock.now())?;
        let provider = SamlProvider {
            name: name.to_owned(),
            entity_id: parsed.entity_id,
            metadata: metadata.to_owned(),
            legacy_sha1,
        };
        self.store
            .create_saml_provider(&provider, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => ServiceError::ResourceConflict(format!(
                    "A SAML provider named {name} already exists."
                )),
                other => other.into(),
            })?;
        tracing::info!(name, entity_id = %crate::loggable(&provider.entity_id), "SAML provider registered");
        let registered = self.registered_saml(provider);
        self.audit(
            "CreateSamlProvider",
            &registered.arn,
            None,
            Some(saml_json(&registered)),
        )
        .await;
        Ok(registered)
    }

    pub async fn list_saml_providers(&self) -> ServiceResult<Vec<RegisteredSamlProvider>> {
        let providers = self.store.list_saml_providers().await?;
        Ok(providers
            .into_iter()
            .map(|p| self.registered_saml(p))
            .collect())
    }

    pub async fn get_saml_provider(&self, name: &str) -> ServiceResult<RegisteredSamlProvider> {
        validate_name(name).map_err(|_| Self::saml_provider_not_found(name))?;
        let provider = self
            .store
            .get_saml_provider(name)
            .await?
            .ok_or_else(|| Self::saml_provider_not_found(name))?;
        Ok(self.registered_saml(provider))
    }

    /// Replaces the metadata (certificate rotation: publish the new certificate beside the
    /// old one, then the new one alone); `legacy_sha1` is kept unless given.
    pub async fn update_saml_provider(
        &self,
        name: &str,
        metadata: &str,
        legacy_sha1: Option<bool>,
    ) -> ServiceResult<RegisteredSamlProvider> {
        let before = self.get_saml_provider(name).await?;
        let parsed = parse_metadata(metadata, self.clock.now())?;
        let provider = SamlProvider {
            name: name.to_owned(),
            entity_id: parsed.entity_id,
            metadata: metadata.to_owned(),
            legacy_sha1: legacy_sha1.unwrap_or(before.legacy_sha1),
        };
        self.store
            .update_saml_provider(&provider, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Self::saml_provider_not_found(name),
                other => other.into(),
            })?;
        tracing::info!(name, "SAML provider metadata updated");
        let after = self.registered_saml(provider);
        self.audit(
            "UpdateSamlProvider",
            &after.arn,
            Some(saml_json(&before)),
            Some(saml_json(&after)),
        )
        .await;
        Ok(after)
    }

    /// Refused while a pool uses the provider, as for OpenID Connect providers.
    pub async fn delete_saml_provider(&self, name: &str) -> ServiceResult<()> {
        let before = self.get_saml_provider(name).await?;
        self.store
            .delete_saml_provider(name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Self::saml_provider_not_found(name),
                StoreError::Conflict { .. } => ServiceError::ResourceConflict(format!(
                    "SAML provider '{name}' is used by an identity pool; remove it from the pool's SamlProviderARNs first."
                )),
                other => other.into(),
            })?;
        tracing::info!(name, "SAML provider deleted");
        self.audit(
            "DeleteSamlProvider",
            &before.arn,
            Some(saml_json(&before)),
            None,
        )
        .await;
        Ok(())
    }

    /// Deletes replay-cache rows of expired assertions (the hourly upkeep).
    pub async fn prune_saml_assertions(&self) -> ServiceResult<u64> {
        Ok(self.store.prune_saml_assertions(self.clock.now()).await?)
    }

    /// Verifies a SAML login for `pool` and records the use of its assertion.
    pub(crate) async fn verify_saml_login(
        &self,
        config: &PoolConfig,
        pool: &IdentityPoolId,
        arn: &str,
        response: &str,
    ) -> ServiceResult<VerifiedLogin> {
        let refused =
            |why: &str| ServiceError::NotAuthorized(format!("Invalid login token. {why}"));
        let name = saml_provider_name(arn)
            .filter(|_| config.saml_provider_arns.iter().any(|a| a == arn))
            .ok_or_else(|| {
                refused("Token is not from a supported provider of this identity pool.")
            })?;
        let provider = self
            .store
            .get_saml_provider(name)
            .await?
            .ok_or_else(|| refused("The SAML provider is not registered."))?;
        let metadata = IdpMetadata::parse(&provider.metadata)
            .map_err(|_| refused("The SAML provider's metadata cannot be used; update it."))?;
        let now = self.clock.now();
        if metadata.valid_until.is_some_and(|until| until <= now) {
            return Err(refused(
                "The SAML provider's metadata has expired (validUntil); update it.",
            ));
        }
        let region_recipient = format!(
            "https://{}.signin.aws.amazon.com/saml",
            self.settings.region.as_str()
        );
        let audiences: Vec<String> = AUDIENCES.iter().map(|a| (*a).to_owned()).collect();
        let recipients = vec![RECIPIENT.to_owned(), region_recipient];
        let legacy_sha1 = provider.legacy_sha1;
        let response = response.to_owned();
        // xmlsec and the parsers are CPU work in C: off the async workers.
        let verified = tokio::task::spawn_blocking(move || {
            verify_response(
                &response,
                &TrustedIdp {
                    entity_id: &metadata.entity_id,
                    certificates: &metadata.certificates,
                    legacy_sha1,
                },
                &Expectations {
                    audiences: &audiences,
                    recipients: &recipients,
                    now,
                    expiry_skew: Duration::seconds(EXPIRY_SKEW_SECS),
                    future_skew: Duration::seconds(FUTURE_SKEW_SECS),
                },
            )
        })
        .await
        .map_err(|e| ServiceError::Internal(Box::new(e)))?
        .map_err(|e| {
            metrics::counter!("idbroker_saml_refusals_total", "reason" => e.code()).increment(1);
            refused(&format!("SAML: {e}."))
        })?;
        let accepted = self
            .store
            .use_saml_assertion(
                name,
                &verified.id,
                pool,
                verified.not_on_or_after + Duration::seconds(EXPIRY_SKEW_SECS),
                MAX_ASSERTION_USES,
                now,
            )
            .await?;
        if !accepted {
            metrics::counter!("idbroker_saml_refusals_total", "reason" => "replay").increment(1);
            return Err(refused(
                "SAML: the assertion was already used (its id is in the replay cache).",
            ));
        }
        Ok(VerifiedLogin {
            login: LoginRef {
                provider: arn.to_owned(),
                subject: verified.name_id.clone(),
            },
            claims: saml_claims(arn, verified.attributes, &verified.name_id),
        })
    }
}

/// The claims role mappings and principal tags read for a SAML login: every attribute by its
/// `Name` (an array of its values), `sub` = the NameID, and `cognito:roles` = the roles the
/// Role attribute allows under this provider (what the assertion says, never an attribute of
/// that name).
fn saml_claims(
    arn: &str,
    attributes: BTreeMap<String, Vec<String>>,
    name_id: &str,
) -> BTreeMap<String, Value> {
    let roles = attributes
        .get(ROLE_ATTRIBUTE)
        .map(|values| roles_for_provider(values, arn))
        .unwrap_or_default();
    let mut claims: BTreeMap<String, Value> = attributes
        .into_iter()
        .map(|(name, values)| {
            (
                name,
                Value::Array(values.into_iter().map(Value::String).collect()),
            )
        })
        .collect();
    claims.remove("cognito:preferred_role");
    claims.insert(
        "cognito:roles".into(),
        Value::Array(roles.into_iter().map(Value::String).collect()),
    );
    claims.insert("sub".into(), Value::String(name_id.to_owned()));
    claims
}

fn saml_json(p: &RegisteredSamlProvider) -> Value {
    serde_json::json!({
        "arn": p.arn,
        "entity_id": p.entity_id,
        "certificate_fingerprints": p.certificate_fingerprints,
        "valid_until": p.valid_until,
        "legacy_sha1": p.legacy_sha1,
    })
}
