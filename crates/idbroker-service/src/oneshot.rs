//! One-shot credentials: GetId and GetCredentialsForIdentity in one call, for clients without
//! a Cognito SDK (the command line's `credentials`, an AWS `credential_process`). It runs the
//! two operations' own code one after the other, so their rules, errors, per-pool limit,
//! ledger entry and audit are the same as when a client makes the two calls.

use std::collections::BTreeMap;

use idbroker_domain::roles::validate_role_arn;
use idbroker_domain::{IdentityId, IdentityPoolId};
use idbroker_sts::AwsCredentials;

use crate::{Broker, ServiceError, ServiceResult};

impl Broker {
    /// Credentials for pool `pool_id`. Without `identity_id` this is GetId (`logins`, or a new
    /// guest, charged to the pool's limit through `admit` as GetId is) followed by
    /// GetCredentialsForIdentity on the identity it returns. With `identity_id` it is
    /// GetCredentialsForIdentity on that identity (a guest used again, or logins linked to it,
    /// as that operation does), refused unless the identity belongs to `pool_id`.
    ///
    /// As with the two calls, a new guest whose credentials are then refused (no role for
    /// guests, STS refusing the role) stays behind, unused; the idle-guest clean-up takes it.
    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn get_credentials_for_pool(
        &self,
        pool_id: &str,
        identity_id: Option<&str>,
        logins: &BTreeMap<String, String>,
        custom_role_arn: Option<&str>,
        admit: impl FnOnce(&IdentityPoolId) -> Result<(), u64>,
    ) -> ServiceResult<(IdentityId, AwsCredentials)> {
        // GetCredentialsForIdentity's own first check, made before GetId too, so that a call
        // refused for it creates no guest.
        if let Some(arn) = custom_role_arn {
            validate_role_arn("customRoleArn", arn)?;
        }
        let Some(identity_id) = identity_id else {
            let id = self.get_id(pool_id, None, logins, admit).await?;
            return self
                .issue_credentials(id.as_str(), logins, custom_role_arn, |_| Ok(()))
                .await;
        };
        // The identity id is checked first, as GetCredentialsForIdentity checks it.
        let wanted = IdentityId::parse("identityId", identity_id)?;
        let pool = IdentityPoolId::parse("identityPoolId", pool_id)?;
        self.issue_credentials(identity_id, logins, custom_role_arn, |stored| {
            if stored.pool.id == pool {
                Ok(())
            } else {
                Err(ServiceError::ResourceNotFound(format!(
                    "Identity '{wanted}' not found in identity pool '{pool}'."
                )))
            }
        })
        .await
    }
}
