//! Explain: an admin's dry run of GetId and GetCredentialsForIdentity for the logins a user
//! sent. It runs the public calls' own steps — `classify`, `Verifier::diagnose` (verification
//! with every check recorded), `linking::plan` on owners read without locks, `trace_role`,
//! the token's claims — in their order, writes nothing and calls no STS. The first failure in
//! that order is the public error; the steps after it still run where they mean something.
//!
//! The answer is built in `idbroker_api::explain`'s types: it is a report, with no domain
//! meaning to keep apart from its wire shape.

use std::collections::{BTreeMap, BTreeSet};

use idbroker_api::explain::{
    ExplainRequest, Explanation, IdentityExplanation, IdentityOutcome, KeySetSource,
    LoginExplanation, PoolEntry, PublicError, RoleExplanation, RuleEvaluation, TokenCheck, bounded,
    bounded_claims, closest,
};
use idbroker_domain::linking::{LinkPlan, LinkRequest, LinkedIdentity, Trust, plan};
use idbroker_domain::login::{LoginKeyError, LoginRef, ProviderSpec, VerifiedLogin, classify};
use idbroker_domain::role_resolution::{Caller, RoleSource, trace_role};
use idbroker_domain::roles::validate_role_arn;
use idbroker_domain::roles::{AmbiguousRoleResolution, MatchType, RoleMappingType};
use idbroker_domain::{Identity, IdentityId};
use idbroker_providers::KeyFetch;
use idbroker_store::StoredPool;
use uuid::Uuid;

use crate::logins::{ResolvedIdentity, validate_logins};
use crate::{Broker, ServiceError, ServiceResult};

const GET_ID: &str = "GetId";
const GET_CREDENTIALS: &str = "GetCredentialsForIdentity";
/// Shown as the `sub` of a token for an identity that does not exist yet.
const NEW_IDENTITY: &str = "(the new identity's id)";

fn public(operation: &str, err: &ServiceError) -> PublicError {
    PublicError {
        operation: operation.to_owned(),
        kind: err.kind().to_owned(),
        message: err.to_string(),
    }
}

fn linked(identity: &Identity) -> LinkedIdentity {
    LinkedIdentity {
        id: identity.id.clone(),
        logins: identity.logins.iter().cloned().collect(),
        disabled: identity.disabled,
    }
}

/// The first failure of the public calls, in the order they meet them.
#[derive(Default)]
struct FirstError(Option<PublicError>);

impl FirstError {
    fn record(&mut self, error: &PublicError) {
        if self.0.is_none() {
            self.0 = Some(error.clone());
        }
    }
}

fn key_set(fetch: KeyFetch) -> KeySetSource {
    match fetch {
        KeyFetch::Cached => KeySetSource::Cached,
        KeyFetch::Fetched => KeySetSource::Fetched,
        KeyFetch::Refetched => KeySetSource::Refetched,
        KeyFetch::InBackoff => KeySetSource::InBackoff,
    }
}

/// The pool entry `classify` found for a key.
fn matched_entry(stored: &StoredPool, key: &str, spec: &ProviderSpec) -> PoolEntry {
    let app = stored.pool.config.supported_login_providers.get(key);
    let (kind, client_ids) = match spec {
        _ if app.is_some() => (
            "supported_login_provider",
            app.cloned().into_iter().collect(),
        ),
        ProviderSpec::OidcIdToken {
            client_ids,
            require_id_token_use: true,
            ..
        } => ("cognito_user_pool", client_ids.clone()),
        ProviderSpec::OidcIdToken { client_ids, .. } => ("oidc_provider", client_ids.clone()),
        ProviderSpec::Facebook { app_id } => ("supported_login_provider", vec![app_id.clone()]),
        ProviderSpec::Amazon { client_id } => ("supported_login_provider", vec![client_id.clone()]),
    };
    PoolEntry {
        matched: true,
        kind: kind.to_owned(),
        client_ids,
        closest: Vec::new(),
    }
}

fn unmatched_entry(stored: &StoredPool, key: &str, err: &LoginKeyError) -> PoolEntry {
    let kind = match err {
        LoginKeyError::NotConfigured => "not_configured",
        LoginKeyError::DeveloperProvider => "developer_provider",
        LoginKeyError::Legacy(_) => "legacy_provider",
    };
    let known = stored.pool.config.provider_names();
    PoolEntry {
        matched: false,
        kind: kind.to_owned(),
        client_ids: Vec::new(),
        closest: closest(key, known.iter().map(String::as_str), 3),
    }
}

