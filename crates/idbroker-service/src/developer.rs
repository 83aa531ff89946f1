//! Developer-authenticated identities (`docs/spec.md` §6.9, behaviours 62–74): the app's own
//! backend vouches for its users with SigV4-signed calls.

use std::collections::BTreeMap;

use chrono::Duration;
use idbroker_domain::linking::{LinkError, Trust};
use idbroker_domain::login::LoginRef;
use idbroker_domain::validation::{check_count, check_len};
use idbroker_domain::{IdentityId, MaxResults, PageToken, ValidationError};
use idbroker_store::{StoreError, StoredPool};

use crate::logins::validate_logins;
use crate::tokens::TokenRequest;
use crate::{Broker, Page, ServiceError, ServiceResult};

/// GetOpenIdTokenForDeveloperIdentity's default token lifetime (15 minutes).
pub const DEFAULT_DEVELOPER_TOKEN_SECONDS: i64 = 900;

fn unsupported_provider() -> ServiceError {
    ServiceError::NotAuthorized(
        "This identity pool does not support the specified developer provider".into(),
    )
}

/// The pool's developer provider, if `name` (when given) is it.
fn developer_provider(pool: &StoredPool, name: Option<&str>) -> ServiceResult<String> {
    match (&pool.pool.config.developer_provider_name, name) {
        (Some(configured), None) => Ok(configured.clone()),
        (Some(configured), Some(name)) if configured == name => Ok(configured.clone()),
        _ => Err(unsupported_provider()),
    }
}

/// The developer token's lifetime under the pool's cap: a `TokenDuration` above it is refused
/// (the caller learns the bound instead of getting a shorter token than it asked for); the
/// default is lowered to the cap.
fn capped_token_duration(pool: &StoredPool, asked: bool, seconds: i64) -> ServiceResult<i64> {
    match pool.pool.lifetimes.max_token_lifetime_seconds {
        Some(cap) if seconds > cap && asked => Err(ServiceError::InvalidParameter(format!(
            "TokenDuration {seconds} exceeds this identity pool's max_token_lifetime_seconds ({cap})"
        ))),
        Some(cap) => Ok(seconds.min(cap)),
        None => Ok(seconds),
    }
}

fn user_login(provider: &str, user: &str) -> Result<LoginRef, ValidationError> {
    check_len("developerUserIdentifier", user, 1, 1024)?;
    Ok(LoginRef {
        provider: provider.to_owned(),
        subject: user.to_owned(),
    })
}

impl Broker {
    /// GetOpenIdTokenForDeveloperIdentity: finds or creates the identity of the developer user
    /// (linking it to `identity_id` when given, and any public logins), then signs a token.
    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn get_open_id_token_for_developer_identity(
        &self,
        pool_id: &str,
        identity_id: Option<&str>,
        logins: &BTreeMap<String, String>,
        principal_tags: BTreeMap<String, String>,
        token_duration: Option<i64>,
    ) -> ServiceResult<(IdentityId, String)> {
        validate_logins(logins)?;
        if logins.is_empty() {
            return Err(
                ValidationError::constraint_no_echo("logins", "Member must not be null").into(),
            );
        }
        check_count("principalTags", principal_tags.len(), 50)?;
        for (key, value) in &principal_tags {
            check_len("principalTags.key", key, 1, 128)?;
            check_len("principalTags.value", value, 1, 256)?;
        }
        let seconds = token_duration.unwrap_or(DEFAULT_DEVELOPER_TOKEN_SECONDS);
        if !(1..=86_400).contains(&seconds) {
            return Err(ValidationError::constraint(
                "tokenDuration",
                &seconds.to_string(),
                "Member must have value between 1 and 86400",
            )
            .into());
        }
        let target = identity_id
            .map(|id| IdentityId::parse("identityId", id))
            .transpose()?;
        let pool = self.load_pool(pool_id).await?;
        let seconds = capped_token_duration(&pool, token_duration.is_some(), seconds)?;
        let provider = developer_provider(&pool, None)?;
        let user = logins.get(&provider).ok_or_else(unsupported_provider)?;
        let dev_login = user_login(&provider, user)?;

        let public: BTreeMap<String, String> = logins
            .iter()
            .filter(|(k, _)| **k != provider)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let verified = self
            .verify_logins(&pool.pool.config, &pool.pool.id, &public)
            .await?;
        let mut presented = vec![dev_login.clone()];
        presented.extend(verified.iter().map(|v| v.login.clone()));
        let rules = Self::link_rules(
            &pool,
            Trust::Developer,
            target.is_some().then(|| dev_login.clone()),
        );
        let identity = self
            .apply_logins(&pool, &presented, target.as_ref(), &rules)
            .await?;
        // Checked once the identity is known: the logins may name a revoked one.
        self.check_not_revoked(&identity.id, &pool.pool.id).await?;

        let mut amr = vec!["authenticated".to_owned(), provider.clone()];
        amr.push(format!("{provider}:{}:{user}", pool.pool.id));
        amr.extend(crate::tokens::login_amr(&pool.pool.config, &verified));
        let token = self.mint(TokenRequest {
            pool: &pool,
            identity: &identity.id,
            amr,
            tags: principal_tags,
            lifetime: Duration::seconds(seconds),
            audience: None,
        })?;
        Ok((identity.id, token))
    }

