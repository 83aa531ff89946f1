//! GetOpenIdToken and idbroker's tokens through the AWS face, checked by an independent
//! verifier over discovery + JWKS (`docs/spec.md` behaviours 13–14, 30, 33–43, 61).

use aws_sdk_cognitoidentity::types::{AmbiguousRoleResolutionType, RoleMapping, RoleMappingType};
use idbroker_store::Backend;
use serde_json::{Value, json};

use crate::helpers::{ACCOUNT, REGION, TestApp, code, free_port, message, spawn_app_with};
use crate::idp::{TestIdp, TestKey, claims};
use crate::verify::verify;

const GOOGLE: &str = "accounts.google.com";

crate::helpers::on_both_backends!(
    discovery_and_jwks_describe_the_issuer,
    every_url_the_discovery_document_names_answers,
    a_guest_token_is_unauthenticated_and_lasts_ten_minutes,
    a_federated_token_names_its_provider_in_amr,
    a_guest_that_brings_a_login_keeps_its_id_and_becomes_authenticated,
    a_login_owned_elsewhere_merges_the_guest_into_its_owner,
    authenticated_identities_need_their_logins_and_unknown_ones_are_not_found,
    the_classic_flow_follows_allow_classic_flow_and_role_mappings,
    principal_tag_maps_become_session_tags,
    the_jwks_alias_serves_the_same_keys_and_both_may_be_cached,
);

pub struct World {
    pub app: TestApp,
    pub issuer: String,
    /// Kept alive for the test's duration: it serves the provider keys.
    pub _idp: TestIdp,
    pub key: TestKey,
    pub pool: String,
}

pub async fn world(backend: Backend) -> World {
    let key = TestKey::rsa("rsa-a", "key-a");
    let idp = TestIdp::start(&[&key]).await;
    let port = free_port();
    let base = idp.base.clone();
    let app = spawn_app_with(backend, |url| {
        crate::helpers::settings_with_idp_on(url, &base, port)
    })
    .await;
    let pool = app
        .create_pool_with("tokens", true, |pool| {
            pool.supported_login_providers(GOOGLE, "google-client")
                .developer_provider_name("login.myapp")
        })
        .await;
    World {
        issuer: format!("http://127.0.0.1:{port}"),
        app,
        _idp: idp,
        key,
        pool,
    }
}

impl World {
    pub fn google(&self, sub: &str) -> String {
        self.key
            .sign(&claims("https://accounts.google.com", "google-client", sub))
    }

    /// The identity GetId finds (or makes) for a Google login of `sub`.
    pub async fn google_identity(&self, sub: &str) -> String {
        let token = self.google(sub);
        let found = self.app.get_id(&self.pool, &[(GOOGLE, &token)]).await;
        found.unwrap().identity_id.unwrap()
    }

    pub async fn guest(&self) -> String {
        self.app.guest(&self.pool).await
    }

    pub async fn open_id_token(
        &self,
        identity: &str,
        logins: &[(&str, String)],
    ) -> Result<(String, String), (String, String)> {
        let mut call = self.app.sdk.get_open_id_token().identity_id(identity);
        for (k, v) in logins {
            call = call.logins(*k, v);
        }
        call.send()
            .await
            .map(|o| (o.identity_id.unwrap(), o.token.unwrap()))
            .map_err(|e| (code(&e), message(&e)))
    }

    pub async fn verified(&self, token: &str) -> std::collections::BTreeMap<String, Value> {
        verify(&self.issuer, token, &self.pool)
            .await
            .expect("the token verifies against the published JWKS")
    }
}

async fn discovery_and_jwks_describe_the_issuer(backend: Backend) {
    let w = world(backend).await;
    let res = reqwest::get(format!("{}/.well-known/openid-configuration", w.issuer))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let doc: Value = res.json().await.unwrap();
    let res = reqwest::get(format!("{}/.well-known/jwks.json", w.issuer));
    let jwks: Value = res.await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    // Exactly the members that are true of idbroker: no endpoint it does not serve
    // (`docs/behaviour.md`, "idbroker as an OpenID Connect issuer").
    assert_eq!(
        doc,
        json!({
            "issuer": w.issuer,
            "jwks_uri": format!("{}/.well-known/jwks.json", w.issuer),
            "token_endpoint": format!("{}/oauth2/token", w.issuer),
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            // The algorithm of the published key (the tests sign with ES256).
            "id_token_signing_alg_values_supported": [keys[0]["alg"]],
            "claims_supported": [
                "iss", "aud", "sub", "amr", "iat", "exp", "jti",
                format!("{}/identity-pool-arn", w.issuer),
                "https://aws.amazon.com/tags",
            ],
        })
    );
    let key = &keys[0];
    for field in ["kty", "kid", "alg"] {
        assert!(key[field].is_string(), "{field} missing from {key}");
    }
    assert_eq!(key["use"], "sig");
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(
            key.get(private).is_none(),
            "private part {private} published"
        );
    }
}