fn empty_login(key: &str, pool_entry: PoolEntry) -> LoginExplanation {
    LoginExplanation {
        provider_key: bounded(key, 128),
        pool_entry,
        checks: Vec::new(),
        key_set: None,
        claims: BTreeMap::new(),
        claims_verified: false,
        accepted: false,
        error: None,
    }
}

fn match_type(m: MatchType) -> &'static str {
    match m {
        MatchType::Equals => "Equals",
        MatchType::Contains => "Contains",
        MatchType::StartsWith => "StartsWith",
        MatchType::NotEqual => "NotEqual",
    }
}

/// What the logins do to the identities, as `linking::plan` decides on the current owners.
struct Mapping {
    explanation: IdentityExplanation,
    /// The identity the call ends with (the survivor with its logins after the plan, or a
    /// stand-in for a new one), unless refused.
    identity: Option<Identity>,
    /// Whether that identity would be created.
    new: bool,
}

impl Broker {
    /// The dry run (see the module docs). Bad input (a malformed id, too many logins) is the
    /// explain call's own error; anything the public calls would refuse is in the answer.
    pub async fn explain(
        &self,
        pool_id: &str,
        request: &ExplainRequest,
    ) -> ServiceResult<Explanation> {
        validate_logins(&request.logins)?;
        if let Some(arn) = &request.custom_role_arn {
            validate_role_arn("customRoleArn", arn)?;
        }
        let target_id = request
            .identity_id
            .as_deref()
            .map(|id| IdentityId::parse("identityId", id))
            .transpose()?;
        let stored = self.load_pool(pool_id).await?;
        let now = self.clock.now();
        let operation = if target_id.is_some() {
            GET_CREDENTIALS
        } else {
            GET_ID
        };
        let mut first = FirstError::default();

        // GetCredentialsForIdentity reads the identity first.
        let target = match &target_id {
            Some(id) => match self.store.get_identity(id).await? {
                Some(identity) if identity.pool_id != stored.pool.id => {
                    return Err(ServiceError::InvalidParameter(format!(
                        "Identity '{id}' belongs to identity pool '{}'; explain it there.",
                        identity.pool_id
                    )));
                }
                Some(identity) => {
                    if identity.disabled {
                        first.record(&public(
                            operation,
                            &ServiceError::NotAuthorized(format!(
                                "Access to Identity '{id}' is forbidden."
                            )),
                        ));
                    } else if self
                        .store
                        .revocation_of(id, &stored.pool.id)
                        .await?
                        .is_some()
                    {
                        first.record(&public(operation, &crate::revocation::forbidden(id)));
                    }
                    Some(identity)
                }
                None => {
                    first.record(&public(operation, &ServiceError::identity_not_found(id)));
                    None
                }
            },
            None => None,
        };

        let mut logins = Vec::new();
        let (own, presented_tokens): (BTreeMap<_, _>, BTreeMap<_, _>) = request
            .logins
            .iter()
            .partition(|(key, _)| self.is_own_key(key));

        // idbroker's own tokens: GetId refuses them; GetCredentialsForIdentity takes them as
        // proof of the identity it names.
        let mut proof = OwnTokens::default();
        for key in own.keys() {
            let mut entry = empty_login(
                key,
                PoolEntry {
                    matched: true,
                    kind: "idbroker_token".to_owned(),
                    client_ids: Vec::new(),
                    closest: Vec::new(),
                },
            );
            let outcome = match &target_id {
                None => Err(ServiceError::NotAuthorized(
                    "Invalid login token. Can't pass in a Cognito token.".into(),
                )),
                Some(id) => self.own_proof(&request.logins[*key], &stored.pool.id, id),
            };
            match outcome {
                Ok(own) => {
                    entry.accepted = true;
                    entry.claims_verified = true;
                    entry.claims = bounded_claims(&own.claims);
                    entry.checks.push(TokenCheck {
                        name: "idbroker_token".into(),
                        passed: true,
                        expected: "a valid idbroker token for this identity and pool".into(),
                        got: "valid".into(),
                    });
                    proof.add(own);
                }
                Err(err) => {
                    let error = public(operation, &err);
                    entry.checks.push(TokenCheck {
                        name: "idbroker_token".into(),
                        passed: false,
                        expected: "a valid idbroker token for this identity and pool".into(),
                        got: error.message.clone(),
                    });
                    first.record(&error);
                    entry.error = Some(error);
                }
            }
            logins.push(entry);
        }

        // SAML logins (the key is one of the pool's SamlProviderARNs): verified before the
        // other keys are classified, as the public calls do.
        let (saml, presented_tokens): (BTreeMap<_, _>, BTreeMap<_, _>) =
            presented_tokens.into_iter().partition(|(key, _)| {
                stored
                    .pool
                    .config
                    .saml_provider_arns
                    .iter()
                    .any(|arn| arn == *key)
            });
        let mut verified = Vec::new();
        for (key, response) in saml {
            let diagnosis = self
                .diagnose_saml_login(&stored.pool.config, &stored.pool.id, key, response)
                .await?;
            let mut entry = empty_login(
                key,
                PoolEntry {
                    matched: true,
                    kind: "saml_provider".to_owned(),
                    client_ids: Vec::new(),
                    closest: Vec::new(),
                },
            );
            entry.checks = diagnosis
                .checks
                .into_iter()
                .map(|c| TokenCheck {
                    name: c.name.to_owned(),
                    passed: c.passed,
                    expected: bounded(&c.expected, 200),
                    got: bounded(&c.got, 200),
                })
                .collect();
            match diagnosis.outcome {
                Ok(login) => {
                    entry.accepted = true;
                    entry.claims_verified = true;
                    entry.claims = bounded_claims(&login.claims);
                    verified.push(login);
                }
                Err(err) => {
                    let error = public(operation, &err);
                    first.record(&error);
                    entry.error = Some(error);
                }
            }
            logins.push(entry);
        }

        // Provider logins: every key is classified before any token is verified.
        let registered = self
            .registered_providers(&stored.pool.config, presented_tokens.keys().copied())
            .await?;
        let specs: Vec<_> = presented_tokens
            .keys()
            .map(|key| (*key, classify(&stored.pool.config, key, &registered)))
            .collect();
        for (_, spec) in &specs {
            if let Err(err) = spec {
                first.record(&public(operation, &ServiceError::from(err.clone())));
            }
        }
        for (key, spec) in specs {
            let entry = match spec {
                Err(err) => {
                    let mut entry = empty_login(key, unmatched_entry(&stored, key, &err));
                    entry.error = Some(public(operation, &ServiceError::from(err)));
                    entry
                }
                Ok(spec) => {
                    let token = &request.logins[key];
                    let diagnosis = self.verifier.diagnose(key, &spec, token, now).await;
                    let mut entry = empty_login(key, matched_entry(&stored, key, &spec));
                    entry.checks = diagnosis
                        .checks
                        .into_iter()
                        .map(|c| TokenCheck {
                            name: c.name.to_owned(),
                            passed: c.passed,
                            expected: c.expected,
                            got: c.got,
                        })
                        .collect();
                    entry.key_set = diagnosis.key_set.map(key_set);
                    entry.claims = bounded_claims(&diagnosis.claims);
                    entry.claims_verified = diagnosis.claims_verified;
                    match diagnosis.outcome {
                        Ok(login) => {
                            entry.accepted = true;
                            verified.push(login);
                        }
                        Err(err) => {
                            let error = public(operation, &ServiceError::from(err));
                            first.record(&error);
                            entry.error = Some(error);
                        }
                    }
                    entry
                }
            };
            logins.push(entry);
        }
        // The public calls answer in key order; own keys were listed first, SAML keys before
        // the other providers'. Role resolution takes the first mapped login, in key order.
        logins.sort_by(|a, b| a.provider_key.cmp(&b.provider_key));
        verified.sort_by(|a, b| a.login.provider.cmp(&b.login.provider));

        let mut explanation = Explanation {
            identity_pool_id: stored.pool.id.to_string(),
            evaluated_at: now.timestamp(),
            logins,
            identity: None,
            role: None,
            principal_tags: BTreeMap::new(),
            session_policy: None,
            token_claims: None,
            public_error: None,
        };
        let all_passed = first.0.is_none();
        if all_passed {
            let mapping = self
                .map_identity(&stored, target.as_ref(), &verified, &proof, operation)
                .await?;
            if let Some(error) = &mapping.explanation.error {
                first.record(error);
            }
            explanation.identity = Some(mapping.explanation);
            if let Some(identity) = mapping.identity {
                self.explain_role(
                    &stored,
                    identity,
                    mapping.new,
                    verified,
                    proof,
                    request.custom_role_arn.as_deref(),
                    &mut explanation,
                    &mut first,
                )
                .await?;
            }
        }
        explanation.public_error = first.0;
        Ok(explanation)
    }

