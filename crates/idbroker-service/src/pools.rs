//! Identity-pool administration: create, describe, update, delete, list, tags, roles and
//! principal-tag maps (`docs/spec.md` §3–§4, behaviours 5–16 and 57–60).

use idbroker_domain::exchange_audiences::validate_exchange_audiences;
use idbroker_domain::principal_tags::validate_provider_name;
use idbroker_domain::tags::{MAX_TAGS, validate_tag_key, validate_tags};
use idbroker_domain::validation::check_count;
use idbroker_domain::{
    AccountId, IdentityPool, IdentityPoolId, MaxResults, PageToken, PoolConfig, PoolExtensions,
    PoolRoles, PoolSummary, PrincipalTagMap, Tags,
};
use idbroker_store::StoreError;
use uuid::Uuid;

use serde_json::json;

use crate::audit::pool_json;
use crate::{Broker, Page, ServiceError, ServiceResult};

impl Broker {
    #[tracing::instrument(skip_all, fields(pool_name = %crate::loggable(&config.identity_pool_name)))]
    pub async fn create_identity_pool(
        &self,
        config: PoolConfig,
        tags: Tags,
        extensions: PoolExtensions,
    ) -> ServiceResult<IdentityPool> {
        config.validate()?;
        self.validate_extensions(&extensions)?;
        check_provider_accounts(&config, &self.settings.account_id)?;
        validate_tags("identityPoolTags", &tags)?;
        let PoolExtensions {
            lifetimes,
            mut exchange_audiences,
        } = extensions;
        exchange_audiences.sort();
        let pool = IdentityPool {
            id: IdentityPoolId::new(&self.settings.region, Uuid::new_v4()),
            config,
            tags,
            lifetimes,
            exchange_audiences,
        };
        self.store
            .create_pool(&pool, self.clock.now())
            .await
            .map_err(unregistered_provider)?;
        tracing::info!(pool_id = %pool.id, "identity pool created");
        self.audit(
            "CreateIdentityPool",
            pool.id.as_str(),
            None,
            Some(pool_json(&pool)),
        )
        .await;
        Ok(pool)
    }

    pub async fn describe_identity_pool(&self, pool_id: &str) -> ServiceResult<IdentityPool> {
        Ok(self.load_pool(pool_id).await?.pool)
    }

    /// Full replace (spec §3), except that an omitted DeveloperProviderName is kept and a
    /// different one is refused, and omitted tags are kept (tags have their own operations).
    /// `extensions`: `None` (the AWS face, which has no such members) keeps the pool's.
    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn update_identity_pool(
        &self,
        pool_id: &str,
        mut config: PoolConfig,
        tags: Option<Tags>,
        mut extensions: Option<PoolExtensions>,
    ) -> ServiceResult<IdentityPool> {
        let stored = self.load_pool(pool_id).await?;
        let current = &stored.pool.config.developer_provider_name;
        match (current, &config.developer_provider_name) {
            (Some(_), None) => config.developer_provider_name.clone_from(current),
            (Some(old), Some(new)) if old != new => {
                return Err(ServiceError::InvalidParameter(format!(
                    "DeveloperProviderName cannot be changed once set (it is '{old}')."
                )));
            }
            _ => {}
        }
        config.validate()?;
        check_provider_accounts(&config, &self.settings.account_id)?;
        if let Some(tags) = &tags {
            validate_tags("identityPoolTags", tags)?;
        }
        if let Some(extensions) = &mut extensions {
            self.validate_extensions(extensions)?;
            extensions.exchange_audiences.sort();
        }
        let id = &stored.pool.id;
        self.store
            .update_pool(
                id,
                stored.version,
                &config,
                tags.as_ref(),
                extensions.as_ref(),
                self.clock.now(),
            )
            .await
            .map_err(|e| not_found_as_pool(e, id))?;
        self.caches.pools.forget(id);
        let after = self.describe_identity_pool(id.as_str()).await?;
        self.audit(
            "UpdateIdentityPool",
            id.as_str(),
            Some(pool_json(&stored.pool)),
            Some(pool_json(&after)),
        )
        .await;
        Ok(after)
    }

