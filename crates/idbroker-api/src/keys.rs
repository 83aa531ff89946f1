//! `/v1/keys`: idbroker's signing keys (public data only).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Current,
    /// No longer signing; published until the tokens it signed have expired.
    Retiring,
}

impl KeyState {
    /// The name as it is serialised (`next`, `current`, `retiring`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retiring => "retiring",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyBody {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub created_at: String,
    pub signs_from: String,
    pub signs_until: Option<String>,
    pub published_until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyBody>,
}
