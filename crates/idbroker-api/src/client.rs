//! A small typed client of the `/v1` face over reqwest, for the CLI and the API tests: one
//! method per route, returning the route's response type, or a `ClientError` carrying the
//! status and the problem body.

use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::{AuditQuery, ChangeList};
use crate::developer::{
    DeveloperTokenRequest, LookupBody, LookupQuery, MergeRequest, UnlinkDeveloperRequest,
};
use crate::explain::{ExplainRequest, Explanation};
use crate::identities::{
    CredentialsBody, CredentialsRequest, IdentityBody, IdentityIdBody, IdentityList,
    IdentityPaging, LoginsBody, PoolCredentialsRequest, TokenBody, UnlinkRequest,
};
use crate::keys::KeyList;
use crate::ledger::{IssuanceList, LedgerQuery};
use crate::oidc_providers::{CreateProvider, ProviderBody, ProviderList, UpdateProvider};
use crate::pools::{
    Paging, PoolList, PoolRequest, PoolResponse, PrincipalTagsBody, RolesBody, TagsBody,
};
use crate::problem::ProblemBody;
use crate::revocation::{RevocationBody, RevokeRequest};
use crate::saml_providers::{
    CreateSamlProvider, SamlProviderBody, SamlProviderList, UpdateSamlProvider,
};
use crate::trust_policy::{
    PolicyDocument, TrustPolicyCheck, TrustPolicyCheckRequest, TrustPolicyQuery, TrustRole,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status; `problem` is its problem+json body, if it
    /// sent one.
    #[error("{} (HTTP {status}): {}", .problem.as_ref().map_or("error", |p| p.title.as_str()), .problem.as_ref().map_or(.body.as_str(), |p| p.detail.as_str()))]
    Status {
        status: u16,
        problem: Option<ProblemBody>,
        body: String,
    },
    /// The cause (reqwest's error) follows in the error chain.
    #[error("cannot reach idbroker")]
    Transport(#[from] reqwest::Error),
    #[error("the endpoint is not a base URL: {0}")]
    Endpoint(String),
    /// A path parameter that no URL can carry (`.`, `..` or empty: clients and proxies
    /// resolve those away, so the call would reach another route).
    #[error("'{0}' cannot be sent as a path parameter")]
    Segment(String),
    /// A success status with a body that is not the route's response type.
    #[error("unexpected response body (HTTP {status}): {message}")]
    Decode { status: u16, message: String },
}

impl ClientError {
    /// The HTTP status of a server's answer (None when there was none).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The problem's kind (`title`), e.g. `ResourceNotFoundException`.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Status {
                problem: Some(p), ..
            } => Some(&p.title),
            _ => None,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// The segments of a route whose last parameter takes the rest of the path (a provider
/// name or key such as `cognito-idp.us-east-1.amazonaws.com/us-east-1_x`): its `/` separate.
fn rest_of_path<'a>(route: &[&'a str], tail: &'a str) -> Vec<&'a str> {
    route.iter().copied().chain(tail.split('/')).collect()
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    admin_token: Option<String>,
}

impl Client {
    /// `endpoint` is the base URL (`http://127.0.0.1:8080`); the admin token is sent as a
    /// bearer token when given (the public routes need none).
    pub fn new(endpoint: &str, admin_token: Option<String>) -> ClientResult<Self> {
        Self::with_http(reqwest::Client::new(), endpoint, admin_token)
    }

    pub fn with_http(
        http: reqwest::Client,
        endpoint: &str,
        admin_token: Option<String>,
    ) -> ClientResult<Self> {
        let base = Url::parse(endpoint).map_err(|e| ClientError::Endpoint(e.to_string()))?;
        if base.cannot_be_a_base() {
            return Err(ClientError::Endpoint(endpoint.to_owned()));
        }
        Ok(Self {
            http,
            base,
            admin_token,
        })
    }

    /// The same client without the admin token (for the public routes).
    pub fn public(&self) -> Self {
        Self {
            admin_token: None,
            ..self.clone()
        }
    }

