//! GetCredentialsForIdentity, the enhanced flow (`docs/spec.md` §6.5–§6.7): resolve the identity,
//! pick the role, mint a token for it, and have STS exchange the token for credentials.

use std::collections::BTreeMap;

use idbroker_domain::IdentityId;
use idbroker_domain::role_resolution::{Caller, RoleError, resolve_role};
use idbroker_domain::roles::validate_role_arn;
use idbroker_store::{Issuance, IssuanceFilter, IssuanceWindow, StoredPool};
use idbroker_sts::{AssumeRequest, AwsCredentials, StsError};

use crate::credential_reuse::{ReuseKey, Session};
use crate::{Broker, Cause, ServiceError, ServiceResult};

/// How idbroker calls STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsSettings {
    /// `RoleSessionName`; Cognito's is `CognitoIdentityCredentials` (it may not contain `:`).
    /// `{identity}` in it stands for the identity id's UUID (`session_name_for`).
    pub role_session_name: String,
    /// `DurationSeconds`, 900–43200.
    pub duration_seconds: i32,
    /// An inline session policy for guests' credentials (off by default).
    pub guest_session_policy: Option<String>,
}

impl Default for StsSettings {
    fn default() -> Self {
        Self {
            role_session_name: "CognitoIdentityCredentials".into(),
            duration_seconds: 3600,
            guest_session_policy: None,
        }
    }
}

impl From<RoleError> for ServiceError {
    fn from(err: RoleError) -> Self {
        match err {
            RoleError::NoRole => {
                Self::InvalidIdentityPoolConfiguration(err.to_string(), Cause::none())
            }
            RoleError::GuestsNotAllowed
            | RoleError::Denied
            | RoleError::Forbidden(_)
            | RoleError::SamlRoleAmbiguous => Self::NotAuthorized(err.to_string()),
        }
    }
}

impl From<StsError> for ServiceError {
    fn from(err: StsError) -> Self {
        match err {
            // STS's own words stay in the log: they describe the account's IAM set-up.
            refused @ StsError::Refused { .. } => Self::InvalidIdentityPoolConfiguration(
                "Invalid identity pool configuration. Check assigned IAM roles for this pool."
                    .into(),
                Cause::of(refused),
            ),
            StsError::Throttled => {
                Self::TooManyRequests("Too many requests to AWS STS; retry later.".into())
            }
            unavailable @ StsError::Unavailable(_) => Self::ExternalService(
                "AWS STS could not be reached.".into(),
                Cause::of(unavailable),
            ),
            other @ (StsError::TokenExpired | StsError::Malformed(_) | StsError::Setup(_)) => {
                Self::Internal(Box::new(other))
            }
        }
    }
}

impl Broker {
    #[tracing::instrument(skip_all, fields(identity_id = %crate::loggable(identity_id)))]
    pub async fn get_credentials_for_identity(
        &self,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
        custom_role_arn: Option<&str>,
    ) -> ServiceResult<(IdentityId, AwsCredentials)> {
        self.issue_credentials(identity_id, logins, custom_role_arn, |_| Ok(()))
            .await
    }

