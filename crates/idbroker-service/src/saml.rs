//! SAML providers: the registry (the equivalent of IAM SAML providers, named by a pool's
//! `SamlProviderARNs`) and the verification of a SAML login, whose Logins key is the
//! provider's ARN and whose value is the base64 `SAMLResponse` (docs/behaviour.md, "SAML").

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use idbroker_domain::login::{LoginRef, VerifiedLogin};
use idbroker_domain::saml_provider::{
    SamlProvider, arn_for_name, roles_for_provider, saml_provider_name, validate_name,
    validate_subject_attribute,
};
use idbroker_domain::{IdentityPoolId, PoolConfig};
use idbroker_saml::{
    CertificateInfo, Expectations, IdpMetadata, ROLE_ATTRIBUTE, SamlError, TrustedIdp,
    VerifiedAssertion, verify_response,
};
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
    /// The same certificates with their subjects and validity (for the console).
    pub certificates: Vec<CertificateInfo>,
    pub legacy_sha1: bool,
    /// The attribute whose value is a login's subject; `None`: the NameID.
    pub subject_attribute: Option<String>,
    pub metadata: String,
}

/// How a provider's assertions are read, beyond its metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlReading {
    /// Accept RSA-SHA1 signatures and SHA-1 digests.
    pub legacy_sha1: bool,
    /// The attribute whose one value is the subject, in place of the NameID.
    pub subject_attribute: Option<String>,
}

/// A change of how a provider's assertions are read; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlReadingChange {
    pub legacy_sha1: Option<bool>,
    /// `Some(None)` returns to the NameID.
    pub subject_attribute: Option<Option<String>>,
}