    /// A URL of `segments`, each percent-encoded whole (a `/` in a pool id or a tag key is
    /// data, not a separator).
    fn url(&self, segments: &[&str]) -> ClientResult<Url> {
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
            return Err(ClientError::Segment((*bad).to_owned()));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::Endpoint(self.base.to_string()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn request(&self, method: Method, segments: &[&str]) -> ClientResult<RequestBuilder> {
        Ok(self.request_to(method, self.url(segments)?))
    }

    /// A request to `url`, with the admin token if this client has one.
    fn request_to(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.admin_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request and reads its response as `T`.
    pub async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> ClientResult<T> {
        let response = checked(request.send().await?).await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            status,
            message: e.to_string(),
        })
    }

    /// Sends a request whose success has no body (204).
    async fn send_empty(&self, request: RequestBuilder) -> ClientResult<()> {
        checked(request.send().await?).await.map(drop)
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> ClientResult<T> {
        self.send(self.request(Method::GET, segments)?).await
    }

    async fn get_query<T: DeserializeOwned, Q: Serialize>(
        &self,
        segments: &[&str],
        query: &Q,
    ) -> ClientResult<T> {
        self.send(self.request(Method::GET, segments)?.query(query))
            .await
    }

    async fn with_body<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> ClientResult<T> {
        self.send(self.request(method, segments)?.json(body)).await
    }

    async fn delete(&self, segments: &[&str]) -> ClientResult<()> {
        self.send_empty(self.request(Method::DELETE, segments)?)
            .await
    }

    // Identity pools.

    pub async fn create_pool(&self, pool: &PoolRequest) -> ClientResult<PoolResponse> {
        self.with_body(Method::POST, &["v1", "identity-pools"], pool)
            .await
    }

    pub async fn list_pools(&self, paging: &Paging) -> ClientResult<PoolList> {
        self.get_query(&["v1", "identity-pools"], paging).await
    }

    pub async fn get_pool(&self, pool_id: &str) -> ClientResult<PoolResponse> {
        self.get(&["v1", "identity-pools", pool_id]).await
    }

    pub async fn replace_pool(
        &self,
        pool_id: &str,
        pool: &PoolRequest,
    ) -> ClientResult<PoolResponse> {
        self.with_body(Method::PUT, &["v1", "identity-pools", pool_id], pool)
            .await
    }

    pub async fn delete_pool(&self, pool_id: &str) -> ClientResult<()> {
        self.delete(&["v1", "identity-pools", pool_id]).await
    }

    pub async fn get_roles(&self, pool_id: &str) -> ClientResult<RolesBody> {
        self.get(&["v1", "identity-pools", pool_id, "roles"]).await
    }

    pub async fn set_roles(&self, pool_id: &str, roles: &RolesBody) -> ClientResult<RolesBody> {
        self.with_body(
            Method::PUT,
            &["v1", "identity-pools", pool_id, "roles"],
            roles,
        )
        .await
    }

    pub async fn get_principal_tags(
        &self,
        pool_id: &str,
        provider: &str,
    ) -> ClientResult<PrincipalTagsBody> {
        self.get(&rest_of_path(
            &["v1", "identity-pools", pool_id, "principal-tags"],
            provider,
        ))
        .await
    }

    pub async fn set_principal_tags(
        &self,
        pool_id: &str,
        provider: &str,
        map: &PrincipalTagsBody,
    ) -> ClientResult<PrincipalTagsBody> {
        self.with_body(
            Method::PUT,
            &rest_of_path(
                &["v1", "identity-pools", pool_id, "principal-tags"],
                provider,
            ),
            map,
        )
        .await
    }

    pub async fn get_tags(&self, pool_id: &str) -> ClientResult<TagsBody> {
        self.get(&["v1", "identity-pools", pool_id, "tags"]).await
    }

    pub async fn add_tags(&self, pool_id: &str, tags: &TagsBody) -> ClientResult<TagsBody> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "tags"],
            tags,
        )
        .await
    }

    pub async fn remove_tag(&self, pool_id: &str, key: &str) -> ClientResult<()> {
        // One segment even if the key holds `/`: the tag route takes one segment.
        let mut url = self.url(&["v1", "identity-pools", pool_id, "tags"])?;
        url.path_segments_mut()
            .map_err(|()| ClientError::Endpoint(self.base.to_string()))?
            .push(key);
        self.send_empty(self.request_to(Method::DELETE, url)).await
    }

    /// A dry run of GetId and GetCredentialsForIdentity for these logins (nothing changes).
    pub async fn explain(
        &self,
        pool_id: &str,
        request: &ExplainRequest,
    ) -> ClientResult<Explanation> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "explain"],
            request,
        )
        .await
    }

    /// The IAM trust policy `role` needs for this pool.
    pub async fn trust_policy(
        &self,
        pool_id: &str,
        role: TrustRole,
    ) -> ClientResult<PolicyDocument> {
        self.get_query(
            &["v1", "identity-pools", pool_id, "trust-policy"],
            &TrustPolicyQuery { role },
        )
        .await
    }

    /// Findings on a role's existing trust policy.
    pub async fn check_trust_policy(
        &self,
        pool_id: &str,
        request: &TrustPolicyCheckRequest,
    ) -> ClientResult<TrustPolicyCheck> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "trust-policy", "check"],
            request,
        )
        .await
    }

    // Identities.

    pub async fn list_identities(
        &self,
        pool_id: &str,
        paging: &IdentityPaging,
    ) -> ClientResult<IdentityList> {
        self.get_query(&["v1", "identity-pools", pool_id, "identities"], paging)
            .await
    }

    pub async fn get_identity(&self, identity_id: &str) -> ClientResult<IdentityBody> {
        self.get(&["v1", "identities", identity_id]).await
    }

    pub async fn delete_identity(&self, identity_id: &str) -> ClientResult<()> {
        self.delete(&["v1", "identities", identity_id]).await
    }

    /// GetId (public).
    pub async fn get_id(&self, pool_id: &str, logins: &LoginsBody) -> ClientResult<IdentityIdBody> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "identities"],
            logins,
        )
        .await
    }

    /// GetOpenIdToken (public).
    pub async fn token(&self, identity_id: &str, logins: &LoginsBody) -> ClientResult<TokenBody> {
        self.with_body(
            Method::POST,
            &["v1", "identities", identity_id, "token"],
            logins,
        )
        .await
    }

    /// GetCredentialsForIdentity (public).
    pub async fn credentials(
        &self,
        identity_id: &str,
        request: &CredentialsRequest,
    ) -> ClientResult<CredentialsBody> {
        self.with_body(
            Method::POST,
            &["v1", "identities", identity_id, "credentials"],
            request,
        )
        .await
    }

    /// GetId and GetCredentialsForIdentity in one request (public).
    pub async fn pool_credentials(
        &self,
        pool_id: &str,
        request: &PoolCredentialsRequest,
    ) -> ClientResult<CredentialsBody> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "credentials"],
            request,
        )
        .await
    }

    /// UnlinkIdentity (public).
    pub async fn unlink(&self, identity_id: &str, request: &UnlinkRequest) -> ClientResult<()> {
        self.send_empty(
            self.request(Method::POST, &["v1", "identities", identity_id, "unlink"])?
                .json(request),
        )
        .await
    }

    // Developer-authenticated identities.

    pub async fn developer_token(
        &self,
        pool_id: &str,
        request: &DeveloperTokenRequest,
    ) -> ClientResult<TokenBody> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "developer", "token"],
            request,
        )
        .await
    }

    pub async fn developer_lookup(
        &self,
        pool_id: &str,
        query: &LookupQuery,
    ) -> ClientResult<LookupBody> {
        self.get_query(
            &["v1", "identity-pools", pool_id, "developer", "lookup"],
            query,
        )
        .await
    }

    pub async fn developer_merge(
        &self,
        pool_id: &str,
        request: &MergeRequest,
    ) -> ClientResult<IdentityIdBody> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "developer", "merge"],
            request,
        )
        .await
    }

    pub async fn developer_unlink(
        &self,
        pool_id: &str,
        request: &UnlinkDeveloperRequest,
    ) -> ClientResult<()> {
        self.send_empty(
            self.request(
                Method::POST,
                &["v1", "identity-pools", pool_id, "developer", "unlink"],
            )?
            .json(request),
        )
        .await
    }

    // OpenID Connect providers.

    pub async fn create_oidc_provider(
        &self,
        provider: &CreateProvider,
    ) -> ClientResult<ProviderBody> {
        self.with_body(Method::POST, &["v1", "oidc-providers"], provider)
            .await
    }

    pub async fn list_oidc_providers(&self) -> ClientResult<ProviderList> {
        self.get(&["v1", "oidc-providers"]).await
    }

    pub async fn get_oidc_provider(&self, key: &str) -> ClientResult<ProviderBody> {
        self.get(&rest_of_path(&["v1", "oidc-providers"], key))
            .await
    }

    pub async fn update_oidc_provider(
        &self,
        key: &str,
        update: &UpdateProvider,
    ) -> ClientResult<ProviderBody> {
        self.with_body(
            Method::PATCH,
            &rest_of_path(&["v1", "oidc-providers"], key),
            update,
        )
        .await
    }

    pub async fn delete_oidc_provider(&self, key: &str) -> ClientResult<()> {
        self.delete(&rest_of_path(&["v1", "oidc-providers"], key))
            .await
    }

    // SAML providers (names are `[\w._-]+`: one path segment).

    pub async fn create_saml_provider(
        &self,
        provider: &CreateSamlProvider,
    ) -> ClientResult<SamlProviderBody> {
        self.with_body(Method::POST, &["v1", "saml-providers"], provider)
            .await
    }

    pub async fn list_saml_providers(&self) -> ClientResult<SamlProviderList> {
        self.get(&["v1", "saml-providers"]).await
    }

    pub async fn get_saml_provider(&self, name: &str) -> ClientResult<SamlProviderBody> {
        self.get(&["v1", "saml-providers", name]).await
    }

    pub async fn update_saml_provider(
        &self,
        name: &str,
        update: &UpdateSamlProvider,
    ) -> ClientResult<SamlProviderBody> {
        self.with_body(Method::PATCH, &["v1", "saml-providers", name], update)
            .await
    }

    pub async fn delete_saml_provider(&self, name: &str) -> ClientResult<()> {
        self.delete(&["v1", "saml-providers", name]).await
    }

    // Signing keys, the ledger, the audit.

    pub async fn list_keys(&self) -> ClientResult<KeyList> {
        self.get(&["v1", "keys"]).await
    }

    pub async fn rotate_keys(&self) -> ClientResult<KeyList> {
        self.send(self.request(Method::POST, &["v1", "keys", "rotate"])?)
            .await
    }

    /// Revokes an identity: no more tokens or credentials until `reenable_identity`.
    pub async fn revoke_identity(
        &self,
        identity_id: &str,
        request: &RevokeRequest,
    ) -> ClientResult<RevocationBody> {
        self.with_body(
            Method::POST,
            &["v1", "identities", identity_id, "revoke"],
            request,
        )
        .await
    }

    pub async fn reenable_identity(&self, identity_id: &str) -> ClientResult<()> {
        self.delete(&["v1", "identities", identity_id, "revoke"])
            .await
    }

    /// Revokes every identity of a pool.
    pub async fn revoke_pool(
        &self,
        pool_id: &str,
        request: &RevokeRequest,
    ) -> ClientResult<RevocationBody> {
        self.with_body(
            Method::POST,
            &["v1", "identity-pools", pool_id, "revoke"],
            request,
        )
        .await
    }

    pub async fn reenable_pool(&self, pool_id: &str) -> ClientResult<()> {
        self.delete(&["v1", "identity-pools", pool_id, "revoke"])
            .await
    }

    pub async fn issuances(&self, query: &LedgerQuery) -> ClientResult<IssuanceList> {
        self.get_query(&["v1", "issuances"], query).await
    }

    pub async fn audit(&self, query: &AuditQuery) -> ClientResult<ChangeList> {
        self.get_query(&["v1", "audit"], query).await
    }
}

