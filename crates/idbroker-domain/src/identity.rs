//! An identity in a pool, as DescribeIdentity and ListIdentities show it.

use chrono::{DateTime, Utc};

use crate::ids::{IdentityId, IdentityPoolId};
use crate::login::LoginRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: IdentityId,
    pub pool_id: IdentityPoolId,
    /// The linked logins (provider key and subject; never tokens).
    pub logins: Vec<LoginRef>,
    pub created_at: DateTime<Utc>,
    pub last_modified_at: DateTime<Utc>,
    /// Merged-away identities stay listed but can no longer be used (spec §6.4).
    pub disabled: bool,
    /// When a guest last fetched a token or credentials, to the hour; `None`: not since it
    /// was created. Only the idle-guest clean-up reads it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Identity {
    /// The distinct provider keys of the linked logins, as DescribeIdentity lists them.
    pub fn provider_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.logins.iter().map(|l| l.provider.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// When the identity was last known to be in use.
    pub fn last_seen(&self) -> DateTime<Utc> {
        self.last_used_at.unwrap_or(self.created_at)
    }

    /// A guest has never had a login; an identity whose last login was unlinked is disabled.
    pub fn is_guest(&self) -> bool {
        self.logins.is_empty()
    }
}
