//! The path parameters most routes share, each described once: a handler takes the struct as
//! its `web::Path` and names it in `params(...)`, so the extractor and the document agree.
//! Parameters of one resource only stay beside its handlers.

use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PoolPath {
    /// IdentityPoolId
    pub pool_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdentityPath {
    /// IdentityId
    pub identity_id: String,
}