    /// The identity the logins lead to, decided by `linking::plan` on the owners as they are
    /// now (read without locks; the real call reads them again under its locks).
    async fn map_identity(
        &self,
        stored: &StoredPool,
        target: Option<&Identity>,
        verified: &[VerifiedLogin],
        proof: &OwnTokens,
        operation: &str,
    ) -> ServiceResult<Mapping> {
        let presented: Vec<LoginRef> = verified.iter().map(|v| v.login.clone()).collect();
        let mut owners_by_key = BTreeMap::new();
        let mut owners: Vec<Identity> = Vec::new();
        for login in &presented {
            if let Some(owner) = self.store.login_owner(&stored.pool.id, login).await? {
                owners_by_key.insert(login.provider.clone(), owner.to_string());
                if !owners.iter().any(|o| o.id == owner)
                    && let Some(identity) = self.store.get_identity(&owner).await?
                {
                    owners.push(identity);
                }
            }
        }
        let mut explanation = IdentityExplanation {
            outcome: IdentityOutcome::Existing,
            identity_id: None,
            merged: Vec::new(),
            linked: Vec::new(),
            owners: owners_by_key,
            guest: false,
            error: None,
        };
        let refuse = |mut explanation: IdentityExplanation, err: ServiceError| {
            explanation.outcome = IdentityOutcome::Refused;
            explanation.error = Some(public(operation, &err));
            Mapping {
                explanation,
                identity: None,
                new: false,
            }
        };

        // Calls that need no plan, as the public calls take them.
        match target {
            None if presented.is_empty() => {
                if !stored.pool.config.allow_unauthenticated_identities {
                    return Ok(refuse(
                        explanation,
                        ServiceError::NotAuthorized(
                            "Unauthenticated access is not supported for this identity pool."
                                .into(),
                        ),
                    ));
                }
                explanation.outcome = IdentityOutcome::New;
                explanation.guest = true;
                return Ok(Mapping {
                    explanation,
                    identity: Some(self.stand_in(stored, Vec::new())),
                    new: true,
                });
            }
            Some(identity) if presented.is_empty() && (proof.proven() || identity.is_guest()) => {
                explanation.identity_id = Some(identity.id.to_string());
                explanation.guest = identity.is_guest();
                return Ok(Mapping {
                    explanation,
                    identity: Some(identity.clone()),
                    new: false,
                });
            }
            _ => {}
        }

        let target_linked = target.map(linked);
        let mut owner_linked: Vec<LinkedIdentity> = owners
            .iter()
            .filter(|o| Some(&o.id) != target.map(|t| &t.id))
            .map(linked)
            .collect();
        if let Some(t) = &target_linked
            && t.logins.iter().any(|l| presented.contains(l))
        {
            owner_linked.push(t.clone());
        }
        let trust = if proof.proven() {
            Trust::Identity
        } else {
            Trust::None
        };
        let rules = Self::link_rules(stored, trust, None);
        let decision = plan(&LinkRequest {
            presented: &presented,
            target: target_linked.as_ref(),
            owners: &owner_linked,
            rules: &rules,
        });
        match decision {
            Err(err) => Ok(refuse(explanation, err.into())),
            Ok(LinkPlan::Create { logins }) => {
                explanation.outcome = IdentityOutcome::New;
                explanation.linked = logins.iter().map(|l| l.provider.clone()).collect();
                Ok(Mapping {
                    explanation,
                    identity: Some(self.stand_in(stored, logins)),
                    new: true,
                })
            }
            Ok(LinkPlan::Use {
                survivor,
                link,
                merged,
            }) => {
                explanation.outcome = if !merged.is_empty() {
                    IdentityOutcome::Merge
                } else if !link.is_empty() {
                    IdentityOutcome::Link
                } else {
                    IdentityOutcome::Existing
                };
                let all: Vec<&Identity> = owners.iter().chain(target).collect();
                let mut logins: BTreeSet<LoginRef> = link.iter().cloned().collect();
                for identity in all
                    .iter()
                    .filter(|i| i.id == survivor || merged.contains(&i.id))
                {
                    logins.extend(identity.logins.iter().cloned());
                }
                let mut identity = all
                    .iter()
                    .find(|i| i.id == survivor)
                    .map_or_else(|| self.stand_in(stored, Vec::new()), |i| (*i).clone());
                identity.logins = logins.into_iter().collect();
                explanation.identity_id = Some(survivor.to_string());
                explanation.merged = merged.iter().map(ToString::to_string).collect();
                explanation.linked = link.iter().map(|l| l.provider.clone()).collect();
                explanation.guest = identity.is_guest();
                Ok(Mapping {
                    explanation,
                    identity: Some(identity),
                    new: false,
                })
            }
        }
    }

