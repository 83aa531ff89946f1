//! The error body of every REST route: `application/problem+json` (RFC 9457).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The problem document. `title` is the error kind, named as on the AWS face.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProblemBody {
    /// `urn:idbroker:error:<kind>`.
    #[serde(rename = "type")]
    pub kind_uri: String,
    /// The error kind, named as on the AWS face (e.g. `ResourceNotFoundException`).
    pub title: String,
    pub status: u16,
    pub detail: String,
}