/// The response if its status is a success; otherwise its problem as a `ClientError`.
async fn checked(response: Response) -> ClientResult<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(ClientError::Status {
        status: status.as_u16(),
        problem: serde_json::from_str(&body).ok(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_a_provider_key_keeps_its_slashes() {
        let client = Client::new("http://127.0.0.1:8080/", None).unwrap();
        let url = client
            .url(&rest_of_path(
                &["v1", "oidc-providers"],
                "login.example.com/realms/x",
            ))
            .unwrap();
        assert_eq!(url.path(), "/v1/oidc-providers/login.example.com/realms/x");
        // Elsewhere a `/` is data: a pool id cannot reach another route.
        let url = client.url(&["v1", "identity-pools", "p/tags/k1"]).unwrap();
        assert_eq!(url.path(), "/v1/identity-pools/p%2Ftags%2Fk1");
        for dots in [".", "..", ""] {
            assert!(matches!(
                client.url(&["v1", "identity-pools", "p", "tags", dots]),
                Err(ClientError::Segment(_))
            ));
        }
        let url = client
            .url(&["v1", "identity-pools", "us-east-1:abc", "tags", "a b?"])
            .unwrap();
        assert_eq!(url.path(), "/v1/identity-pools/us-east-1:abc/tags/a%20b%3F");
        assert!(Client::new("mailto:x@example.com", None).is_err());
    }
}
