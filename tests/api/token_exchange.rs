//! RFC 8693 token exchange at `POST /oauth2/token` (`docs/behaviour.md`, "Token exchange"):
//! a table of requests and the OAuth answers they get, and exchanges whose results are checked
//! against idbroker's JWKS by PyJWT, a verifier nobody here wrote (`pyjwt_verify`).

use std::path::PathBuf;
use std::process::Command;

use idbroker_api::pools::PoolRequest;
use idbroker_api::revocation::RevokeRequest;
use idbroker_store::Backend;
use serde_json::{Value, json};

use aws_sdk_cognitoidentity::types::CognitoIdentityProvider;

use crate::helpers::{free_port, settings_with_idp_on, spawn_app_with};
use crate::idp::{TestIdp, TestKey, claims};
use crate::tokens::{World, world};

crate::helpers::on_both_backends!(
    the_token_endpoint_answers_every_mistake_in_oauth_form,
    a_provider_token_becomes_an_idbroker_token_pyjwt_accepts,
    an_idbroker_token_exchanges_for_its_own_identity_and_never_outlives_it,
    in_a_pool_of_several_providers_the_tokens_issuer_chooses_the_login,
    an_exchanged_token_lives_as_long_as_the_pool_says,
    an_extra_audience_gets_a_token_idbroker_itself_refuses,
);

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const GOOGLE: &str = "accounts.google.com";
const AZURE: &str = "api://AzureADTokenExchange";
const GCP: &str =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/idb";
/// An extra audience two pools accept.
const SHARED: &str = "https://api.internal.example";

/// Replaces a pool's extra exchange audiences over REST, keeping what the world's pools have.
async fn accept_audiences(w: &World, pool: &str, audiences: &[&str]) {
    let rest = w.app.rest();
    let current = rest.get_pool(pool).await.unwrap();
    let request = PoolRequest {
        identity_pool_name: current.identity_pool_name,
        allow_unauthenticated_identities: current.allow_unauthenticated_identities,
        supported_login_providers: current.supported_login_providers,
        developer_provider_name: current.developer_provider_name,
        exchange_audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        ..PoolRequest::default()
    };
    let replaced = rest.replace_pool(pool, &request).await.unwrap();
    let mut sorted = request.exchange_audiences.clone();
    sorted.sort();
    assert_eq!(replaced.exchange_audiences, sorted);
}

/// A form's parameters, in order.
type Params<'a> = Vec<(&'a str, &'a str)>;

/// What the endpoint answered.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl World {
    fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.issuer)
    }

    async fn exchange_raw(&self, content_type: &str, body: String) -> Answer {
        let res = reqwest::Client::new()
            .post(self.token_endpoint())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn exchange(&self, form: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.exchange_raw("application/x-www-form-urlencoded", body)
            .await
    }
}

/// A complete, valid request for `token` to `audience`.
fn request<'a>(token: &'a str, audience: &'a str) -> Params<'a> {
    vec![
        ("grant_type", GRANT),
        ("subject_token", token),
        ("subject_token_type", ID_TOKEN),
        ("audience", audience),
    ]
}

fn with<'a>(
    mut form: Vec<(&'a str, &'a str)>,
    name: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    form.retain(|(n, _)| *n != name);
    form.push((name, value));
    form
}

fn without<'a>(mut form: Vec<(&'a str, &'a str)>, name: &str) -> Vec<(&'a str, &'a str)> {
    form.retain(|(n, _)| *n != name);
    form
}

