//! The admin console in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against the real application, on both stores. Debian's `chromium` and `chromium-driver`
//! must be installed (scripts/test.sh installs them); without them these tests fail, saying so.
//! The SQLite run saves a screenshot of each page into target/console-screenshots/ (into
//! docs/console/, the README's pictures, with `IDBROKER_UPDATE_SCREENSHOTS=1`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use idbroker_store::Backend;
use serde_json::json;

use crate::helpers::{
    ADMIN_TOKEN, TestApp, free_port, settings, settings_on, spawn_app, spawn_app_with,
};
use crate::idp::{TestKey, claims};
use crate::sts_front::StsFront;

crate::helpers::on_both_backends!(the_console_works_end_to_end_in_a_browser);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DEVELOPER: &str = "login.myapp";
const AUTH: &str = "arn:aws:iam::123456789012:role/authenticated";
const GUEST: &str = "arn:aws:iam::123456789012:role/guest";
const SAML_ARN: &str = "arn:aws:iam::123456789012:saml-provider/corp";

/// chromedriver on a port of its own, stopped when dropped, and a browser session on it.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

impl Browser {
    async fn start(width: u32, height: u32) -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                std::path::Path::new(path).exists(),
                "the console's browser tests need {path}: apt-get install -y chromium chromium-driver \
                 (Debian's {package}; scripts/test.sh installs it)"
            );
        }
        let port = crate::helpers::unheld_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--hide-scrollbars",
                         format!("--window-size={width},{height}")],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _driver: driver,
                    };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session from chromedriver at {url}: {last:?}");
    }

    async fn go(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks what submits a form or follows a link, and waits for the next page: the old
    /// document's root goes stale, the new one finishes loading.
    async fn submit(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        for _ in 0..200 {
            if old.tag_name().await.is_err() {
                let ready = self
                    .client
                    .execute("return document.readyState", vec![])
                    .await
                    .unwrap();
                if ready == "complete" {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no new page after clicking {css}");
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Saves the page as target/console-screenshots/<name>.png, or, with
    /// `IDBROKER_UPDATE_SCREENSHOTS=1`, as docs/console/<name>.png (the README's pictures), so
    /// an ordinary run leaves the work tree as it was. One store only: the pages are the same.
    async fn screenshot(&self, backend: Backend, name: &str) {
        if backend != Backend::Sqlite {
            return;
        }
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = if std::env::var_os("IDBROKER_UPDATE_SCREENSHOTS").is_some() {
            root.join("docs/console")
        } else {
            root.join("target/console-screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// A SAML provider's metadata with one self-signed signing certificate for `cn`, valid from
/// `from` to `until` (Unix seconds).
fn saml_metadata(cn: &str, from: i64, until: i64) -> String {
    use base64::Engine;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::private_key_from_pem(include_bytes!("../fixtures/rsa-a.pem")).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(from).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(until).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let der = b.build().to_der().unwrap();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://{cn}/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

/// An app whose STS is the tests' front over moto (so credentials are issued and land in the
/// ledger), a pool with a developer provider and Google, and one developer user, `alice`, who
/// got credentials once. Returns the app, the pool, alice's identity and her access key id.
async fn world(backend: Backend) -> (TestApp, StsFront, String, String, String) {
    let port = free_port();
    let down = format!("http://127.0.0.1:{}", crate::helpers::unheld_port());
    let front = StsFront::start(&format!("http://127.0.0.1:{port}")).await;
    let front_url = front.url.clone();
    let app = spawn_app_with(backend, |url| {
        let mut s = settings_on(url, port);
        s.sts_endpoint_url = Some(front_url);
        s
    })
    .await;
    // A registered provider that cannot be reached, so its key cache has a failure to show.
    let arn = app.register_oidc(&down, &["down-client"]).await;
    // A SAML provider whose certificate is valid until 2100, used by the pool.
    let res = app
        .http
        .post(format!("{}/v1/saml-providers", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "name": "corp",
            "metadata": saml_metadata("idp.corp.test", 1_700_000_000, 4_102_444_800),
            "subject_attribute": "employeeID",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let pool = app
        .create_pool_with("console-seed", true, |p| {
            p.developer_provider_name(DEVELOPER)
                .supported_login_providers("accounts.google.com", "google-client")
                .open_id_connect_provider_arns(arn)
                .saml_provider_arns(SAML_ARN)
        })
        .await;
    app.sdk
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", AUTH)
        .roles("unauthenticated", GUEST)
        .send()
        .await
        .unwrap();
    front.trust_audience(&pool);
    let out = app
        .developer_login(&pool, DEVELOPER, "alice")
        .send()
        .await
        .unwrap();
    let identity = out.identity_id().unwrap().to_owned();
    let creds = app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&identity)
        .logins("cognito-identity.amazonaws.com", out.token().unwrap())
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let key = creds.access_key_id().unwrap().to_owned();
    (app, front, pool, identity, key)
}

async fn the_console_works_end_to_end_in_a_browser(backend: Backend) {
    let (app, _front, pool, identity, access_key) = world(backend).await;
    let base = app.address.clone();
    let b = Browser::start(1000, 760).await;

    // Not signed in: every page sends the browser to the sign-in form.
    b.go(&format!("{base}/console/pools")).await;
    assert_eq!(b.path().await, "/console/sign-in");
    b.screenshot(backend, "sign-in").await;
    b.fill("input[name=token]", "not-the-admin-token").await;
    b.submit("form button[type=submit]").await;
    assert_eq!(b.text(".error").await, "The admin token is not valid.");
    b.fill("input[name=token]", ADMIN_TOKEN).await;
    b.submit("form button[type=submit]").await;
    assert_eq!(b.path().await, "/console/");
    assert!(b.source().await.contains("console-seed"), "the pools list");
    b.screenshot(backend, "pools").await;

    // The session cookie: HttpOnly, SameSite=Strict, scoped to the console.
    let cookies = b.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "idbroker_console")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    assert_eq!(session.path(), Some("/console"));
    let session_cookie = format!("idbroker_console={}", session.value());

    // Create a pool through the form: first refused with the API's own message, then made.
    b.submit("a[href='/console/pools/new']").await;
    b.fill("input[name=identity_pool_name]", "not a valid name!")
        .await;
    b.submit("form.stack button[type=submit]").await;
    let error = b.text(".error").await;
    assert!(
        error.starts_with("ValidationException: ") && error.contains("identityPoolName"),
        "{error}"
    );
    b.screenshot(backend, "pool-form-error").await;
    b.fill("input[name=identity_pool_name]", "made-in-the-console")
        .await;
    b.click("input[name=allow_unauthenticated_identities]")
        .await;
    b.fill(
        "textarea[name=supported_login_providers]",
        "accounts.google.com=web-client",
    )
    .await;
    b.submit("form.stack button[type=submit]").await;
    assert_eq!(b.text("h1").await, "made-in-the-console");
    let made = b.path().await;
    let made_id = made
        .trim_start_matches("/console/pools/")
        .replace("%3A", ":");
    let described = app.describe_pool(&made_id).await.unwrap();
    assert!(described.allow_unauthenticated_identities());
    assert_eq!(
        described.supported_login_providers().unwrap()["accounts.google.com"],
        "web-client"
    );
    // Roles through the detail page's form; a bad ARN is the API's error, on the same page.
    b.fill("input[name=authenticated]", "not-an-arn").await;
    b.submit("form[action$='/roles'] button").await;
    assert!(
        b.text(".error").await.contains("not-an-arn"),
        "the API's message names it"
    );
    b.fill("input[name=authenticated]", AUTH).await;
    b.submit("form[action$='/roles'] button").await;
    assert!(b.source().await.contains(AUTH));
    b.screenshot(backend, "pool-detail").await;
    // Edit: the form comes filled in with the pool as it is; a new name is saved, the rest kept.
    b.submit("a[href$='/edit']").await;
    b.fill("input[name=identity_pool_name]", "renamed-in-the-console")
        .await;
    b.submit("form.stack button[type=submit]").await;
    assert_eq!(b.text("h1").await, "renamed-in-the-console");
    let described = app.describe_pool(&made_id).await.unwrap();
    assert!(described.allow_unauthenticated_identities(), "kept");
    assert_eq!(
        described.supported_login_providers().unwrap()["accounts.google.com"],
        "web-client",
        "kept"
    );

    // Find alice by her login (provider and subject), see her ledger entry and audit.
    b.go(&format!("{base}/console/identities")).await;
    b.fill("input[name=pool_id]", &pool).await;
    b.fill("input[name=provider]", DEVELOPER).await;
    b.fill("input[name=subject]", "alice").await;
    b.submit("#by-login button").await;
    assert_eq!(b.text("dl.facts dd.mono").await, identity);
    let ledger = b.text("#ledger").await;
    assert!(ledger.contains(&access_key), "{ledger}");
    assert!(ledger.contains(AUTH), "{ledger}");
    b.screenshot(backend, "identity").await;
    // By developer user id too, and a login nobody has is the API's not-found.
    b.go(&format!(
        "{base}/console/identities?pool_id={pool}&developer_user=alice"
    ))
    .await;
    assert_eq!(b.text("dl.facts dd.mono").await, identity);
    b.go(&format!(
        "{base}/console/identities?pool_id={pool}&provider={DEVELOPER}&subject=bob"
    ))
    .await;
    assert!(
        b.text(".error")
            .await
            .starts_with("ResourceNotFoundException")
    );

    // Revoke alice from her page: the answer is the revocation's effect (the instant, the
    // roles, her live credentials); her page then says revoked and offers re-enabling.
    b.go(&format!("{base}/console/identities/{identity}")).await;
    b.submit("#revoke button").await;
    assert_eq!(b.text("h1").await, "Identity revoked");
    let effect = b.text("#revocation").await;
    assert!(
        effect.contains(&identity) && effect.contains(AUTH),
        "{effect}"
    );
    let live = b.text("#live-credentials").await;
    assert!(live.contains(&access_key), "{live}");
    b.screenshot(backend, "identity-revoked").await;
    let revoked = app
        .sdk
        .get_credentials_for_identity()
        .identity_id(&identity)
        .send()
        .await;
    assert!(revoked.is_err(), "revoked: no credentials");
    b.submit("#revocation a").await;
    assert!(b.text("dl.facts").await.contains("revoked (identity"));
    b.submit("#reenable button").await;
    assert!(
        b.text("dl.facts").await.contains("Revoked\nno"),
        "{}",
        b.text("dl.facts").await
    );
    // A revoke posted without the session's CSRF token is refused, and changes nothing.
    let res = app
        .http
        .post(format!("{base}/console/identities/{identity}/revoke"))
        .header("cookie", &session_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("before=")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    b.go(&format!("{base}/console/identities/{identity}")).await;
    assert!(b.text("dl.facts").await.contains("Revoked\nno"));

    // Delete another identity: the page asks first; only its form deletes.
    let bob = app
        .developer_login(&pool, DEVELOPER, "bob")
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    b.go(&format!("{base}/console/identities/{bob}")).await;
    b.submit("#delete").await;
    assert_eq!(b.text("h1").await, "Delete identity?");
    b.screenshot(backend, "identity-delete").await;
    let described = |id: String| {
        let app = &app;
        async move {
            app.admin(reqwest::Method::GET, &format!("/v1/identities/{id}"), None)
                .await
                .0
        }
    };
    assert_eq!(described(bob.clone()).await, 200, "not yet deleted");
    // With the session's token but without the confirmation's field: refused, nothing deleted.
    let token = b
        .client
        .find(Locator::Css("#confirm-delete input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let res = app
        .http
        .post(format!("{base}/console/identities/{bob}/delete"))
        .header("cookie", &session_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(described(bob.clone()).await, 200, "still there");
    b.submit("#confirm-delete button").await;
    assert_eq!(b.path().await, "/console/identities");
    assert!(b.text(".done").await.contains(&bob), "says so");
    assert_eq!(described(bob.clone()).await, 404, "deleted");
    b.go(&format!("{base}/console/identities/{bob}")).await;
    assert_eq!(b.text("h1").await, "ResourceNotFoundException");
    // Each action is in the audit, made by the console.
    b.go(&format!(
        "{base}/console/audit?actor=console%20from%20127.0.0.1"
    ))
    .await;
    let audit = b.text("table.audit").await;
    for action in ["RevokeIdentity", "ReenableIdentity", "DeleteIdentities"] {
        assert!(audit.contains(action), "{action}: {audit}");
    }

    // The other pages.
    b.go(&format!("{base}/console/keys")).await;
    assert!(b.text("#keys").await.contains("signing"), "the current key");
    b.screenshot(backend, "keys").await;
    b.go(&format!("{base}/console/audit")).await;
    let audit = b.text("table.audit").await;
    assert!(audit.contains("CreateIdentityPool"), "{audit}");
    assert!(audit.contains("UpdateIdentityPool"), "{audit}");
    assert!(audit.contains("SetIdentityPoolRoles"), "{audit}");
    assert!(
        audit.contains("console from 127.0.0.1"),
        "the console is the actor's channel: {audit}"
    );
    // Filters: by actor (the console's changes only), by action (a link in the table), by
    // a time range; a time that cannot be read is the form's error.
    b.fill("#audit-filter input[name=actor]", "console from 127.0.0.1")
        .await;
    b.submit("#audit-filter button").await;
    let by_console = b.text("table.audit").await;
    assert!(by_console.contains("UpdateIdentityPool"), "{by_console}");
    assert!(
        !by_console.contains("CreateSamlProvider") && !by_console.contains("admin-token"),
        "only the console's: {by_console}"
    );
    b.fill("#audit-filter input[name=action]", "SetIdentityPoolRoles")
        .await;
    b.fill("#audit-filter input[name=since]", "2020-01-01")
        .await;
    b.submit("#audit-filter button").await;
    let rows = b
        .client
        .find_all(Locator::Css("table.audit tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one roles change made in the console");
    assert!(b.text("table.audit").await.contains("SetIdentityPoolRoles"));
    b.screenshot(backend, "audit").await;
    b.fill("#audit-filter input[name=since]", "2100-01-01 00:00")
        .await;
    b.submit("#audit-filter button").await;
    assert_eq!(b.text("main p.muted").await, "No changes recorded.");
    b.fill("#audit-filter input[name=since]", "last tuesday")
        .await;
    b.submit("#audit-filter button").await;
    assert!(
        b.text(".error")
            .await
            .contains("since must be a UTC time such as 2030-01-31"),
    );
    b.go(&format!("{base}/console/audit")).await;
    b.submit("table.audit a[href='/console/audit?action=CreateSamlProvider']")
        .await;
    let saml_changes = b.text("table.audit").await;
    assert!(saml_changes.contains(SAML_ARN), "{saml_changes}");
    assert!(
        !saml_changes.contains("SetIdentityPoolRoles"),
        "{saml_changes}"
    );
    // A token of the unreachable provider, checked once (by the REST explain), leaves its
    // failure in this replica's key cache; the providers page shows it.
    let issuer = app
        .rest()
        .list_oidc_providers()
        .await
        .unwrap()
        .oidc_providers[0]
        .issuer
        .clone();
    let token = TestKey::rsa("rsa-a", "k1").sign(&claims(&issuer, "down-client", "u"));
    let res = app
        .http
        .post(format!("{base}/v1/identity-pools/{pool}/explain"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"logins": {issuer.trim_start_matches("http://"): token}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    b.go(&format!("{base}/console/providers")).await;
    let providers = b.text("table").await;
    assert!(providers.contains(&issuer), "{providers}");
    assert!(providers.contains("down-client"), "client ids: {providers}");
    assert!(
        providers.contains("1 failed fetch(es) in a row, in backoff"),
        "{providers}"
    );
    b.screenshot(backend, "providers").await;
    // SAML providers: the list, then one provider's certificates and the pools that use it.
    b.go(&format!("{base}/console/saml-providers")).await;
    let saml = b.text("#saml-providers").await;
    assert!(saml.contains(SAML_ARN), "{saml}");
    assert!(saml.contains("https://idp.corp.test/saml"), "{saml}");
    assert!(
        saml.contains("2100-01-01 00:00:00 UTC"),
        "first expiry: {saml}"
    );
    assert!(saml.contains("attribute employeeID"), "subject: {saml}");
    b.submit("#saml-providers a").await;
    assert_eq!(b.text("h1").await, "corp");
    let certificates = b.text("#certificates").await;
    assert!(certificates.contains("CN=idp.corp.test"), "{certificates}");
    assert!(
        certificates.contains("2023-11-14 22:13:20 UTC"),
        "{certificates}"
    );
    assert!(certificates.contains("valid"), "{certificates}");
    let fingerprints = app
        .http
        .get(format!("{base}/v1/saml-providers/corp"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["certificate_fingerprints"]
        .clone();
    let fingerprint = fingerprints[0].as_str().unwrap();
    assert!(certificates.contains(fingerprint), "{certificates}");
    assert!(b.text("#saml-pools").await.contains(&pool));
    assert!(b.source().await.contains("CreateSamlProvider"), "its audit");
    b.screenshot(backend, "saml-provider").await;
    b.go(&format!("{base}/console/saml-providers/no-such"))
        .await;
    assert!(b.text(".error").await.contains("not found"));

    b.go(&format!("{base}/console/pools/{pool}/explain")).await;
    b.fill("input[name=provider]", "accounts.google.com").await;
    b.fill("textarea[name=token]", "not-a-jwt").await;
    b.submit("form.stack button[type=submit]").await;
    let checks = b.text("table.checks").await;
    assert!(
        checks.contains("format") && checks.contains("failed"),
        "{checks}"
    );
    assert!(b.text(".error").await.contains("NotAuthorizedException"));
    b.screenshot(backend, "explain").await;

    // CSRF: a form posted with the session but without its token (or with another) is refused,
    // and nothing is made.
    let pools_before = app.pool_count().await;
    for body in [
        "identity_pool_name=forged".to_owned(),
        "csrf=guessed&identity_pool_name=forged".to_owned(),
    ] {
        let res = app
            .http
            .post(format!("{base}/console/pools/new"))
            .header("cookie", &session_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{body}");
    }
    assert_eq!(app.pool_count().await, pools_before);
    let headers = app
        .http
        .get(format!("{base}/console/pools"))
        .header("cookie", &session_cookie)
        .send()
        .await
        .unwrap();
    let csp = headers.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");

    // A phone-sized window: the identity page still reads.
    b.client.set_window_size(390, 800).await.unwrap();
    b.go(&format!("{base}/console/identities/{identity}")).await;
    b.screenshot(backend, "identity-phone").await;
    b.client.set_window_size(1000, 760).await.unwrap();

    // Sign out: back to the sign-in form, and the session is gone for good.
    b.submit("form.sign-out button").await;
    assert_eq!(b.path().await, "/console/sign-in");
    b.go(&format!("{base}/console/pools")).await;
    assert_eq!(b.path().await, "/console/sign-in");
    let res = no_redirects()
        .get(format!("{base}/console/pools"))
        .header("cookie", &session_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the old cookie no longer signs in");
    assert_eq!(res.headers()["location"], "/console/sign-in");
    b.client.close().await.unwrap();
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `IDBROKER_CONSOLE=off`: no console route exists (the app's ordinary 404), while on it does.
#[tokio::test]
async fn with_the_console_off_no_route_is_left() {
    let on = spawn_app(Backend::Sqlite).await;
    let res = no_redirects()
        .get(format!("{}/console/", on.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "on by default: to the sign-in form");
    let off = spawn_app_with(Backend::Sqlite, |url| {
        let mut s = settings(url);
        s.console_idle = None;
        s
    })
    .await;
    for path in [
        "/console",
        "/console/",
        "/console/sign-in",
        "/console/static/console.css",
    ] {
        let res = off.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "the app's own 404 for {path}"
        );
    }
    assert_eq!(off.post("/console/sign-in").await.status(), 404);
}
