//! The registry of OpenID Connect providers (the equivalent of IAM OIDC providers): a pool
//! trusts one by naming its ARN in `OpenIdConnectProviderARNs`.

use idbroker_domain::oidc_provider::{OidcProvider, arn_for_key, issuer_key, validate_client_ids};
use idbroker_store::StoreError;

use crate::{Broker, ServiceError, ServiceResult};

/// A registered provider as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredProvider {
    pub arn: String,
    /// The Logins key: the issuer without its scheme.
    pub key: String,
    pub issuer: String,
    pub client_ids: Vec<String>,
}

impl Broker {
    fn registered(&self, provider: OidcProvider) -> RegisteredProvider {
        let key = issuer_key(&provider.issuer).to_owned();
        RegisteredProvider {
            arn: arn_for_key(&self.settings.account_id, &key),
            key,
            issuer: provider.issuer,
            client_ids: provider.client_ids,
        }
    }

    fn provider_not_found(key: &str) -> ServiceError {
        ServiceError::ResourceNotFound(format!("OpenID Connect provider '{key}' not found."))
    }

    pub async fn create_oidc_provider(
        &self,
        issuer: &str,
        client_ids: Vec<String>,
    ) -> ServiceResult<RegisteredProvider> {
        let provider = OidcProvider::new(issuer, client_ids, self.settings.allow_http_issuers)?;
        self.store
            .create_oidc_provider(&provider, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => ServiceError::ResourceConflict(format!(
                    "An OpenID Connect provider for {} already exists.",
                    provider.issuer
                )),
                other => other.into(),
            })?;
        tracing::info!(issuer = %provider.issuer, "OpenID Connect provider registered");
        let registered = self.registered(provider);
        self.audit(
            "CreateOidcProvider",
            &registered.arn,
            None,
            Some(provider_json(&registered)),
        )
        .await;
        Ok(registered)
    }

    /// This replica's key cache for a registered provider (`None`: no token of it checked
    /// since start-up), for the admin console.
    pub fn oidc_key_cache(&self, issuer: &str) -> Option<crate::KeyCacheState> {
        self.verifier.discovery_key_cache(issuer)
    }

    pub async fn list_oidc_providers(&self) -> ServiceResult<Vec<RegisteredProvider>> {
        let providers = self.store.list_oidc_providers().await?;
        Ok(providers.into_iter().map(|p| self.registered(p)).collect())
    }

    pub async fn get_oidc_provider(&self, key: &str) -> ServiceResult<RegisteredProvider> {
        let provider = self
            .store
            .get_oidc_provider(key)
            .await?
            .ok_or_else(|| Self::provider_not_found(key))?;
        Ok(self.registered(provider))
    }

    pub async fn update_oidc_provider_client_ids(
        &self,
        key: &str,
        client_ids: Vec<String>,
    ) -> ServiceResult<RegisteredProvider> {
        validate_client_ids(&client_ids)?;
        let before = self
            .get_oidc_provider(key)
            .await
            .ok()
            .map(|p| provider_json(&p));
        self.store
            .update_oidc_client_ids(key, &client_ids, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Self::provider_not_found(key),
                other => other.into(),
            })?;
        let after = self.get_oidc_provider(key).await?;
        self.audit(
            "UpdateOidcProvider",
            &after.arn,
            before,
            Some(provider_json(&after)),
        )
        .await;
        Ok(after)
    }

    /// Refused while a pool uses the provider: detaching it silently would lock users out.
    pub async fn delete_oidc_provider(&self, key: &str) -> ServiceResult<()> {
        let before = self.get_oidc_provider(key).await.ok();
        self.store.delete_oidc_provider(key).await.map_err(|e| match e {
            StoreError::NotFound => Self::provider_not_found(key),
            StoreError::Conflict { .. } => ServiceError::ResourceConflict(format!(
                "OpenID Connect provider '{key}' is used by an identity pool; remove it from the pool's OpenIdConnectProviderARNs first."
            )),
            other => other.into(),
        })?;
        tracing::info!(key, "OpenID Connect provider deleted");
        let arn = arn_for_key(&self.settings.account_id, key);
        self.audit(
            "DeleteOidcProvider",
            &arn,
            before.map(|p| provider_json(&p)),
            None,
        )
        .await;
        Ok(())
    }
}

fn provider_json(p: &RegisteredProvider) -> serde_json::Value {
    serde_json::json!({"arn": p.arn, "issuer": p.issuer, "client_ids": p.client_ids})
}