    /// GetCredentialsForIdentity's work. `check_pool` runs once the identity's pool is known
    /// and before anything changes (see `resolve_identity`): the one-shot route uses it to
    /// keep an identity within the pool its path names.
    pub(crate) async fn issue_credentials(
        &self,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
        custom_role_arn: Option<&str>,
        check_pool: impl FnOnce(&StoredPool) -> ServiceResult<()>,
    ) -> ServiceResult<(IdentityId, AwsCredentials)> {
        if let Some(arn) = custom_role_arn {
            validate_role_arn("customRoleArn", arn)?;
        }
        let resolved = self
            .resolve_identity(identity_id, logins, check_pool)
            .await?;
        let pool = &resolved.pool;
        // Proven by idbroker's own token alone: a developer login only when the token says so
        // (its amr names the pool's developer provider); otherwise the identity's providers'
        // mappings still apply.
        let developer = pool
            .pool
            .config
            .developer_provider_name
            .as_ref()
            .is_some_and(|name| resolved.own_amr.contains(name));
        let providers = resolved.identity.provider_keys();
        let caller = if resolved.identity.is_guest() {
            Caller::Guest
        } else if !resolved.verified.is_empty() {
            Caller::Federated(&resolved.verified)
        } else if developer {
            Caller::Developer
        } else {
            Caller::OwnToken(&providers)
        };
        let role = resolve_role(
            caller,
            &pool.roles,
            pool.pool.config.allow_unauthenticated_identities,
            custom_role_arn,
        )?;
        let sts = &self.settings.sts;
        let policy = matches!(caller, Caller::Guest)
            .then(|| sts.guest_session_policy.as_deref())
            .flatten();

        // One name per identity when the setting has `{identity}`: IAM policies can then tell
        // this identity's sessions apart (`aws:userid`), which revocation relies on.
        let session_name = sts.session_name_for(&resolved.identity.id);
        let duration_seconds = match pool.pool.lifetimes.credential_duration_seconds {
            // Validated to 900–43200 when set, so it fits.
            Some(seconds) => i32::try_from(seconds).unwrap_or(sts.duration_seconds),
            None => sts.duration_seconds,
        };
        // The token's claims that shape the session (amr, session tags) are known before it
        // is signed; they are part of the reuse key, the token itself is not.
        let request = self.token_request(&resolved).await?;
        let reuse = pool.pool.lifetimes.credential_reuse().map(|window| {
            let session = Session {
                role_arn: &role,
                session_name: &session_name,
                duration_seconds,
                policy,
                amr: &request.amr,
                tags: &request.tags,
            };
            (
                window,
                ReuseKey::new(&pool.pool.id, &resolved.identity.id, &session),
            )
        });
        if let Some((window, key)) = &reuse
            && let Some(credentials) = self.caches.reuse.get(key, *window, self.clock.now())
        {
            // No new credentials exist, so no ledger entry: the one written when STS gave
            // them still names this identity and access key.
            metrics::counter!("idbroker_credentials_reused_total").increment(1);
            tracing::info!(role = %role, access_key_id = %credentials.access_key_id, "credentials reused");
            return Ok((resolved.identity.id, credentials));
        }
        let mut first_request = Some(request);
        let mut fresh_token_left = true;
        loop {
            let token = match first_request.take() {
                Some(request) => self.mint(request)?,
                None => self.token_for(&resolved).await?,
            };
            let request = AssumeRequest {
                role_arn: &role,
                session_name: &session_name,
                web_identity_token: &token,
                duration_seconds,
                policy,
            };
            match self.sts.assume_role_with_web_identity(request).await {
                Ok(credentials) => {
                    // The ledger is written before the credentials leave: nothing is handed
                    // out unrecorded.
                    self.store
                        .record_issuance(&Issuance {
                            id: uuid::Uuid::new_v4().to_string(),
                            issued_at: self.clock.now(),
                            identity_id: resolved.identity.id.to_string(),
                            pool_id: resolved.pool.pool.id.to_string(),
                            role_arn: role.clone(),
                            access_key_id: credentials.access_key_id.clone(),
                            expires_at: credentials.expiration,
                        })
                        .await?;
                    if let Some((_, key)) = reuse {
                        self.caches.reuse.put(key, &credentials, self.clock.now());
                    }
                    metrics::counter!("idbroker_credentials_issued_total").increment(1);
                    tracing::info!(role = %role, access_key_id = %credentials.access_key_id, "credentials issued");
                    return Ok((resolved.identity.id, credentials));
                }
                // Clocks disagree by a hair: one more try with a token minted now.
                Err(StsError::TokenExpired) if fresh_token_left => fresh_token_left = false,
                Err(err) => return Err(err.into()),
            }
        }
    }
}

impl Broker {
    /// The credential ledger, newest first: which identity held which access key, and when.
    pub async fn find_issuances(
        &self,
        filter: IssuanceFilter,
        window: IssuanceWindow,
        limit: i64,
        cursor: Option<&str>,
    ) -> ServiceResult<crate::Page<Issuance>> {
        let limit = idbroker_domain::MaxResults::parse(limit)?.get();
        let after = cursor.map(idbroker_domain::PageToken::decode).transpose()?;
        let rows = self
            .store
            .find_issuances(
                &filter,
                &window,
                after.as_ref().map(idbroker_domain::PageToken::last_key),
                limit + 1,
            )
            .await?;
        Ok(crate::Page::from_rows(rows, limit, |i| i.id.as_str()))
    }

    /// Drops ledger entries older than the retention period.
    pub async fn prune_ledger(&self) -> ServiceResult<()> {
        let before = self.clock.now() - self.settings.ledger_retention;
        let pruned = self.store.prune_issuances(before).await?;
        if pruned > 0 {
            tracing::info!(pruned, "old credential ledger entries removed");
        }
        Ok(())
    }
}