async fn the_token_endpoint_answers_every_mistake_in_oauth_form(backend: Backend) {
    let w = world(backend).await;
    let good = w.google("table-user");
    let pool = w.pool.as_str();

    let now = chrono::Utc::now().timestamp();
    let mut expired_claims = claims("https://accounts.google.com", "google-client", "old");
    expired_claims["iat"] = json!(now - 7200);
    expired_claims["exp"] = json!(now - 3600);
    let expired = w.key.sign(&expired_claims);
    // Signed by a key the provider does not publish, under the published key's kid.
    let forged = TestKey::rsa("rsa-b", "key-a").sign(&claims(
        "https://accounts.google.com",
        "google-client",
        "x",
    ));
    let wrong_client = w.key.sign(&claims(
        "https://accounts.google.com",
        "another-client",
        "x",
    ));
    // A provider this pool does not trust (an OpenID issuer nobody registered for it).
    let untrusted = w
        .key
        .sign(&claims("https://login.example.com", "google-client", "x"));
    // One of idbroker's own tokens, for an identity of another pool.
    let other_pool = w.app.create_pool("other", true).await;
    let other_guest = w.app.guest(&other_pool).await;
    let (_, other_token) = w.open_id_token(&other_guest, &[]).await.unwrap();
    let huge_token = "a".repeat(50_001);
    let long_audience = "a".repeat(257);
    // Extra audiences: the world's pool accepts Azure's and a shared one, the other pool the
    // shared one.
    accept_audiences(&w, pool, &[AZURE, SHARED]).await;
    accept_audiences(&w, &other_pool, &[SHARED]).await;

    let table: Vec<(&str, Params<'_>, u16, &str)> = vec![
        (
            "no grant_type",
            without(request(&good, pool), "grant_type"),
            400,
            "invalid_request",
        ),
        (
            "another grant",
            with(request(&good, pool), "grant_type", "client_credentials"),
            400,
            "unsupported_grant_type",
        ),
        (
            "no subject_token",
            without(request(&good, pool), "subject_token"),
            400,
            "invalid_request",
        ),
        (
            "empty subject_token",
            with(request(&good, pool), "subject_token", ""),
            400,
            "invalid_request",
        ),
        (
            "no subject_token_type",
            without(request(&good, pool), "subject_token_type"),
            400,
            "invalid_request",
        ),
        (
            "an access token type",
            with(
                request(&good, pool),
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            400,
            "invalid_request",
        ),
        (
            "a SAML token type requested",
            with(
                request(&good, pool),
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:saml2",
            ),
            400,
            "invalid_request",
        ),
        (
            "an actor token",
            with(request(&good, pool), "actor_token", &good),
            400,
            "invalid_request",
        ),
        (
            "a resource that is not an identity pool id",
            with(request(&good, pool), "resource", "https://example.com/api"),
            400,
            "invalid_target",
        ),
        (
            "a resource naming an unknown pool",
            with(
                request(&good, pool),
                "resource",
                "us-east-1:00000000-0000-4000-8000-000000000000",
            ),
            400,
            "invalid_target",
        ),
        (
            "a resource whose pool does not accept the audience",
            with(request(&good, AZURE), "resource", &other_pool),
            400,
            "invalid_target",
        ),
        (
            "a resource naming another pool than the audience",
            with(request(&good, pool), "resource", &other_pool),
            400,
            "invalid_target",
        ),
        (
            "an oversized resource",
            with(request(&good, pool), "resource", &long_audience),
            400,
            "invalid_request",
        ),
        (
            "an audience no pool accepts",
            request(&good, GCP),
            400,
            "invalid_target",
        ),
        (
            "an audience two pools accept, without a resource",
            request(&good, SHARED),
            400,
            "invalid_target",
        ),
        (
            "an audience that is not printable",
            request(&good, "api://a b"),
            400,
            "invalid_target",
        ),
        (
            "no audience",
            without(request(&good, pool), "audience"),
            400,
            "invalid_request",
        ),
        (
            "an audience that is not a pool",
            with(
                request(&good, pool),
                "audience",
                "//iam.googleapis.com/projects/1",
            ),
            400,
            "invalid_target",
        ),
        (
            "an unknown pool",
            with(
                request(&good, pool),
                "audience",
                "us-east-1:00000000-0000-4000-8000-000000000000",
            ),
            400,
            "invalid_target",
        ),
        (
            "not a JWT",
            with(request(&good, pool), "subject_token", "opaque-token"),
            400,
            "invalid_grant",
        ),
        (
            "an expired provider token",
            request(&expired, pool),
            400,
            "invalid_grant",
        ),
        (
            "a bad signature",
            request(&forged, pool),
            400,
            "invalid_grant",
        ),
        (
            "another client's token",
            request(&wrong_client, pool),
            400,
            "invalid_grant",
        ),
        (
            "an untrusted provider",
            request(&untrusted, pool),
            400,
            "invalid_grant",
        ),
        (
            "an idbroker token of another pool",
            request(&other_token, pool),
            400,
            "invalid_grant",
        ),
        (
            "an oversized subject_token",
            request(&huge_token, pool),
            400,
            "invalid_request",
        ),
        (
            "an oversized audience",
            request(&good, &long_audience),
            400,
            "invalid_request",
        ),
    ];
    for (case, form, status, error) in table {
        let answer = w.exchange(&form).await;
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        assert_eq!(answer.body["error"], error, "{case}: {}", answer.body);
        let description = answer.body["error_description"]
            .as_str()
            .unwrap_or_default();
        assert!(!description.is_empty(), "{case}: a description");
        for (name, value) in &form {
            if name.ends_with("token") && value.len() > 20 {
                assert!(!description.contains(value), "{case}: the token is echoed");
            }
        }
        assert_eq!(answer.headers["cache-control"], "no-store", "{case}");
        assert!(
            answer.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{case}: OAuth errors are JSON, not problem+json"
        );
    }

    // An ambiguous audience says how to choose.
    let answer = w.exchange(&request(&good, SHARED)).await;
    let description = answer.body["error_description"].as_str().unwrap();
    assert!(description.contains("resource"), "{description}");

    // The body's shape: a repeated parameter, JSON instead of a form, a body past the limit.
    let repeated = format!(
        "{}&audience={pool}",
        serde_urlencoded::to_string(request(&good, pool)).unwrap()
    );
    let huge_body = format!(
        "{}&padding={}",
        serde_urlencoded::to_string(request(&good, pool)).unwrap(),
        "p".repeat(200_000)
    );
    let json_body = json!({"grant_type": GRANT, "subject_token": good}).to_string();
    for (case, content_type, body) in [
        (
            "a repeated parameter",
            "application/x-www-form-urlencoded",
            repeated,
        ),
        (
            "a body past the limit",
            "application/x-www-form-urlencoded",
            huge_body,
        ),
        ("a JSON body", "application/json", json_body),
    ] {
        let answer = w.exchange_raw(content_type, body).await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert_eq!(answer.body["error"], "invalid_request", "{case}");
    }

    // GET is not how a token endpoint is called: 405, Allow: POST, still OAuth's shape.
    let res = reqwest::get(w.token_endpoint()).await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // None of the refused provider tokens made an identity.
    assert!(
        w.app.identity_ids(pool).await.is_empty(),
        "refused exchanges create nothing"
    );
}

async fn a_provider_token_becomes_an_idbroker_token_pyjwt_accepts(backend: Backend) {
    let w = world(backend).await;
    let google = w.google("exchanged-user");
    // `jwt` as the subject token type is accepted as well as `id_token`.
    let form = with(request(&google, &w.pool), "subject_token_type", JWT);
    let answer = w.exchange(&form).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.body["issued_token_type"], ID_TOKEN);
    assert_eq!(answer.body["token_type"], "N_A");
    assert_eq!(answer.body["expires_in"], 600);
    let token = answer.body["access_token"].as_str().unwrap();

    let c = pyjwt_verify(&w, token);
    assert_eq!(c["iss"], w.issuer.as_str());
    assert_eq!(c["aud"], w.pool.as_str());
    assert_eq!(c["amr"], json!(["authenticated", GOOGLE]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    // The identity is the one GetId resolves for that login: the exchange made it, as GetId
    // would have, and GetId now finds it.
    let identity = c["sub"].as_str().unwrap();
    assert_eq!(w.google_identity("exchanged-user").await, identity);
    assert_eq!(w.app.identity_ids(&w.pool).await, vec![identity.to_owned()]);

    // PyJWT refuses it for any other audience, and refuses a tampered copy.
    let err = pyjwt_verify_for(&w, token, "us-east-1:00000000-0000-4000-8000-000000000000")
        .expect_err("another audience is refused");
    assert!(err.contains("InvalidAudienceError"), "{err}");
    // One character in the middle of the signature: six bits of it, none of them padding.
    let middle = token.rfind('.').unwrap() + 20;
    let swapped = if &token[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{swapped}{}", &token[..middle], &token[middle + 1..]);
    let err = pyjwt_verify_for(&w, &tampered, &w.pool).expect_err("a tampered token is refused");
    assert!(err.contains("InvalidSignatureError"), "{err}");
}

async fn an_idbroker_token_exchanges_for_its_own_identity_and_never_outlives_it(backend: Backend) {
    let w = world(backend).await;
    let identity = w.google_identity("repeat-user").await;
    let (_, first) = w
        .open_id_token(&identity, &[(GOOGLE, w.google("repeat-user"))])
        .await
        .unwrap();
    let first_exp = w.verified(&first).await["exp"].as_i64().unwrap();
    let answer = w.exchange(&request(&first, &w.pool)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let second = answer.body["access_token"].as_str().unwrap();
    let c = pyjwt_verify(&w, second);
    assert_eq!(c["sub"], identity.as_str());
    assert!(
        c["exp"].as_i64().unwrap() <= first_exp,
        "no renewing forever"
    );

    // A guest's token exchanges too, while the pool allows guests.
    let guest = w.guest().await;
    let (_, guest_token) = w.open_id_token(&guest, &[]).await.unwrap();
    let answer = w.exchange(&request(&guest_token, &w.pool)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let c = pyjwt_verify(&w, answer.body["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], guest.as_str());
    assert_eq!(c["amr"], json!(["unauthenticated"]));

    // A revoked identity gets nothing, from its idbroker token or a fresh provider token.
    w.app
        .rest()
        .revoke_identity(&identity, &RevokeRequest::default())
        .await
        .unwrap();
    let fresh = w.google("repeat-user");
    for (case, token) in [
        ("idbroker token", first.as_str()),
        ("provider token", &fresh),
    ] {
        let answer = w.exchange(&request(token, &w.pool)).await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert_eq!(answer.body["error"], "invalid_grant", "{case}");
    }
}

const USER_POOL: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Exchange";

/// A pool trusting Google, a registered OpenID issuer and a user pool, all signing with keys
/// the test IdP serves: the exchange request names no provider, the token's `iss` does.
async fn in_a_pool_of_several_providers_the_tokens_issuer_chooses_the_login(backend: Backend) {
    let key = TestKey::rsa("rsa-a", "key-a");
    let idp = TestIdp::start(&[&key]).await;
    let (base, port) = (idp.base.clone(), free_port());
    let app = spawn_app_with(backend, |url| settings_with_idp_on(url, &base, port)).await;
    let arn = app.register_oidc(&idp.base, &["oidc-client"]).await;
    let pool = app
        .create_pool_with("several", false, |pool| {
            pool.supported_login_providers(GOOGLE, "google-client")
                .open_id_connect_provider_arns(arn)
                .cognito_identity_providers(
                    CognitoIdentityProvider::builder()
                        .provider_name(USER_POOL)
                        .client_id("upclient1")
                        .build(),
                )
        })
        .await;
    let issuer = format!("http://127.0.0.1:{port}");
    let mut user_pool = claims(&format!("https://{USER_POOL}"), "upclient1", "carol");
    user_pool["token_use"] = json!("id");
    let cases = [
        (
            GOOGLE.to_owned(),
            key.sign(&claims(
                "https://accounts.google.com",
                "google-client",
                "alice",
            )),
        ),
        (
            idp.key(),
            key.sign(&claims(&idp.base, "oidc-client", "bob")),
        ),
        (USER_POOL.to_owned(), key.sign(&user_pool)),
    ];
    let mut identities = Vec::new();
    for (provider, token) in &cases {
        let res = reqwest::Client::new()
            .post(format!("{issuer}/oauth2/token"))
            .form(&request(token, &pool))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{provider}");
        let body: Value = res.json().await.unwrap();
        let c = crate::verify::verify(&issuer, body["access_token"].as_str().unwrap(), &pool)
            .await
            .unwrap();
        let amr: Vec<&str> = c["amr"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(amr[..2], ["authenticated", provider.as_str()], "{provider}");
        // The identity GetId gives for that login under that key.
        let found = app.get_id(&pool, &[(provider, token)]).await.unwrap();
        assert_eq!(
            found.identity_id.unwrap(),
            c["sub"].as_str().unwrap(),
            "{provider}"
        );
        identities.push(c["sub"].as_str().unwrap().to_owned());
    }
    identities.sort();
    identities.dedup();
    assert_eq!(identities.len(), 3, "three logins, three identities");
    // A registered issuer's token for a client id the registration does not list is refused.
    let stranger = key.sign(&claims(&idp.base, "google-client", "mallory"));
    let res = reqwest::Client::new()
        .post(format!("{issuer}/oauth2/token"))
        .form(&request(&stranger, &pool))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

/// The PyJWT the tests use: `IDBROKER_TEST_PYJWT_PYTHON`, else the venv `scripts/test.sh`
/// makes. Missing is a failure, never a skip: this is the only check by an outside verifier.
fn pyjwt_python() -> PathBuf {
    if let Ok(python) = std::env::var("IDBROKER_TEST_PYJWT_PYTHON") {
        return PathBuf::from(python);
    }
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-tools/pyjwt-2.10.1/bin/python");
    assert!(
        python.exists(),
        "PyJWT is missing: {} does not exist. Run scripts/test.sh (it installs PyJWT), or \
         `python3 -m venv target/test-tools/pyjwt-2.10.1 && \
         target/test-tools/pyjwt-2.10.1/bin/pip install 'pyjwt[crypto]==2.10.1'`, or set \
         IDBROKER_TEST_PYJWT_PYTHON to a Python that has it.",
        python.display()
    );
    python
}

/// Verifies `token` with PyJWT as a relying party would: the discovery document, the JWKS it
/// names, the key of the token's kid, issuer and audience; returns the claims.
fn pyjwt_verify(w: &World, token: &str) -> serde_json::Map<String, Value> {
    let claims = pyjwt_verify_for(w, token, &w.pool).unwrap_or_else(|e| panic!("PyJWT: {e}"));
    serde_json::from_str(&claims).unwrap()
}

const PYJWT_CHECK: &str = r#"
import json, sys, urllib.request
import jwt
issuer, audience, token = sys.argv[1], sys.argv[2], sys.stdin.read()
discovery = json.load(urllib.request.urlopen(issuer + "/.well-known/openid-configuration"))
key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=discovery["id_token_signing_alg_values_supported"],
                    audience=audience, issuer=issuer, options={"require": ["exp", "iat", "sub"]})
print(json.dumps(claims))
"#;

/// PyJWT's verdict for `audience`: the claims as JSON, or its error.
fn pyjwt_verify_for(w: &World, token: &str, audience: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(pyjwt_python())
        .args(["-c", PYJWT_CHECK, &w.issuer, audience])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("PyJWT's Python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "PyJWT is not installed in {}: {stderr}",
        pyjwt_python().display()
    );
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(stderr.into_owned())
    }
}

/// A pool's `token_lifetime_seconds` (`docs/behaviour.md`, "Per-pool lifetimes") sets
/// `expires_in` and the token's `exp`.
async fn an_exchanged_token_lives_as_long_as_the_pool_says(backend: Backend) {
    let w = world(backend).await;
    w.app
        .rest()
        .replace_pool(
            &w.pool,
            &idbroker_api::pools::PoolRequest {
                identity_pool_name: "tokens".into(),
                allow_unauthenticated_identities: true,
                supported_login_providers: [(GOOGLE.to_owned(), "google-client".to_owned())].into(),
                token_lifetime_seconds: Some(90),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let google = w.google("short-lived");
    let answer = w.exchange(&request(&google, &w.pool)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["expires_in"], 90);
    let c = w
        .verified(answer.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 90);
}

/// An extra audience (`exchange_audiences`): the token is for it (`aud`, a single string,
/// verified by PyJWT requiring that audience) and for it only — idbroker itself refuses it
/// wherever it accepts its own tokens (Logins, GetCredentialsForIdentity, container
/// credentials, as a subject token). The discovery document does not change.
async fn an_extra_audience_gets_a_token_idbroker_itself_refuses(backend: Backend) {
    let w = world(backend).await;
    let discovery = |w: &World| {
        let url = format!("{}/.well-known/openid-configuration", w.issuer);
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let before = discovery(&w).await;
    accept_audiences(&w, &w.pool, &[AZURE, GCP, SHARED]).await;
    let other = w
        .app
        .rest()
        .create_pool(&PoolRequest {
            identity_pool_name: "shares".into(),
            exchange_audiences: vec![SHARED.into()],
            ..PoolRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        discovery(&w).await,
        before,
        "the discovery document is unchanged"
    );

    let identity = w.google_identity("federated-user").await;
    for (audience, resource) in [(AZURE, None), (GCP, None), (SHARED, Some(w.pool.as_str()))] {
        let mut form = request_owned(&w.google("federated-user"), audience);
        if let Some(resource) = resource {
            form.push(("resource".into(), resource.into()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let answer = w.exchange(&form).await;
        assert_eq!(answer.status, 200, "{audience}: {}", answer.body);
        let token = answer.body["access_token"].as_str().unwrap();
        let claims: Value = serde_json::from_str(
            &pyjwt_verify_for(&w, token, audience).unwrap_or_else(|e| panic!("PyJWT: {e}")),
        )
        .unwrap();
        assert_eq!(claims["aud"], audience, "a single string");
        assert_eq!(claims["sub"], identity.as_str());
        assert_eq!(claims["iss"], w.issuer.as_str());
        let err = pyjwt_verify_for(&w, token, &w.pool).expect_err("not for the pool id");
        assert!(err.contains("InvalidAudienceError"), "{err}");
    }

    // A token for Azure, presented to idbroker as its own.
    let answer = w
        .exchange(&request(&w.google("federated-user"), AZURE))
        .await;
    let azure = answer.body["access_token"].as_str().unwrap().to_owned();
    let logins = [("cognito-identity.amazonaws.com", azure.clone())];
    let (code, _) = w
        .open_id_token(&identity, &logins)
        .await
        .expect_err("GetOpenIdToken refuses it");
    assert_eq!(code, "NotAuthorizedException");
    let err = w
        .app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&identity)
        .logins("cognito-identity.amazonaws.com", &azure)
        .send()
        .await
        .expect_err("GetCredentialsForIdentity refuses it");
    assert_eq!(crate::helpers::code(&err), "NotAuthorizedException");
    let res = reqwest::Client::new()
        .get(format!("{}/v1/container-credentials", w.issuer))
        .header("authorization", &azure)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let problem: Value = res.json().await.unwrap();
    assert!((400..500).contains(&status), "{status}: {problem}");
    assert_eq!(problem["title"], "NotAuthorizedException", "{problem}");
    for audience in [w.pool.as_str(), AZURE] {
        let answer = w.exchange(&request(&azure, audience)).await;
        assert_eq!(answer.status, 400, "{audience}: {}", answer.body);
        assert_eq!(answer.body["error"], "invalid_grant", "{audience}");
    }

    // The other pool shares an audience but trusts no provider: named in resource, the
    // exchange is its own, and refused there.
    let answer = w
        .exchange(&with(
            request(&w.google("federated-user"), SHARED),
            "resource",
            &other.identity_pool_id,
        ))
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"], "invalid_grant");

    // Removing the audience stops it at once (this replica), an exchange for it is refused.
    accept_audiences(&w, &w.pool, &[GCP]).await;
    let answer = w
        .exchange(&request(&w.google("federated-user"), AZURE))
        .await;
    assert_eq!(answer.body["error"], "invalid_target", "{}", answer.body);
}

/// `request` with owned values, for forms built in a loop.
fn request_owned(token: &str, audience: &str) -> Vec<(String, String)> {
    request(token, audience)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
