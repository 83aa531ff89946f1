//! Revocation: an admin stops an identity, or every identity of a pool, from getting tokens
//! and credentials (GetOpenIdToken, GetCredentialsForIdentity, the developer token), until
//! re-enabled. AWS credentials already issued cannot be recalled, so the answer carries the
//! IAM policy that denies their use, to attach to the pool's roles (`docs/aws-iam.md`,
//! "Revoking access"), and the access keys the ledger recorded that may still be live.
//!
//! The record is read from the store on every public call that issues something, never from
//! the per-replica pool copy (`cache`), so a revocation holds on every replica at once.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use idbroker_api::revocation::{
    LiveCredential, MAX_LIVE_CREDENTIALS, RevocationBody, RevocationScope as ScopeBody,
    RevokeRequest,
};
use idbroker_domain::{IdentityId, IdentityPoolId};
use idbroker_store::{IssuanceFilter, IssuanceWindow, Revocation, RevocationScope, StoredPool};
use serde_json::{Value, json};

use crate::audit::current_actor;
use crate::credentials::StsSettings;
use crate::{Broker, ServiceError, ServiceResult};

/// Cognito's answer for an identity it will not serve (a disabled one); a revoked identity
/// gets the same, so a client cannot tell the two apart.
pub(crate) fn forbidden(id: &IdentityId) -> ServiceError {
    ServiceError::NotAuthorized(format!("Access to Identity '{id}' is forbidden."))
}

/// Parses an admin-supplied RFC 3339 instant.
pub fn parse_instant(field: &str, text: &str) -> ServiceResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ServiceError::InvalidParameter(format!(
                "{field} must be an RFC 3339 instant such as 2030-01-31T12:00:00Z, not '{}'.",
                crate::loggable(text)
            ))
        })
}

/// Up to the next whole second: IAM compares `aws:TokenIssueTime` in seconds, and a session
/// issued in the same second as an instant cut down would escape a `DateLessThan`.
fn whole_second_up(at: DateTime<Utc>) -> DateTime<Utc> {
    let down = at.trunc_subsecs(0);
    if down == at {
        at
    } else {
        down + TimeDelta::seconds(1)
    }
}

/// ISO 8601 UTC as IAM's date conditions take it.
fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The IAM policy that denies every action to sessions issued before `before`; with a session
/// name, only to sessions of that name (`aws:userid` of an assumed-role session is
/// `<role id>:<role session name>`).
pub fn deny_policy(session_name: Option<&str>, before: DateTime<Utc>) -> Value {
    let mut condition = json!({"DateLessThan": {"aws:TokenIssueTime": iso(before)}});
    if let Some(name) = session_name {
        condition["StringLike"] = json!({"aws:userid": format!("*:{name}")});
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": condition,
        }],
    })
}

/// The roles a pool names: its default roles and the roles of its rules.
fn pool_roles(pool: &StoredPool) -> Vec<String> {
    let mut roles: BTreeSet<String> = pool.roles.roles.values().cloned().collect();
    for mapping in pool.roles.role_mappings.values() {
        if let Some(rules) = &mapping.rules_configuration {
            roles.extend(rules.rules.iter().map(|r| r.role_arn.clone()));
        }
    }
    roles.into_iter().collect()
}

fn revocation_json(r: &Revocation) -> Value {
    json!({
        "scope": r.scope.as_str(),
        "target": r.target,
        "revoked_before": iso(r.revoked_before),
    })
}

impl StsSettings {
    /// The `RoleSessionName` for an identity: the setting with `{identity}` replaced by the
    /// identity id after its region (a UUID: the region's `:` is not allowed in the name).
    pub fn session_name_for(&self, identity: &IdentityId) -> String {
        let unique = identity
            .as_str()
            .split_once(':')
            .map_or(identity.as_str(), |(_, uuid)| uuid);
        self.role_session_name.replace(IDENTITY_PLACEHOLDER, unique)
    }

    /// Whether the session name tells identities apart (it contains `{identity}`).
    pub fn names_identity(&self) -> bool {
        self.role_session_name.contains(IDENTITY_PLACEHOLDER)
    }
}

/// The placeholder of `IDBROKER_STS_ROLE_SESSION_NAME` replaced by the identity's UUID.
pub const IDENTITY_PLACEHOLDER: &str = "{identity}";