    /// LookupDeveloperIdentity: by user (its identity) or by identity (its users, paged);
    /// with both, they must belong together.
    pub async fn lookup_developer_identity(
        &self,
        pool_id: &str,
        identity_id: Option<&str>,
        user: Option<&str>,
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> ServiceResult<(IdentityId, Page<String>)> {
        let limit = max_results
            .map(MaxResults::parse)
            .transpose()?
            .map_or(60, MaxResults::get);
        let after = next_token.map(PageToken::decode).transpose()?;
        let identity_id = identity_id
            .map(|id| IdentityId::parse("identityId", id))
            .transpose()?;
        let pool = self.load_pool(pool_id).await?;
        let provider = developer_provider(&pool, None)?;
        let by_user = match user {
            Some(user) => Some(
                self.store
                    .login_owner(&pool.pool.id, &user_login(&provider, user)?)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::ResourceNotFound(format!(
                            "Developer user '{user}' not found."
                        ))
                    })?,
            ),
            None => None,
        };
        let id = match (identity_id, by_user) {
            (None, None) => {
                return Err(ServiceError::InvalidParameter(
                    "Either IdentityId or DeveloperUserIdentifier must be given.".into(),
                ));
            }
            (Some(given), Some(found)) if given != found => {
                return Err(ServiceError::ResourceConflict(
                    "The developer user is not linked to this identity.".into(),
                ));
            }
            (Some(id), _) | (None, Some(id)) => id,
        };
        let identity = self
            .store
            .get_identity(&id)
            .await?
            .filter(|i| i.pool_id == pool.pool.id)
            .ok_or_else(|| ServiceError::identity_not_found(&id))?;
        let mut users: Vec<String> = identity
            .logins
            .into_iter()
            .filter(|l| l.provider == provider)
            .map(|l| l.subject)
            .filter(|s| after.as_ref().is_none_or(|a| s.as_str() > a.last_key()))
            .collect();
        users.sort();
        users.truncate(usize::try_from(limit).unwrap_or(60) + 1);
        Ok((id, Page::from_rows(users, limit, String::as_str)))
    }

    /// MergeDeveloperIdentities: the source user's identity is folded into the destination's.
    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn merge_developer_identities(
        &self,
        pool_id: &str,
        provider: &str,
        source: &str,
        destination: &str,
    ) -> ServiceResult<IdentityId> {
        let pool = self.load_pool(pool_id).await?;
        let provider = developer_provider(&pool, Some(provider))?;
        let (source, destination) = (
            user_login(&provider, source)?,
            user_login(&provider, destination)?,
        );
        for login in [&source, &destination] {
            if self
                .store
                .login_owner(&pool.pool.id, login)
                .await?
                .is_none()
            {
                return Err(ServiceError::ResourceNotFound(format!(
                    "Developer user '{}' not found.",
                    login.subject
                )));
            }
        }
        // The destination comes first, so its identity survives (see linking::plan).
        let rules = Self::link_rules(&pool, Trust::Developer, None);
        let merged = self
            .store
            .resolve_logins(
                &pool.pool.id,
                &[destination.clone(), source.clone()],
                None,
                &rules,
                &IdentityId::in_pool(&pool.pool.id, uuid::Uuid::new_v4()),
                self.clock.now(),
            )
            .await
            .map_err(|e| match e {
                idbroker_store::ResolveError::Link(
                    LinkError::TooManyLogins | LinkError::ProviderAlreadyLinked(_),
                ) => ServiceError::ResourceConflict(format!(
                    "These identities cannot be merged: {e}"
                )),
                other => other.into(),
            })?;
        for gone in &merged.merged {
            self.forget_identity(gone);
        }
        let after = serde_json::json!({"identity_id": merged.identity.id.as_str(), "users": [&destination.subject, &source.subject]});
        self.audit(
            "MergeDeveloperIdentities",
            merged.identity.id.as_str(),
            None,
            Some(after),
        )
        .await;
        Ok(merged.identity.id)
    }

    /// UnlinkDeveloperIdentity: the user is detached; next time it is a new identity.
    pub async fn unlink_developer_identity(
        &self,
        pool_id: &str,
        identity_id: &str,
        provider: &str,
        user: &str,
    ) -> ServiceResult<()> {
        let id = IdentityId::parse("identityId", identity_id)?;
        let pool = self.load_pool(pool_id).await?;
        let provider = developer_provider(&pool, Some(provider))?;
        let login = user_login(&provider, user)?;
        self.store
            .remove_login(&id, &login, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::ResourceNotFound(format!(
                    "Developer user '{user}' is not linked to identity '{id}'."
                )),
                other => other.into(),
            })?;
        // Left without logins it is disabled; with fewer, its sessions change anyway.
        self.forget_identity(&id);
        let before = serde_json::json!({"developer_provider": provider, "user": user});
        self.audit("UnlinkDeveloperIdentity", id.as_str(), Some(before), None)
            .await;
        Ok(())
    }
}