    /// idbroker's extensions: lifetimes within their bounds, a well-formed audience list.
    pub fn validate_extensions(&self, extensions: &PoolExtensions) -> ServiceResult<()> {
        extensions.lifetimes.validate(self.issuer.policy())?;
        validate_exchange_audiences(&extensions.exchange_audiences)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn delete_identity_pool(&self, pool_id: &str) -> ServiceResult<()> {
        let id = IdentityPoolId::parse("identityPoolId", pool_id)?;
        let before = self
            .store
            .get_pool(&id)
            .await?
            .map(|stored| pool_json(&stored.pool));
        self.store
            .delete_pool(&id)
            .await
            .map_err(|e| not_found_as_pool(e, &id))?;
        self.forget_pool(&id);
        tracing::info!(pool_id = %id, "identity pool deleted");
        self.audit("DeleteIdentityPool", id.as_str(), before, None)
            .await;
        Ok(())
    }

    pub async fn list_identity_pools(
        &self,
        max_results: i64,
        next_token: Option<&str>,
    ) -> ServiceResult<Page<PoolSummary>> {
        let limit = MaxResults::parse(max_results)?.get();
        let after = next_token.map(PageToken::decode).transpose()?;
        let rows = self
            .store
            .list_pools(after.as_ref().map(PageToken::last_key), limit + 1)
            .await?;
        Ok(Page::from_rows(rows, limit, |p| p.id.as_str()))
    }

    /// Adds or overwrites tags of a pool (TagResource; the AWS face turns the ARN into the id).
    pub async fn tag_pool(&self, pool_id: &str, tags: Tags) -> ServiceResult<()> {
        let id = IdentityPoolId::parse("identityPoolId", pool_id)?;
        validate_tags("tags", &tags)?;
        let before = self.store.get_pool(&id).await?.map(|s| json!(s.pool.tags));
        self.store
            .add_tags(&id, &tags, MAX_TAGS)
            .await
            .map_err(|e| match e {
                // TagResource has no LimitExceededException in its model.
                StoreError::LimitExceeded(message) => ServiceError::InvalidParameter(message),
                other => not_found_as_pool(other, &id),
            })?;
        self.caches.pools.forget(&id);
        let after = self.store.get_pool(&id).await?.map(|s| json!(s.pool.tags));
        self.audit("TagResource", id.as_str(), before, after).await;
        Ok(())
    }

    /// Removes tags of a pool (UntagResource); keys it does not have are ignored.
    pub async fn untag_pool(&self, pool_id: &str, keys: Vec<String>) -> ServiceResult<()> {
        let id = IdentityPoolId::parse("identityPoolId", pool_id)?;
        check_count("tagKeys", keys.len(), MAX_TAGS)?;
        for key in &keys {
            validate_tag_key("tagKeys.member", key)?;
        }
        let before = self.store.get_pool(&id).await?.map(|s| json!(s.pool.tags));
        self.store
            .remove_tags(&id, &keys)
            .await
            .map_err(|e| not_found_as_pool(e, &id))?;
        self.caches.pools.forget(&id);
        let after = self.store.get_pool(&id).await?.map(|s| json!(s.pool.tags));
        self.audit("UntagResource", id.as_str(), before, after)
            .await;
        Ok(())
    }

    /// The tags of a pool (ListTagsForResource).
    pub async fn pool_tags(&self, pool_id: &str) -> ServiceResult<Tags> {
        Ok(self.load_pool(pool_id).await?.pool.tags)
    }

    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn set_identity_pool_roles(
        &self,
        pool_id: &str,
        roles: PoolRoles,
    ) -> ServiceResult<()> {
        let stored = self.load_pool(pool_id).await?;
        roles.validate(&stored.pool.config)?;
        let id = &stored.pool.id;
        self.store
            .set_roles(id, stored.version, &roles, self.clock.now())
            .await
            .map_err(|e| not_found_as_pool(e, id))?;
        self.caches.pools.forget(id);
        self.audit(
            "SetIdentityPoolRoles",
            id.as_str(),
            Some(json!(stored.roles)),
            Some(json!(roles)),
        )
        .await;
        Ok(())
    }

    pub async fn get_identity_pool_roles(
        &self,
        pool_id: &str,
    ) -> ServiceResult<(IdentityPoolId, PoolRoles)> {
        let stored = self.load_pool(pool_id).await?;
        Ok((stored.pool.id, stored.roles))
    }

    pub async fn set_principal_tag_attribute_map(
        &self,
        pool_id: &str,
        provider: &str,
        map: PrincipalTagMap,
    ) -> ServiceResult<(IdentityPoolId, PrincipalTagMap)> {
        let stored = self.load_pool(pool_id).await?;
        map.validate(&stored.pool.config, provider)?;
        let id = stored.pool.id;
        let before = self
            .store
            .get_principal_tag_map(&id, provider)
            .await?
            .map(|m| json!(m));
        self.store
            .put_principal_tag_map(&id, provider, &map)
            .await
            .map_err(|e| not_found_as_pool(e, &id))?;
        let resource = format!("{id}/principal-tags/{provider}");
        self.audit(
            "SetPrincipalTagAttributeMap",
            &resource,
            before,
            Some(json!(map)),
        )
        .await;
        Ok((id, map))
    }

    /// The stored map; a provider without one has no principal tags (UseDefaults false).
    pub async fn get_principal_tag_attribute_map(
        &self,
        pool_id: &str,
        provider: &str,
    ) -> ServiceResult<(IdentityPoolId, PrincipalTagMap)> {
        let stored = self.load_pool(pool_id).await?;
        validate_provider_name(&stored.pool.config, provider)?;
        let id = stored.pool.id;
        let map = self
            .store
            .get_principal_tag_map(&id, provider)
            .await?
            .unwrap_or_default();
        Ok((id, map))
    }
}

/// OpenID Connect and SAML provider ARNs must live in this broker's account (partition `aws`),
/// for pools created, updated or imported alike: a SAML login's key is stored under the ARN the
/// pool names, and the checks that keep a SAML provider's subject source fixed look under that
/// one ARN (docs/behaviour.md, "SAML").
pub(crate) fn check_provider_accounts(
    config: &PoolConfig,
    account: &AccountId,
) -> ServiceResult<()> {
    let kinds = [
        (
            "oidc-provider",
            "an OpenID Connect",
            &config.open_id_connect_provider_arns,
        ),
        ("saml-provider", "a SAML", &config.saml_provider_arns),
    ];
    for (resource, kind, arns) in kinds {
        let ours = format!("arn:aws:iam::{account}:{resource}/");
        if let Some(arn) = arns.iter().find(|arn| !arn.starts_with(&ours)) {
            return Err(ServiceError::InvalidParameter(format!(
                "{arn} is not {kind} provider of account {account} (IDBROKER_ACCOUNT_ID)."
            )));
        }
    }
    Ok(())
}

fn unregistered_provider_message(arn: &str) -> String {
    if arn.contains(":saml-provider/") {
        return format!(
            "{arn} is not a registered SAML provider; register it with POST /v1/saml-providers first."
        );
    }
    format!(
        "{arn} is not a registered OpenID Connect provider; register it with POST /v1/oidc-providers first."
    )
}

/// The store refused an OpenID Connect provider ARN that is not registered.
fn unregistered_provider(err: StoreError) -> ServiceError {
    match err {
        StoreError::UnknownReference(arn) => {
            ServiceError::InvalidParameter(unregistered_provider_message(&arn))
        }
        other => other.into(),
    }
}

/// A `NotFound` from a pool-scoped store call means the pool went away.
fn not_found_as_pool(err: StoreError, id: &IdentityPoolId) -> ServiceError {
    match err {
        StoreError::NotFound => ServiceError::pool_not_found(id),
        other => unregistered_provider(other),
    }
}
