//! The audit of admin changes: every mutating admin operation records who made it, what it
//! was, and the resource before and after (as JSON). The actor is set by the face that took
//! the request (`with_actor`) for the duration of that request, so the operations themselves
//! keep their signatures; changes made outside a request (start-up bootstrap, upkeep) are
//! recorded as `system`.

use std::future::Future;

use idbroker_domain::validation::check_len;
use idbroker_domain::{IdentityPool, PoolConfig};
use idbroker_store::{AdminChange, AuditFilter};
use serde_json::{Value, json};

use crate::{Broker, Page, ServiceError, ServiceResult};

tokio::task_local! {
    static ACTOR: String;
}

/// Runs `work` with `actor` as the author of the admin changes it makes.
pub async fn with_actor<F: Future>(actor: String, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}

pub(crate) fn current_actor() -> String {
    ACTOR
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "system".to_owned())
}

/// A pool as the audit shows it: its Cognito shape, plus idbroker's lifetimes and exchange
/// audiences when the pool sets any (so a change of those alone shows in before and after).
pub(crate) fn pool_json(pool: &IdentityPool) -> Value {
    let mut value = serde_json::to_value::<&PoolConfig>(&pool.config).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("IdentityPoolId".into(), json!(pool.id.as_str()));
        map.insert("IdentityPoolTags".into(), json!(pool.tags));
        if !pool.lifetimes.is_unset() {
            map.insert("Lifetimes".into(), json!(pool.lifetimes));
        }
        if !pool.exchange_audiences.is_empty() {
            map.insert("ExchangeAudiences".into(), json!(pool.exchange_audiences));
        }
    }
    value
}

impl Broker {
    /// Records one admin change. The change itself is already committed, so a failure to
    /// record is logged rather than turned into a failed request.
    pub(crate) async fn audit(
        &self,
        action: &str,
        resource: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        let change = AdminChange {
            id: uuid::Uuid::new_v4().to_string(),
            at: self.clock.now(),
            actor: current_actor(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
        };
        if let Err(err) = self.store.record_admin_change(&change).await {
            tracing::error!(error = %err, action, resource, "could not record an admin change in the audit");
        }
    }

    /// The audit, newest first, filtered by resource, actor, action (each an exact match,
    /// 1–2048 characters) and a time range.
    pub async fn find_admin_changes(
        &self,
        filter: &AuditFilter,
        limit: i64,
        cursor: Option<&str>,
    ) -> ServiceResult<Page<AdminChange>> {
        for (field, value) in [
            ("resource", &filter.resource),
            ("actor", &filter.actor),
            ("action", &filter.action),
        ] {
            if let Some(value) = value {
                check_len(field, value, 1, 2048)?;
            }
        }
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since >= until
        {
            return Err(ServiceError::InvalidParameter(
                "since must be before until.".to_owned(),
            ));
        }
        let limit = idbroker_domain::MaxResults::parse(limit)?.get();
        let after = cursor.map(idbroker_domain::PageToken::decode).transpose()?;
        let rows = self
            .store
            .find_admin_changes(
                filter,
                after.as_ref().map(idbroker_domain::PageToken::last_key),
                limit + 1,
            )
            .await?;
        Ok(Page::from_rows(rows, limit, |c| c.id.as_str()))
    }
}