impl Broker {
    /// Refuses an identity that is revoked, itself or through its pool. One lookup by primary
    /// key in the store, on every call: never the pool cache.
    pub(crate) async fn check_not_revoked(
        &self,
        identity: &IdentityId,
        pool: &IdentityPoolId,
    ) -> ServiceResult<()> {
        if let Some(revocation) = self.store.revocation_of(identity, pool).await? {
            tracing::info!(scope = revocation.scope.as_str(), "refused: revoked");
            return Err(forbidden(identity));
        }
        Ok(())
    }

    /// Revokes one identity (see the module's documentation).
    #[tracing::instrument(skip_all, fields(identity_id = %crate::loggable(identity_id)))]
    pub async fn revoke_identity(
        &self,
        identity_id: &str,
        request: &RevokeRequest,
    ) -> ServiceResult<RevocationBody> {
        let id = IdentityId::parse("identityId", identity_id)?;
        let identity = self
            .store
            .get_identity(&id)
            .await?
            .ok_or_else(|| ServiceError::identity_not_found(&id))?;
        let pool = self.load_pool(identity.pool_id.as_str()).await?;
        self.revoke(Some(&id), &pool, request).await
    }

    /// Revokes every identity of a pool.
    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn revoke_pool(
        &self,
        pool_id: &str,
        request: &RevokeRequest,
    ) -> ServiceResult<RevocationBody> {
        let pool = self.load_pool(pool_id).await?;
        self.revoke(None, &pool, request).await
    }

    async fn revoke(
        &self,
        identity: Option<&IdentityId>,
        pool: &StoredPool,
        request: &RevokeRequest,
    ) -> ServiceResult<RevocationBody> {
        let now = self.clock.now();
        let before = match &request.before {
            Some(text) => parse_instant("before", text)?,
            None => now,
        };
        let before = whole_second_up(before);
        let pool_id = &pool.pool.id;
        let (scope, target, action) = match identity {
            Some(id) => (RevocationScope::Identity, id.as_str(), "RevokeIdentity"),
            None => (
                RevocationScope::Pool,
                pool_id.as_str(),
                "RevokeIdentityPool",
            ),
        };
        let record = Revocation {
            scope,
            target: target.to_owned(),
            revoked_before: before,
            created_at: now,
            actor: current_actor(),
        };
        let previous = self.store.put_revocation(&record).await?;
        // Every call checks revocations first, so nothing here would be served anyway; but a
        // later re-enable must not bring back credentials issued before the revocation (the
        // deny policy below refuses them).
        match identity {
            Some(id) => self.forget_identity(id),
            None => self.forget_pool(pool_id),
        }
        self.audit(
            action,
            target,
            previous.as_ref().map(revocation_json),
            Some(revocation_json(&record)),
        )
        .await;
        tracing::warn!(
            scope = scope.as_str(),
            revoked_before = %iso(before),
            "revoked: no more tokens or credentials until re-enabled"
        );

        let roles = pool_roles(pool);
        let mut notes = Vec::new();
        let pool_policy = deny_policy(None, before);
        let (deny, offered) = match identity {
            None => {
                notes.push(format!(
                    "The policy denies every session of each role issued before {}: roles shared with other pools or other principals lose those sessions too.",
                    iso(before)
                ));
                (Some(pool_policy), None)
            }
            Some(id) if self.settings.sts.names_identity() => {
                let name = self.settings.sts.session_name_for(id);
                (Some(deny_policy(Some(&name), before)), None)
            }
            Some(_) => {
                notes.push(format!(
                    "Sessions already issued cannot be told apart: every identity's credentials carry the role session name '{}'. idbroker refuses new tokens and credentials for this identity; to cut off its live sessions, attach pool_deny_policy (it denies every session of the roles issued before {}), and set IDBROKER_STS_ROLE_SESSION_NAME to include {{identity}} so that later revocations can name one identity.",
                    self.settings.sts.role_session_name,
                    iso(before)
                ));
                (None, Some(pool_policy))
            }
        };
        if pool
            .roles
            .role_mappings
            .values()
            .any(|m| m.rules_configuration.is_none())
        {
            notes.push(
                "A Token role mapping lets tokens name their role (cognito:roles): attach the policy to those roles too.".to_owned(),
            );
        }

        // Credentials that may still be in use: not expired now.
        let filter = match identity {
            Some(id) => IssuanceFilter::IdentityId(id.to_string()),
            None => IssuanceFilter::PoolId(pool_id.to_string()),
        };
        let window = IssuanceWindow {
            issued_since: None,
            live_at: Some(now),
        };
        let limit = u32::try_from(MAX_LIVE_CREDENTIALS + 1).unwrap_or(u32::MAX);
        let mut live = self
            .store
            .find_issuances(&filter, &window, None, limit)
            .await?;
        let truncated = live.len() > MAX_LIVE_CREDENTIALS;
        live.truncate(MAX_LIVE_CREDENTIALS);

        Ok(RevocationBody {
            scope: match scope {
                RevocationScope::Identity => ScopeBody::Identity,
                RevocationScope::Pool => ScopeBody::Pool,
            },
            identity_id: identity.map(ToString::to_string),
            identity_pool_id: pool_id.to_string(),
            revoked_before: iso(before),
            replaced: previous.is_some(),
            deny_policy: deny,
            pool_deny_policy: offered,
            roles,
            notes,
            live_credentials: live
                .into_iter()
                .map(|i| LiveCredential {
                    access_key_id: i.access_key_id,
                    identity_id: i.identity_id,
                    role_arn: i.role_arn,
                    issued_at: i.issued_at.to_rfc3339(),
                    expires_at: i.expires_at.to_rfc3339(),
                })
                .collect(),
            live_credentials_truncated: truncated,
        })
    }