/// The "discovery endpoints all answering": every member of the discovery document
/// whose value is a URL (an endpoint, the JWKS, the issuer itself) answers, so a relying party
/// that follows the document never meets a 404. Documents answer a GET with 2xx. The token
/// endpoint is POST-only (OAuth requires POST there, RFC 6749 §3.2), so a GET to it must be
/// 405 with `Allow: POST` — it exists — and an empty POST an OAuth error, not a 404. Claim
/// names in `claims_supported` are names, not places, and are not fetched.
async fn every_url_the_discovery_document_names_answers(backend: Backend) {
    let w = world(backend).await;
    let doc: Value = reqwest::get(format!("{}/.well-known/openid-configuration", w.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urls: Vec<(&String, &str)> = doc
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(member, value)| Some((member, value.as_str()?)))
        .filter(|(_, value)| value.starts_with("http://") || value.starts_with("https://"))
        .collect();
    let members: Vec<&str> = urls.iter().map(|(m, _)| m.as_str()).collect();
    assert!(
        members.contains(&"issuer") && members.contains(&"jwks_uri"),
        "the walk found the URLs: {members:?}"
    );
    // Anything that looks like a place must be one of the URLs walked.
    for member in doc.as_object().unwrap().keys() {
        if member.ends_with("_endpoint") || member.ends_with("_uri") {
            assert!(members.contains(&member.as_str()), "{member} is not a URL");
        }
    }
    assert!(
        members.contains(&"token_endpoint"),
        "the walk found the token endpoint: {members:?}"
    );
    for (member, url) in urls {
        let res = reqwest::get(url).await.unwrap();
        if member == "token_endpoint" {
            assert_eq!(res.status(), 405, "{member} = {url}");
            assert_eq!(res.headers()["allow"], "POST");
            let res = reqwest::Client::new().post(url).send().await.unwrap();
            assert_eq!(res.status(), 400, "{member} = {url} answers a POST");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{body}");
            continue;
        }
        assert!(
            res.status().is_success(),
            "{member} = {url} answers {}",
            res.status()
        );
    }
}

async fn a_guest_token_is_unauthenticated_and_lasts_ten_minutes(backend: Backend) {
    let w = world(backend).await;
    let guest = w.guest().await;
    let (id, token) = w.open_id_token(&guest, &[]).await.unwrap();
    assert_eq!(id, guest);
    let c = w.verified(&token).await;
    assert_eq!(c["sub"], guest.as_str());
    assert_eq!(c["aud"], w.pool.as_str());
    assert_eq!(c["iss"], w.issuer.as_str());
    assert_eq!(c["amr"], json!(["unauthenticated"]));
    let (iat, exp) = (
        c["iat"].as_i64().expect("integer iat"),
        c["exp"].as_i64().expect("integer exp"),
    );
    assert_eq!(exp - iat, 600);
    assert!(c["jti"].is_string());
    assert_eq!(
        c[&format!("{}/identity-pool-arn", w.issuer)],
        format!(
            "arn:aws:cognito-identity:{REGION}:{ACCOUNT}:identitypool/{}",
            w.pool
        )
    );
    assert!(token.len() < 20_000);
}

async fn a_federated_token_names_its_provider_in_amr(backend: Backend) {
    let w = world(backend).await;
    let id = w.google_identity("ann").await;
    let (same, token) = w
        .open_id_token(&id, &[(GOOGLE, w.google("ann"))])
        .await
        .unwrap();
    assert_eq!(same, id);
    let c = w.verified(&token).await;
    let amr: Vec<&str> = c["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        amr.contains(&"authenticated") && amr.contains(&GOOGLE),
        "{amr:?}"
    );
}

async fn a_guest_that_brings_a_login_keeps_its_id_and_becomes_authenticated(backend: Backend) {
    let w = world(backend).await;
    let guest = w.guest().await;
    let (id, _) = w
        .open_id_token(&guest, &[(GOOGLE, w.google("ben"))])
        .await
        .unwrap();
    assert_eq!(id, guest, "the guest keeps its id (behaviours 30 and 33)");
    let described = w.app.describe_identity(&guest).await.unwrap();
    assert_eq!(described.logins(), [GOOGLE.to_owned()]);
    // Now authenticated: GetId for that login finds it.
    assert_eq!(w.google_identity("ben").await, guest);
}

async fn a_login_owned_elsewhere_merges_the_guest_into_its_owner(backend: Backend) {
    let w = world(backend).await;
    let owner = w.google_identity("cy").await;
    let guest = w.guest().await;
    let (id, _) = w
        .open_id_token(&guest, &[(GOOGLE, w.google("cy"))])
        .await
        .unwrap();
    assert_eq!(
        id, owner,
        "the response names the surviving identity (behaviour 32)"
    );
    let (code, msg) = w.open_id_token(&guest, &[]).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException");
    assert_eq!(
        msg,
        format!("Access to Identity '{guest}' is forbidden."),
        "behaviour 34"
    );
}

async fn authenticated_identities_need_their_logins_and_unknown_ones_are_not_found(
    backend: Backend,
) {
    let w = world(backend).await;
    let id = w.google_identity("dee").await;
    let (code, _) = w.open_id_token(&id, &[]).await.unwrap_err();
    assert_eq!(code, "NotAuthorizedException", "behaviour 35");
    let (code, _) = w
        .open_id_token(&id, &[(GOOGLE, w.google("someone-else"))])
        .await
        .unwrap_err();
    assert_eq!(
        code, "ResourceConflictException",
        "another user of the same provider"
    );
    let ghost = format!("{REGION}:{}", uuid::Uuid::new_v4());
    let (code, _) = w.open_id_token(&ghost, &[]).await.unwrap_err();
    assert_eq!(code, "ResourceNotFoundException", "behaviour 36");
}

async fn the_classic_flow_follows_allow_classic_flow_and_role_mappings(backend: Backend) {
    let w = world(backend).await;
    let guest = w.guest().await;
    w.open_id_token(&guest, &[])
        .await
        .expect("absent AllowClassicFlow allows it (behaviour 13)");

    // UpdateIdentityPool keeping the world's pool as it is, but for AllowClassicFlow.
    let classic_flow = |allowed: bool| {
        let call = w.app.sdk.update_identity_pool().identity_pool_id(&w.pool);
        call.identity_pool_name("tokens")
            .allow_unauthenticated_identities(true)
            .supported_login_providers(GOOGLE, "google-client")
            .allow_classic_flow(allowed)
            .send()
    };
    classic_flow(false).await.unwrap();
    let (code, msg) = w.open_id_token(&guest, &[]).await.unwrap_err();
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(
        msg,
        "Basic (classic) flow is not enabled, please use enhanced flow."
    );

    classic_flow(true).await.unwrap();
    w.app
        .sdk
        .set_identity_pool_roles()
        .identity_pool_id(&w.pool)
        .roles("authenticated", "arn:aws:iam::123456789012:role/auth")
        .role_mappings(
            GOOGLE,
            RoleMapping::builder()
                .r#type(RoleMappingType::Token)
                .ambiguous_role_resolution(AmbiguousRoleResolutionType::AuthenticatedRole)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (code, msg) = w.open_id_token(&guest, &[]).await.unwrap_err();
    assert_eq!(code, "InvalidParameterException");
    assert_eq!(
        msg,
        "Basic (classic) flow is not supported with RoleMappings, please use enhanced flow."
    );
}

async fn principal_tag_maps_become_session_tags(backend: Backend) {
    let w = world(backend).await;
    w.app
        .sdk
        .set_principal_tag_attribute_map()
        .identity_pool_id(&w.pool)
        .identity_provider_name(GOOGLE)
        .use_defaults(true)
        .principal_tags("email", "email")
        .send()
        .await
        .unwrap();
    let mut c = claims("https://accounts.google.com", "google-client", "eve");
    c["email"] = json!("eve@example.com");
    let token = w.key.sign(&c);
    let id = w
        .app
        .get_id(&w.pool, &[(GOOGLE, token.as_str())])
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let (_, minted) = w.open_id_token(&id, &[(GOOGLE, token)]).await.unwrap();
    let tags = &w.verified(&minted).await["https://aws.amazon.com/tags"];
    assert_eq!(tags["principal_tags"]["client"], json!(["google-client"]));
    assert_eq!(tags["principal_tags"]["username"], json!(["eve"]));
    assert_eq!(tags["principal_tags"]["email"], json!(["eve@example.com"]));
}

/// `docs/behaviour.md`: the JWKS is served at `/.well-known/jwks.json` and at
/// `/.well-known/jwks_uri` (Cognito's name), both with `Cache-Control: public, max-age=300`, as
/// is discovery. The alias holds the same keys, also after a rotation, and verifies a token.
async fn the_jwks_alias_serves_the_same_keys_and_both_may_be_cached(backend: Backend) {
    let w = world(backend).await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", w.issuer);
        async move {
            let res = reqwest::get(url).await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            assert_eq!(
                header("cache-control").as_deref(),
                Some("public, max-age=300"),
                "{path}"
            );
            assert_eq!(
                header("content-type").as_deref(),
                Some("application/json"),
                "{path}"
            );
            res.json::<Value>().await.unwrap()
        }
    };
    get("/.well-known/openid-configuration").await;
    let jwks = get("/.well-known/jwks.json").await;
    assert_eq!(jwks, get("/.well-known/jwks_uri").await);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    let (status, _) = w
        .app
        .admin(reqwest::Method::POST, "/v1/keys/rotate", None)
        .await;
    assert_eq!(status, 200);
    let rotated = get("/.well-known/jwks.json").await;
    assert_eq!(rotated["keys"].as_array().unwrap().len(), 2);
    assert_eq!(rotated, get("/.well-known/jwks_uri").await);

    // A relying party that was told the alias verifies idbroker's tokens with it.
    let guest = w.guest().await;
    let (_, token) = w.open_id_token(&guest, &[]).await.unwrap();
    let alias: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get("/.well-known/jwks_uri").await).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwk = alias.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[&w.pool]);
    validation.set_issuer(&[&w.issuer]);
    jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("the token verifies with the alias's keys");
}
