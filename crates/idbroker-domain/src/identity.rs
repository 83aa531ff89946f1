//! An identity in a pool, as DescribeIdentity and ListIdentities show it.

use chrono::{DateTime, Utc};

use crate::ids::{IdentityId, IdentityPoolId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: IdentityId,
    pub pool_id: IdentityPoolId,
    /// Provider keys of the linked logins (never tokens).
    pub logins: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_modified_at: DateTime<Utc>,
    /// Merged-away identities stay listed but can no longer be used (reference §6.4).
    pub disabled: bool,
}