    /// Re-enables a revoked identity: tokens and credentials are served again.
    /// `ResourceNotFound` if it is not revoked (its pool's revocation is the pool's to lift).
    #[tracing::instrument(skip_all, fields(identity_id = %crate::loggable(identity_id)))]
    pub async fn reenable_identity(&self, identity_id: &str) -> ServiceResult<()> {
        let id = IdentityId::parse("identityId", identity_id)?;
        self.reenable(RevocationScope::Identity, id.as_str(), "ReenableIdentity")
            .await
    }

    /// Re-enables a revoked pool.
    #[tracing::instrument(skip_all, fields(pool_id = %crate::loggable(pool_id)))]
    pub async fn reenable_pool(&self, pool_id: &str) -> ServiceResult<()> {
        let id = IdentityPoolId::parse("identityPoolId", pool_id)?;
        self.reenable(RevocationScope::Pool, id.as_str(), "ReenableIdentityPool")
            .await
    }

    async fn reenable(
        &self,
        scope: RevocationScope,
        target: &str,
        action: &str,
    ) -> ServiceResult<()> {
        let Some(previous) = self.store.delete_revocation(scope, target).await? else {
            let what = match scope {
                RevocationScope::Identity => "Identity",
                RevocationScope::Pool => "Identity pool",
            };
            return Err(ServiceError::ResourceNotFound(format!(
                "{what} '{target}' is not revoked."
            )));
        };
        self.audit(action, target, Some(revocation_json(&previous)), None)
            .await;
        tracing::info!(scope = scope.as_str(), "re-enabled");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_up_to_whole_seconds() {
        let at = |s: &str| parse_instant("before", s).unwrap();
        assert_eq!(
            whole_second_up(at("2030-01-01T00:00:00.001Z")),
            at("2030-01-01T00:00:01Z")
        );
        assert_eq!(
            whole_second_up(at("2030-01-01T00:00:05Z")),
            at("2030-01-01T00:00:05Z")
        );
        assert_eq!(iso(at("2030-01-01T01:00:05+01:00")), "2030-01-01T00:00:05Z");
        assert!(parse_instant("before", "yesterday").is_err());
    }

    #[test]
    fn the_session_name_names_the_identity_by_its_uuid() {
        let id = IdentityId::parse(
            "identityId",
            "us-east-1:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        )
        .unwrap();
        let sts = StsSettings {
            role_session_name: "idb-{identity}".into(),
            ..StsSettings::default()
        };
        assert!(sts.names_identity());
        assert_eq!(
            sts.session_name_for(&id),
            "idb-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        );
        let plain = StsSettings::default();
        assert!(!plain.names_identity());
        assert_eq!(plain.session_name_for(&id), "CognitoIdentityCredentials");
    }
}