/// A provider as registering it checks it: its name, its metadata (parsed for the entity id,
/// its `validUntil` not passed) and its subject attribute. Writes nothing; the admin API, the
/// bootstrap file and imports all build their providers with it.
pub(crate) fn checked_provider(
    name: &str,
    metadata: &str,
    reading: SamlReading,
    now: DateTime<Utc>,
) -> ServiceResult<SamlProvider> {
    validate_name(name)?;
    let parsed = parse_metadata(metadata, now)?;
    if let Some(attribute) = &reading.subject_attribute {
        validate_subject_attribute(attribute)?;
    }
    Ok(SamlProvider {
        name: name.to_owned(),
        entity_id: parsed.entity_id,
        metadata: metadata.to_owned(),
        legacy_sha1: reading.legacy_sha1,
        subject_attribute: reading.subject_attribute,
    })
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
            certificate_fingerprints: parsed
                .as_ref()
                .map(IdpMetadata::fingerprints)
                .unwrap_or_default(),
            certificates: parsed
                .as_ref()
                .map(IdpMetadata::certificate_info)
                .unwrap_or_default(),
            name: provider.name,
            entity_id: provider.entity_id,
            legacy_sha1: provider.legacy_sha1,
            subject_attribute: provider.subject_attribute,
            metadata: provider.metadata,
        }
    }

    fn saml_provider_not_found(name: &str) -> ServiceError {
        ServiceError::ResourceNotFound(format!(
            "SAML provider '{}' not found.",
            crate::loggable(name)
        ))
    }

    /// The checks `create_saml_provider` makes of its input (name, metadata, subject
    /// attribute), without writing: the bootstrap file checks every entry before applying any.
    /// Returns the provider's ARN.
    pub fn check_saml_provider(
        &self,
        name: &str,
        metadata: &str,
        reading: SamlReading,
    ) -> ServiceResult<String> {
        checked_provider(name, metadata, reading, self.clock.now())?;
        Ok(arn_for_name(&self.settings.account_id, name))
    }

    pub async fn create_saml_provider(
        &self,
        name: &str,
        metadata: &str,
        reading: SamlReading,
    ) -> ServiceResult<RegisteredSamlProvider> {
        let provider = checked_provider(name, metadata, reading, self.clock.now())?;
        self.check_saml_subject_source(name, provider.subject_attribute.as_deref())
            .await?;
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

    /// The pools whose `SamlProviderARNs` name the provider, by id (at most `limit`), with
    /// their names: one read of the join table's provider index.
    pub async fn pools_using_saml_provider(
        &self,
        name: &str,
        limit: u32,
    ) -> ServiceResult<Vec<(String, String)>> {
        validate_name(name).map_err(|_| Self::saml_provider_not_found(name))?;
        Ok(self.store.pools_using_saml_provider(name, limit).await?)
    }

    /// Replaces the metadata (certificate rotation: publish the new certificate beside the
    /// old one, then the new one alone); how assertions are read is kept unless given. The
    /// subject source changes only while no identity has a login of the provider
    /// (docs/behaviour.md, "SAML").
    pub async fn update_saml_provider(
        &self,
        name: &str,
        metadata: &str,
        change: SamlReadingChange,
    ) -> ServiceResult<RegisteredSamlProvider> {
        let before = self.get_saml_provider(name).await?;
        let reading = SamlReading {
            legacy_sha1: change.legacy_sha1.unwrap_or(before.legacy_sha1),
            subject_attribute: change
                .subject_attribute
                .unwrap_or_else(|| before.subject_attribute.clone()),
        };
        let provider = checked_provider(name, metadata, reading, self.clock.now())?;
        let registered = Some(before.subject_attribute.as_deref());
        if let Some(why) = subject_source_conflict(
            self.store.as_ref(),
            &before.arn,
            name,
            registered,
            provider.subject_attribute.as_deref(),
        )
        .await?
        {
            return Err(ServiceError::ResourceConflict(why));
        }
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

    /// Whether provider `name` may read its subjects from `subject_attribute` (`None`: the
    /// NameID): always while no identity has a login under its ARN; once one has, only from
    /// where the registered provider reads them, and never for a name whose logins outlived a
    /// deleted provider (docs/behaviour.md, "SAML"). Bootstrap files check with it before
    /// applying anything.
    pub async fn check_saml_subject_source(
        &self,
        name: &str,
        subject_attribute: Option<&str>,
    ) -> ServiceResult<()> {
        validate_name(name)?;
        let arn = arn_for_name(&self.settings.account_id, name);
        let registered = self.store.get_saml_provider(name).await?;
        let registered = registered.as_ref().map(|p| p.subject_attribute.as_deref());
        match subject_source_conflict(
            self.store.as_ref(),
            &arn,
            name,
            registered,
            subject_attribute,
        )
        .await?
        {
            Some(why) => Err(ServiceError::ResourceConflict(why)),
            None => Ok(()),
        }
    }

    /// Refused while a pool uses the provider, as for OpenID Connect providers, and while any
    /// identity has a login of it.
    pub async fn delete_saml_provider(&self, name: &str) -> ServiceResult<()> {
        let before = self.get_saml_provider(name).await?;
        // Its logins' keys came from its subject source: with the provider gone, nobody would
        // know which, and a provider registered again under the name could match them for
        // other users. Retiring an IdP is removing it from the pools.
        if self.store.saml_provider_has_logins(&before.arn).await? {
            return Err(ServiceError::ResourceConflict(format!(
                "SAML provider '{name}' has logins; remove it from the pools' SamlProviderARNs to \
                 retire it (it may stay registered), or delete the identities that have its logins first."
            )));
        }
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

    /// The registered provider a pool's SAML key names, with its metadata parsed and in date;
    /// otherwise the login's refusal.
    async fn saml_provider_for(
        &self,
        config: &PoolConfig,
        arn: &str,
    ) -> ServiceResult<(SamlProvider, IdpMetadata)> {
        let name = saml_provider_name(arn)
            .filter(|_| config.saml_provider_arns.iter().any(|a| a == arn))
            .ok_or_else(|| {
                refused("Token is not from a supported provider of this identity pool.")
            })?;
        // Only this account's ARN (a pool may not name another since pools are checked; one
        // named before an IDBROKER_ACCOUNT_ID change is refused here): logins are keyed under
        // it, and the subject-source checks look there.
        if arn != arn_for_name(&self.settings.account_id, name) {
            return Err(refused(&format!(
                "The SAML provider ARN is not of account {}; name arn:aws:iam::{}:saml-provider/{name} in the pool.",
                self.settings.account_id, self.settings.account_id
            )));
        }
        let provider = self
            .store
            .get_saml_provider(name)
            .await?
            .ok_or_else(|| refused("The SAML provider is not registered."))?;
        let metadata = IdpMetadata::parse(&provider.metadata)
            .map_err(|_| refused("The SAML provider's metadata cannot be used; update it."))?;
        if metadata
            .valid_until
            .is_some_and(|until| until <= self.clock.now())
        {
            return Err(refused(
                "The SAML provider's metadata has expired (validUntil); update it.",
            ));
        }
        Ok((provider, metadata))
    }

    /// The recipients an assertion may name: AWS's SAML endpoint and the region's.
    fn saml_recipients(&self) -> Vec<String> {
        vec![
            RECIPIENT.to_owned(),
            format!(
                "https://{}.signin.aws.amazon.com/saml",
                self.settings.region.as_str()
            ),
        ]
    }

    /// `verify_response` against the provider, off the async workers (xmlsec and the parsers
    /// are CPU work in C). The outer error is the task's, the inner the response's.
    async fn verify_saml_response(
        &self,
        provider: &SamlProvider,
        metadata: IdpMetadata,
        response: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<VerifiedAssertion, SamlError>> {
        let audiences: Vec<String> = AUDIENCES.iter().map(|a| (*a).to_owned()).collect();
        let recipients = self.saml_recipients();
        let legacy_sha1 = provider.legacy_sha1;
        let subject_attribute = provider.subject_attribute.clone();
        let response = response.to_owned();
        tokio::task::spawn_blocking(move || {
            verify_response(
                &response,
                &TrustedIdp {
                    entity_id: &metadata.entity_id,
                    certificates: &metadata.certificates,
                    legacy_sha1,
                    subject_attribute: subject_attribute.as_deref(),
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
        .map_err(|e| ServiceError::Internal(Box::new(e)))
    }

    /// Verifies a SAML login for `pool` and records the use of its assertion.
    pub(crate) async fn verify_saml_login(
        &self,
        config: &PoolConfig,
        pool: &IdentityPoolId,
        arn: &str,
        response: &str,
    ) -> ServiceResult<VerifiedLogin> {
        let (provider, metadata) = self.saml_provider_for(config, arn).await?;
        let now = self.clock.now();
        let verified = self
            .verify_saml_response(&provider, metadata, response, now)
            .await?
            .map_err(|e| {
                metrics::counter!("idbroker_saml_refusals_total", "reason" => e.code())
                    .increment(1);
                refused(&format!("SAML: {e}."))
            })?;
        let accepted = self
            .store
            .use_saml_assertion(
                &provider.name,
                &verified.id,
                pool,
                verified.not_on_or_after + Duration::seconds(EXPIRY_SKEW_SECS),
                MAX_ASSERTION_USES,
                now,
            )
            .await?;
        if !accepted {
            metrics::counter!("idbroker_saml_refusals_total", "reason" => "replay").increment(1);
            return Err(replayed());
        }
        Ok(verified_login(arn, verified))
    }

    /// Explain's dry run of `verify_saml_login`: the same steps, each written down as a check
    /// (up to the first that fails, where verification stops), and the replay cache read, not
    /// counted.
    pub(crate) async fn diagnose_saml_login(
        &self,
        config: &PoolConfig,
        pool: &IdentityPoolId,
        arn: &str,
        response: &str,
    ) -> ServiceResult<SamlDiagnosis> {
        let mut checks = Vec::new();
        let (provider, metadata) = match self.saml_provider_for(config, arn).await {
            Ok(found) => found,
            Err(err @ ServiceError::NotAuthorized(_)) => {
                checks.push(SamlCheck::failed(
                    "provider",
                    "a registered SAML provider with usable metadata in date".into(),
                    err.to_string(),
                ));
                return Ok(SamlDiagnosis {
                    checks,
                    outcome: Err(err),
                });
            }
            Err(other) => return Err(other),
        };
        checks.push(SamlCheck::passed(
            "provider",
            "a registered SAML provider with usable metadata in date".into(),
            format!("entity id {}", crate::loggable(&metadata.entity_id)),
        ));
        let now = self.clock.now();
        let expected = saml_steps(&provider, &metadata, &self.saml_recipients(), now);
        let verified = self
            .verify_saml_response(&provider, metadata, response, now)
            .await?;
        let verified = match verified {
            Err(err) => {
                // Verification stops at the failed step: the ones before it passed.
                let failed = step_of(&err);
                for (name, expected) in expected {
                    if name == failed {
                        checks.push(SamlCheck::failed(name, expected, failure(&err)));
                        break;
                    }
                    checks.push(SamlCheck::passed(name, expected, "passed".into()));
                }
                return Ok(SamlDiagnosis {
                    checks,
                    outcome: Err(refused(&format!("SAML: {err}."))),
                });
            }
            Ok(verified) => verified,
        };
        for (name, expected) in expected {
            let got = match name {
                "size" => format!("{} characters", response.len()),
                "status" if !verified.response_signed => {
                    "the assertion alone is signed (no response status to check)".into()
                }
                "issuer" => crate::loggable(&provider.entity_id),
                "times" => format!("valid until {}", verified.not_on_or_after.to_rfc3339()),
                "subject" => format!("NameID {}", crate::loggable(&verified.name_id)),
                "subject_attribute" => {
                    format!("subject {}", crate::loggable(&verified.subject))
                }
                _ => "passed".into(),
            };
            checks.push(SamlCheck::passed(name, expected, got));
        }
        let uses = self
            .store
            .saml_assertion_uses(&provider.name, &verified.id, now)
            .await?;
        let expected = format!(
            "at most {MAX_ASSERTION_USES} uses of this assertion, all in this pool (explain does not count one)"
        );
        let (passed, got) = match uses {
            None => (true, "not used yet".to_owned()),
            Some((used_in, n)) if used_in == *pool && n < MAX_ASSERTION_USES => {
                (true, format!("used {n} times in this pool"))
            }
            Some((used_in, n)) if used_in == *pool => {
                (false, format!("used {n} times in this pool"))
            }
            Some(_) => (false, "used in another pool".to_owned()),
        };
        checks.push(SamlCheck {
            name: "replay",
            passed,
            expected,
            got,
        });
        Ok(SamlDiagnosis {
            checks,
            outcome: if passed {
                Ok(verified_login(arn, verified))
            } else {
                Err(replayed())
            },
        })
    }
}

/// Why provider `name` (ARN `arn`) may not read its subjects from `wanted` (see
/// `check_saml_subject_source`), or `None` when it may. `registered` is where the registered
/// provider reads them (`Some(None)`: the NameID), `None` when no provider has the name.
pub(crate) async fn subject_source_conflict(
    store: &dyn idbroker_store::Store,
    arn: &str,
    name: &str,
    registered: Option<Option<&str>>,
    wanted: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if registered == Some(wanted) || !store.saml_provider_has_logins(arn).await? {
        return Ok(None);
    }
    Ok(Some(match registered {
        Some(current) => subject_source_locked(name, current),
        None => orphaned_logins(name),
    }))
}

/// Why a provider with logins keeps its subject source: the keys already written came from
/// it, and a value from another source (one user's attribute equal to another's NameID) would
/// match someone else's key.
pub(crate) fn subject_source_locked(name: &str, current: Option<&str>) -> String {
    let source = current.map_or_else(
        || "NameID".to_owned(),
        |attribute| format!("attribute {}", crate::loggable(attribute)),
    );
    format!(
        "SAML provider '{name}' has logins keyed by its {source}; a subject from elsewhere could \
         match another user's key. Register a new provider with the new subject source and name \
         it in the pools instead."
    )
}

/// Why a provider cannot be registered again under a name whose logins outlived it (the
/// provider was deleted once no pool named it): the old keys came from a subject source
/// nobody knows any more, so no new one can be trusted not to match them.
pub(crate) fn orphaned_logins(name: &str) -> String {
    format!(
        "Identities still have logins of a deleted SAML provider named '{name}', keyed by a \
         subject source that is no longer known; a new provider under this name could match \
         them for other users. Delete those identities first, or register it under another name."
    )
}

fn refused(why: &str) -> ServiceError {
    ServiceError::NotAuthorized(format!("Invalid login token. {why}"))
}

fn replayed() -> ServiceError {
    refused("SAML: the assertion was already used (its id is in the replay cache).")
}

fn verified_login(arn: &str, verified: VerifiedAssertion) -> VerifiedLogin {
    VerifiedLogin {
        login: LoginRef {
            provider: arn.to_owned(),
            subject: verified.subject.clone(),
        },
        claims: saml_claims(arn, verified.attributes, &verified.subject),
    }
}

/// One step of verifying a SAML response, as explain shows it.
pub(crate) struct SamlCheck {
    pub name: &'static str,
    pub passed: bool,
    pub expected: String,
    pub got: String,
}

impl SamlCheck {
    fn passed(name: &'static str, expected: String, got: String) -> Self {
        Self {
            name,
            passed: true,
            expected,
            got,
        }
    }

    fn failed(name: &'static str, expected: String, got: String) -> Self {
        Self {
            name,
            passed: false,
            expected,
            got,
        }
    }
}

pub(crate) struct SamlDiagnosis {
    pub checks: Vec<SamlCheck>,
    /// The login, or the refusal the public call would return.
    pub outcome: ServiceResult<VerifiedLogin>,
}

/// The steps of `verify_response`, in its order, with what each expects.
fn saml_steps(
    provider: &SamlProvider,
    metadata: &IdpMetadata,
    recipients: &[String],
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let algorithms = if provider.legacy_sha1 {
        "RSA/ECDSA with SHA-256 or stronger, or RSA-SHA1/SHA-1 (legacy_sha1)"
    } else {
        "RSA/ECDSA with SHA-256 or stronger"
    };
    let mut steps = vec![
        (
            "size",
            format!(
                "at most {} base64 characters",
                idbroker_saml::MAX_RESPONSE_BASE64
            ),
        ),
        (
            "markup",
            "UTF-8 XML without DOCTYPE, entity, comment, processing instruction or CDATA".into(),
        ),
        (
            "structure",
            format!(
                "a Response holding exactly one Assertion (not encrypted), each signature enveloped in the element it references, exclusive c14n, {algorithms}"
            ),
        ),
        (
            "signature",
            format!(
                "signed by a registered certificate ({})",
                metadata.fingerprints().join(", ")
            ),
        ),
        (
            "status",
            "a signed response: Status Success, Destination one of the recipients".into(),
        ),
        ("issuer", crate::loggable(&provider.entity_id)),
        (
            "times",
            format!(
                "NotBefore - {FUTURE_SKEW_SECS} s <= {} < NotOnOrAfter + {EXPIRY_SKEW_SECS} s",
                now.to_rfc3339()
            ),
        ),
        ("audience", format!("one of {}", AUDIENCES.join(", "))),
        ("subject", SUBJECT_RULE.replace("{what}", "a NameID")),
        (
            "recipient",
            format!(
                "a bearer SubjectConfirmation in date with Recipient one of {}",
                recipients.join(", ")
            ),
        ),
    ];
    if let Some(name) = &provider.subject_attribute {
        steps.push((
            "subject_attribute",
            SUBJECT_RULE.replace(
                "{what}",
                &format!(
                    "exactly one value of the attribute {}",
                    crate::loggable(name)
                ),
            ),
        ));
    }
    steps
}

/// What a subject must be (`{what}`: which one), as explain writes it.
const SUBJECT_RULE: &str =
    "{what} of 1 to 1024 characters, no control or invisible characters, no white space around it";

/// A refusal as explain shows it: the refusal itself, and for a missing or ambiguous subject
/// attribute the attribute names the assertion did carry (names only, bounded), so that a
/// misnamed attribute can be found.
fn failure(err: &SamlError) -> String {
    match err {
        SamlError::SubjectAttribute { present, .. } => {
            let names: Vec<String> = present.iter().map(|n| crate::loggable(n)).collect();
            format!("{err}; the assertion's attributes: {}", names.join(", "))
        }
        other => other.to_string(),
    }
}

/// The step a refusal comes from.
fn step_of(err: &SamlError) -> &'static str {
    match err {
        SamlError::TooLarge | SamlError::NotBase64 => "size",
        SamlError::Markup(_) => "markup",
        SamlError::Malformed(_)
        | SamlError::Encrypted
        | SamlError::Structure(_)
        | SamlError::Algorithm(_) => "structure",
        SamlError::Signature => "signature",
        SamlError::Status => "status",
        SamlError::Issuer => "issuer",
        SamlError::Expired | SamlError::NotYetValid => "times",
        SamlError::Audience => "audience",
        SamlError::Subject(_) => "subject",
        SamlError::Recipient => "recipient",
        SamlError::SubjectAttribute { .. } => "subject_attribute",
    }
}

/// The claims role mappings and principal tags read for a SAML login: every attribute by its
/// `Name` (an array of its values), `sub` = the subject (the NameID or the subject
/// attribute's value), and `cognito:roles` = the roles the
/// Role attribute allows under this provider (what the assertion says, never an attribute of
/// that name).
fn saml_claims(
    arn: &str,
    attributes: BTreeMap<String, Vec<String>>,
    subject: &str,
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
    claims.insert("sub".into(), Value::String(subject.to_owned()));
    claims
}

fn saml_json(p: &RegisteredSamlProvider) -> Value {
    serde_json::json!({
        "arn": p.arn,
        "entity_id": p.entity_id,
        "certificate_fingerprints": p.certificate_fingerprints,
        "valid_until": p.valid_until,
        "legacy_sha1": p.legacy_sha1,
        "subject_attribute": p.subject_attribute,
    })
}