    /// An identity that does not exist yet, for the role decision and the token's claims.
    fn stand_in(&self, stored: &StoredPool, logins: Vec<LoginRef>) -> Identity {
        let now = self.clock.now();
        Identity {
            id: IdentityId::new(&self.settings.region, Uuid::nil()),
            pool_id: stored.pool.id.clone(),
            logins,
            created_at: now,
            last_modified_at: now,
            disabled: false,
            last_used_at: None,
        }
    }

    /// GetCredentialsForIdentity's role decision for the identity (as `credentials` makes it,
    /// traced), the session tags and policy, and the claims of the token for STS.
    #[allow(clippy::too_many_arguments)]
    async fn explain_role(
        &self,
        stored: &StoredPool,
        identity: Identity,
        is_new: bool,
        verified: Vec<VerifiedLogin>,
        proof: OwnTokens,
        custom_role_arn: Option<&str>,
        explanation: &mut Explanation,
        first: &mut FirstError,
    ) -> ServiceResult<()> {
        let developer = stored
            .pool
            .config
            .developer_provider_name
            .as_ref()
            .is_some_and(|name| proof.amr.contains(name));
        let providers = identity.provider_keys();
        let caller = if identity.is_guest() {
            Caller::Guest
        } else if !verified.is_empty() {
            Caller::Federated(&verified)
        } else if developer {
            Caller::Developer
        } else {
            Caller::OwnToken(&providers)
        };
        let (role, trace) = trace_role(
            caller,
            &stored.roles,
            stored.pool.config.allow_unauthenticated_identities,
            custom_role_arn,
        );
        let mut role_explanation = RoleExplanation {
            decided_by: match trace.decided_by {
                RoleSource::Guest => "guest",
                RoleSource::Default => "default",
                RoleSource::Mapping => "mapping",
            }
            .to_owned(),
            mapping_key: trace.mapping_key,
            mapping_type: trace.mapping_type.map(|t| {
                match t {
                    RoleMappingType::Token => "Token",
                    RoleMappingType::Rules => "Rules",
                }
                .to_owned()
            }),
            token_roles: trace.token_roles,
            preferred_role: trace.preferred_role,
            rules: trace
                .rules
                .into_iter()
                .map(|r| RuleEvaluation {
                    claim: r.claim,
                    match_type: match_type(r.match_type).to_owned(),
                    value: r.value,
                    claim_values: r
                        .claim_values
                        .iter()
                        .map(|v| bounded(v, idbroker_api::explain::MAX_CLAIM_CHARS))
                        .collect(),
                    matched: r.matched,
                    role_arn: r.role_arn,
                })
                .collect(),
            ambiguous_role_resolution: trace.ambiguous.map(|setting| {
                match setting {
                    Some(AmbiguousRoleResolution::AuthenticatedRole) => "AuthenticatedRole",
                    Some(AmbiguousRoleResolution::Deny) => "Deny",
                    None => "unset",
                }
                .to_owned()
            }),
            custom_role_arn: custom_role_arn.map(str::to_owned),
            role_arn: None,
            error: None,
        };
        match role {
            Ok(arn) => role_explanation.role_arn = Some(arn),
            Err(err) => {
                let error = public(GET_CREDENTIALS, &ServiceError::from(err));
                first.record(&error);
                role_explanation.error = Some(error);
            }
        }
        let succeeded = role_explanation.error.is_none();
        explanation.role = Some(role_explanation);
        if !succeeded {
            return Ok(());
        }
        if matches!(caller, Caller::Guest) {
            explanation
                .session_policy
                .clone_from(&self.settings.sts.guest_session_policy);
        }
        let resolved = ResolvedIdentity {
            identity,
            pool: stored.clone(),
            verified,
            own_amr: proof.amr,
            own_expires_at: proof.expires_at,
            own_tags: proof.tags,
        };
        let token = self.token_request(&resolved).await?;
        explanation.principal_tags.clone_from(&token.tags);
        let mut claims = self.token_claims(&token, self.clock.now());
        // Set when a token is really signed.
        claims["jti"] = serde_json::json!("(assigned when signed)");
        if is_new {
            claims["sub"] = serde_json::json!(NEW_IDENTITY);
        }
        explanation.token_claims = Some(claims);
        Ok(())
    }
}

/// What the presented idbroker tokens prove together (see `Broker::own_proof`).
#[derive(Default)]
struct OwnTokens {
    count: usize,
    amr: Vec<String>,
    expires_at: Option<i64>,
    tags: BTreeMap<String, String>,
}

impl OwnTokens {
    fn add(&mut self, own: crate::logins::OwnProof) {
        self.count += 1;
        self.amr.extend(own.amr);
        if let Some(exp) = own.expires_at {
            self.expires_at = Some(self.expires_at.map_or(exp, |e| e.min(exp)));
        }
        self.tags.extend(own.tags);
    }

    fn proven(&self) -> bool {
        self.count > 0
    }
}
