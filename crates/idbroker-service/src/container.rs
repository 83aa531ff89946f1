//! Credentials for a bearer of one of idbroker's own tokens, for the container-credentials
//! endpoint that AWS SDKs read through `AWS_CONTAINER_CREDENTIALS_FULL_URI`: the token alone
//! names the identity (`sub`) and proves it (`aud` its pool), so no identity id or Logins map
//! is sent. It is GetCredentialsForIdentity with that token as the identity's login, so the
//! role, ledger entry, audit and revocation refusal are that operation's own.

use std::collections::BTreeMap;

use idbroker_domain::IdentityId;
use idbroker_sts::AwsCredentials;

use crate::logins::COGNITO_IDENTITY_KEY;
use crate::{Broker, ServiceResult};

impl Broker {
    /// The identity an idbroker token is for, when it is a valid token of ours (signature,
    /// issuer, expiry); `None` otherwise. Whether it is for that identity's pool is checked
    /// when it is used as a login (`own_proof`).
    pub fn own_token_subject(&self, token: &str) -> Option<IdentityId> {
        let claims = self.issuer.verify_own(token, self.clock.now())?;
        let sub = claims.get("sub").and_then(|s| s.as_str())?;
        IdentityId::parse("sub", sub).ok()
    }

    /// GetCredentialsForIdentity for the identity `token` is for, proven by `token`. A token
    /// that is not ours is refused as GetCredentialsForIdentity refuses it (NotAuthorized).
    #[tracing::instrument(skip_all)]
    pub async fn get_credentials_with_own_token(
        &self,
        token: &str,
    ) -> ServiceResult<(IdentityId, AwsCredentials)> {
        let Some(identity) = self.own_token_subject(token) else {
            return Err(crate::ServiceError::NotAuthorized(
                "Invalid login token. Not a valid token from this broker.".into(),
            ));
        };
        let logins = BTreeMap::from([(COGNITO_IDENTITY_KEY.to_owned(), token.to_owned())]);
        self.get_credentials_for_identity(identity.as_str(), &logins, None)
            .await
    }
}
