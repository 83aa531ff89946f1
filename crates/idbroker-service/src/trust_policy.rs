//! Trust policies for a pool's roles: the one idbroker recommends, and a check of an existing
//! one (`idbroker_domain::trust_policy` holds the rules; here the pool and its principal-tag
//! maps are read).

use idbroker_domain::trust_policy::{
    self, Expected, Finding, Policy, RoleKind, TrustPolicyDocument,
};
use idbroker_store::StoredPool;

use crate::{Broker, ServiceResult};

impl Broker {
    /// The trust policy `role` (`authenticated` or `unauthenticated`) needs for this pool.
    pub async fn trust_policy(
        &self,
        pool_id: &str,
        role: &str,
    ) -> ServiceResult<TrustPolicyDocument> {
        let role = RoleKind::parse(role)?;
        let pool = self.load_pool(pool_id).await?;
        Ok(self.expected_trust(&pool, role).await?.policy())
    }

    /// Findings on `policy` (a JSON object, or a string holding one, plain or URL-encoded) as
    /// the trust policy of `role` for this pool, and the policy idbroker recommends instead.
    pub async fn check_trust_policy(
        &self,
        pool_id: &str,
        role: &str,
        policy: &serde_json::Value,
    ) -> ServiceResult<(Vec<Finding>, TrustPolicyDocument)> {
        let role = RoleKind::parse(role)?;
        // Parsed before the pool is read: malformed input costs no database call.
        let policy = Policy::from_json(policy)?;
        let pool = self.load_pool(pool_id).await?;
        let expected = self.expected_trust(&pool, role).await?;
        Ok((trust_policy::check(&policy, &expected), expected.policy()))
    }

    async fn expected_trust(&self, pool: &StoredPool, role: RoleKind) -> ServiceResult<Expected> {
        let config = &pool.pool.config;
        let mut maps = Vec::new();
        // Only signed-in identities carry tags, and a developer provider settles it already.
        if role == RoleKind::Authenticated && config.developer_provider_name.is_none() {
            for provider in config.provider_names() {
                if let Some(map) = self
                    .store
                    .get_principal_tag_map(&pool.pool.id, &provider)
                    .await?
                {
                    maps.push(map);
                }
            }
        }
        Ok(Expected {
            issuer: self.issuer.issuer().to_owned(),
            account: self.settings.account_id.clone(),
            pool_id: pool.pool.id.clone(),
            role,
            session_tags: trust_policy::session_tags_may_apply(role, config, &maps),
        })
    }
}
