//! Where the built-in providers live. Each base URL can be overridden in settings, so tests
//! and private deployments can point them at other servers.

use idbroker_domain::login::{BuiltInKeys, KeySource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoints {
    pub google_jwks_url: String,
    pub apple_jwks_url: String,
    pub facebook_jwks_url: String,
    pub facebook_graph_url: String,
    pub amazon_api_url: String,
    /// `{region}` is replaced by the user pool's region.
    pub cognito_idp_url: String,
}

impl Default for ProviderEndpoints {
    fn default() -> Self {
        Self {
            google_jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            apple_jwks_url: "https://appleid.apple.com/auth/keys".into(),
            facebook_jwks_url: "https://limited.facebook.com/.well-known/oauth/openid/jwks/".into(),
            facebook_graph_url: "https://graph.facebook.com".into(),
            amazon_api_url: "https://api.amazon.com".into(),
            cognito_idp_url: "https://cognito-idp.{region}.amazonaws.com".into(),
        }
    }
}

/// Where to fetch an issuer's keys from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyLocation {
    /// A JWKS document at this URL.
    Jwks(String),
    /// OpenID Connect discovery for this issuer, whose `jwks_uri` names the JWKS.
    Discovery { issuer: String },
}

impl ProviderEndpoints {
    pub fn locate(&self, source: &KeySource) -> KeyLocation {
        match source {
            KeySource::BuiltIn(BuiltInKeys::Google) => {
                KeyLocation::Jwks(self.google_jwks_url.clone())
            }
            KeySource::BuiltIn(BuiltInKeys::Apple) => {
                KeyLocation::Jwks(self.apple_jwks_url.clone())
            }
            KeySource::BuiltIn(BuiltInKeys::FacebookLimitedLogin) => {
                KeyLocation::Jwks(self.facebook_jwks_url.clone())
            }
            KeySource::CognitoUserPool {
                region,
                user_pool_id,
            } => KeyLocation::Jwks(format!(
                "{}/{user_pool_id}/.well-known/jwks.json",
                self.cognito_idp_url
                    .replace("{region}", region)
                    .trim_end_matches('/')
            )),
            KeySource::Discovery { issuer } => KeyLocation::Discovery {
                issuer: issuer.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_pool_keys_live_under_the_regional_idp_endpoint() {
        let at = ProviderEndpoints::default().locate(&KeySource::CognitoUserPool {
            region: "eu-west-1".into(),
            user_pool_id: "eu-west-1_abc".into(),
        });
        assert_eq!(
            at,
            KeyLocation::Jwks(
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json"
                    .into()
            )
        );
    }
}
