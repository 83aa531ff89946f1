//! The admin command line against a real idbroker (development mode on a temporary SQLite
//! file), run as a user would run it: the built binary, with IDBROKER_ENDPOINT and
//! IDBROKER_ADMIN_TOKEN in its environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::process::Command;

use serde_json::Value;

mod support;

struct Server {
    endpoint: String,
    token: String,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let server = support::in_process(None).await;
    Server {
        endpoint: server.endpoint,
        token: server.admin_token,
        _dir: server.dir,
    }
}

impl Server {
    /// Runs `idbroker <args>` off the async runtime; returns (exit success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let (endpoint, token) = (self.endpoint.clone(), self.token.clone());
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_idbroker"))
                .args(&args)
                .env("IDBROKER_ENDPOINT", endpoint)
                .env("IDBROKER_ADMIN_TOKEN", token)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8(out.stderr).unwrap(),
            )
        })
        .await
        .unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let (ok, out, err) = self.run(&all).await;
        assert!(ok, "idbroker {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_pools_providers_roles_identities_and_keys_from_the_command_line() {
    let s = server().await;

    let pool = s
        .json(&["pools", "create", "--name", "cli pool", "--allow-guests"])
        .await;
    let pool_id = pool["identity_pool_id"].as_str().unwrap().to_owned();
    let (ok, table, _) = s.run(&["pools", "list"]).await;
    assert!(ok);
    assert!(table.starts_with("IDENTITY_POOL_ID"), "{table}");
    assert!(
        table.contains("cli pool") && table.contains(&pool_id),
        "{table}"
    );

    let provider = s
        .json(&[
            "providers",
            "add",
            "--issuer",
            "https://login.example.com",
            "--client-id",
            "web",
            "--client-id",
            "ios",
        ])
        .await;
    assert_eq!(provider["key"], "login.example.com");
    let listed = s.json(&["providers", "list"]).await;
    assert_eq!(listed["oidc_providers"].as_array().unwrap().len(), 1);
    // The table shows the ARN a pool's provider list takes.
    let (ok, table, _) = s.run(&["providers", "list"]).await;
    assert!(ok);
    assert!(
        table.contains("arn:aws:iam::") && table.contains(":oidc-provider/login.example.com"),
        "{table}"
    );

    let roles = s
        .json(&[
            "roles",
            "set",
            &pool_id,
            "--authenticated",
            "arn:aws:iam::000000000000:role/auth",
            "--unauthenticated",
            "arn:aws:iam::000000000000:role/guest",
        ])
        .await;
    assert_eq!(
        roles["roles"]["unauthenticated"],
        "arn:aws:iam::000000000000:role/guest"
    );
    assert_eq!(s.json(&["roles", "get", &pool_id]).await, roles);
    // By default, a table like every other command's.
    let (ok, table, err) = s.run(&["roles", "get", &pool_id]).await;
    assert!(ok, "{err}");
    assert!(table.starts_with("ROLE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("unauthenticated") && l.ends_with("role/guest")),
        "{table}"
    );

    let guest: Value = reqwest::Client::new()
        .post(format!(
            "{}/v1/identity-pools/{pool_id}/identities",
            s.endpoint
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let identity = guest["identity_id"].as_str().unwrap();
    let identities = s.json(&["identities", "list", &pool_id]).await;
    assert_eq!(identities["identities"][0]["identity_id"], identity);
    assert_eq!(
        s.json(&["identities", "get", identity]).await["identity_id"],
        identity
    );
    s.json(&["identities", "delete", identity]).await;

    let ledger = s.json(&["issuances", "--pool-id", &pool_id]).await;
    assert_eq!(
        ledger["issuances"],
        serde_json::json!([]),
        "no credentials were issued here"
    );

    let keys = s.json(&["keys", "rotate"]).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    let (ok, table, _) = s.run(&["keys", "list"]).await;
    assert!(
        ok && table.contains("current") && table.contains("next"),
        "{table}"
    );

    s.json(&["providers", "remove", "login.example.com"]).await;
    s.json(&["pools", "delete", &pool_id]).await;
    let (ok, _, err) = s.run(&["pools", "get", &pool_id]).await;
    assert!(!ok, "a failed call exits non-zero");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_explains_what_is_missing() {
    let s = server().await;
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_idbroker"))
            .args(["pools", "list"])
            .env_remove("IDBROKER_ADMIN_TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin token"));
    let (ok, _, err) = s
        .run(&["--admin-token", "wrong-token-of-length", "pools", "list"])
        .await;
    assert!(!ok);
    assert!(err.contains("HTTP 401"), "{err}");

    // The ledger needs a filter: all three are named, and the token (set in the environment)
    // is not listed as missing.
    let (ok, _, err) = s.run(&["issuances"]).await;
    assert!(!ok);
    for filter in ["--access-key-id", "--identity-id", "--pool-id"] {
        assert!(err.contains(filter), "{err}");
    }
    assert!(!err.contains("--admin-token"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_principal_tags_and_developer_users_are_managed_from_the_command_line() {
    let s = server().await;
    let pool_file = s._dir.path().join("pool.json");
    std::fs::write(
        &pool_file,
        r#"{"identity_pool_name": "dev pool", "allow_unauthenticated_identities": true, "developer_provider_name": "login.myapp",
            "supported_login_providers": {"accounts.google.com": "client-1"}}"#,
    )
    .unwrap();
    let cognito_file = s._dir.path().join("cognito.json");
    std::fs::write(
        &cognito_file,
        r#"{"IdentityPoolName": "dev pool", "allow_unauthenticated_identities": true}"#,
    )
    .unwrap();
    let (ok, _, err) = s
        .run(&["pools", "create", "--file", cognito_file.to_str().unwrap()])
        .await;
    assert!(!ok);
    assert!(
        err.contains("unknown field `IdentityPoolName`; did you mean `identity_pool_name`?"),
        "{err}"
    );
    let pool = s
        .json(&["pools", "create", "--file", pool_file.to_str().unwrap()])
        .await;
    let pool_id = pool["identity_pool_id"].as_str().unwrap().to_owned();

    let tags = s
        .json(&["tags", "add", &pool_id, "team=web", "env=dev"])
        .await;
    assert_eq!(
        tags["tags"],
        serde_json::json!({"team": "web", "env": "dev"})
    );
    s.json(&["tags", "remove", &pool_id, "env"]).await;
    assert_eq!(
        s.json(&["tags", "list", &pool_id]).await["tags"],
        serde_json::json!({"team": "web"})
    );

    let map = s
        .json(&[
            "principal-tags",
            "set",
            &pool_id,
            "accounts.google.com",
            "--use-defaults",
            "dept=hd",
        ])
        .await;
    assert_eq!(map["use_defaults"], true);
    assert_eq!(
        s.json(&["principal-tags", "get", &pool_id, "accounts.google.com"])
            .await,
        map
    );

    // `developer token` for one user of the pool's developer provider.
    let token_for = async |user: &str| {
        s.json(&[
            "developer",
            "token",
            &pool_id,
            "--provider",
            "login.myapp",
            "--user",
            user,
        ])
        .await
    };
    let alice = token_for("alice").await;
    let alice_id = alice["identity_id"].as_str().unwrap().to_owned();
    assert_eq!(alice["token"].as_str().unwrap().split('.').count(), 3);
    token_for("bob").await;
    let merged = s
        .json(&[
            "developer",
            "merge",
            &pool_id,
            "--provider",
            "login.myapp",
            "--source",
            "bob",
            "--destination",
            "alice",
        ])
        .await;
    assert_eq!(merged["identity_id"], alice_id.as_str());
    let users = s
        .json(&["developer", "lookup", &pool_id, "--identity-id", &alice_id])
        .await;
    assert_eq!(users["users"], serde_json::json!(["alice", "bob"]));
    s.json(&[
        "developer",
        "unlink",
        &pool_id,
        "--provider",
        "login.myapp",
        "--user",
        "bob",
        "--identity-id",
        &alice_id,
    ])
    .await;
    assert_eq!(
        s.json(&["developer", "lookup", &pool_id, "--user", "alice"])
            .await["users"],
        serde_json::json!(["alice"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_policies_are_shown_and_checked_from_the_command_line() {
    let s = server().await;
    let pool = s
        .json(&["pools", "create", "--name", "trust", "--allow-guests"])
        .await;
    let pool_id = pool["identity_pool_id"].as_str().unwrap().to_owned();

    // `show` prints the policy itself, ready for `aws iam create-role`.
    let (ok, out, err) = s
        .run(&["trust-policy", "show", &pool_id, "--role", "authenticated"])
        .await;
    assert!(ok, "{err}");
    let policy: Value = serde_json::from_str(&out).unwrap();
    let condition = &policy["Statement"][0]["Condition"];
    assert_eq!(
        condition["StringEquals"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap(),
        pool_id.as_str()
    );

    // The policy checks clean for its own role: exit 0.
    let file = s._dir.path().join("policy.json");
    std::fs::write(&file, &out).unwrap();
    let path = file.to_str().unwrap();
    let (ok, out, err) = s
        .run(&[
            "trust-policy",
            "check",
            &pool_id,
            "--role",
            "authenticated",
            "--file",
            path,
        ])
        .await;
    assert!(ok, "{err}");
    assert!(out.contains("no findings"), "{out}");

    // As the guest role's it has errors: a table of findings, and a non-zero exit.
    let (ok, out, err) = s
        .run(&[
            "trust-policy",
            "check",
            &pool_id,
            "--role",
            "unauthenticated",
            "--file",
            path,
        ])
        .await;
    assert!(!ok, "an error finding exits non-zero");
    assert!(
        out.contains("SEVERITY") && out.contains("amr_excludes_unauthenticated"),
        "{out}"
    );
    assert!(err.contains("error finding"), "{err}");

    // A file naming a member twice reaches the server as written, and is refused (parsed here,
    // the second Principal would have hidden the first, "*").
    let twice = policy.to_string().replacen(
        r#""Effect":"Allow","#,
        r#""Effect":"Allow","Principal":"*","#,
        1,
    );
    assert_ne!(twice, policy.to_string());
    std::fs::write(&file, twice).unwrap();
    let (ok, _, err) = s
        .run(&[
            "trust-policy",
            "check",
            &pool_id,
            "--role",
            "authenticated",
            "--file",
            path,
        ])
        .await;
    assert!(!ok);
    assert!(err.contains("'Principal' appears twice"), "{err}");

    // --output json prints the body; IAM's URL-encoded text is read as well.
    let encoded: String = policy
        .to_string()
        .bytes()
        .map(|b| match b {
            b'{' | b'}' | b'"' | b':' | b',' | b'[' | b']' | b'/' => format!("%{b:02X}"),
            _ => (b as char).to_string(),
        })
        .collect();
    std::fs::write(&file, encoded).unwrap();
    let (ok, out, err) = s
        .run(&[
            "trust-policy",
            "check",
            &pool_id,
            "--role",
            "authenticated",
            "--file",
            path,
            "--output",
            "json",
        ])
        .await;
    assert!(ok, "{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["findings"], serde_json::json!([]));
    assert_eq!(body["recommended_policy"], policy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_explained_from_the_command_line_without_echoing_the_token() {
    let s = server().await;
    let dir = tempfile::tempdir().unwrap();
    let pool_file = dir.path().join("pool.json");
    std::fs::write(
        &pool_file,
        r#"{"identity_pool_name": "explained", "allow_unauthenticated_identities": true,
            "supported_login_providers": {"accounts.google.com": "google-client"}}"#,
    )
    .unwrap();
    let pool = s
        .json(&["pools", "create", "--file", pool_file.to_str().unwrap()])
        .await;
    let pool_id = pool["identity_pool_id"].as_str().unwrap().to_owned();
    // Not a JWT: refused from the token alone, before any key would be fetched.
    let token = "not-a-token-at-all-0123456789";
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let login = format!("accounts.google.com=@{}", token_file.display());

    let (ok, table, err) = s.run(&["explain", &pool_id, "--login", &login]).await;
    assert!(ok, "{err}");
    assert!(!table.contains(token), "{table}");
    let format_row = table
        .lines()
        .find(|l| l.contains("format"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(format_row.contains("FAIL"), "{format_row}");
    assert!(
        table.contains("Invalid login token. Not a valid OpenId Connect identity token."),
        "{table}"
    );

    let explained = s.json(&["explain", &pool_id, "--login", &login]).await;
    assert_eq!(
        explained["public_error"]["kind"], "NotAuthorizedException",
        "{explained}"
    );
    let typo = s
        .json(&[
            "explain",
            &pool_id,
            "--login",
            &format!("accounts.gogle.com={token}"),
        ])
        .await;
    assert_eq!(
        typo["logins"][0]["pool_entry"]["closest"][0],
        "accounts.google.com"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_and_a_pool_are_revoked_and_re_enabled_from_the_command_line() {
    use idbroker_api::identities::LoginsBody;

    let s = server().await;
    let dir = tempfile::tempdir().unwrap();
    let pool_file = dir.path().join("pool.json");
    std::fs::write(
        &pool_file,
        r#"{"identity_pool_name": "revoked", "allow_unauthenticated_identities": true}"#,
    )
    .unwrap();
    let pool = s
        .json(&["pools", "create", "--file", pool_file.to_str().unwrap()])
        .await;
    let pool_id = pool["identity_pool_id"].as_str().unwrap().to_owned();
    let public = idbroker_api::client::Client::new(&s.endpoint, None).unwrap();
    let guest = public
        .get_id(&pool_id, &LoginsBody::default())
        .await
        .unwrap()
        .identity_id;
    let no_logins = LoginsBody::default();
    let token = || public.token(&guest, &no_logins);
    token().await.unwrap();

    let (ok, table, err) = s.run(&["revoke", &guest]).await;
    assert!(ok, "{err}");
    for expected in [
        guest.as_str(),
        "revoked_before",
        "note: Sessions already issued cannot be told apart",
        "Pool-wide deny policy",
        "aws:TokenIssueTime",
        "no live credentials in the ledger",
    ] {
        assert!(table.contains(expected), "{expected} in {table}");
    }
    let err = token().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("Access to Identity '{guest}' is forbidden.")),
        "{err}"
    );
    let again = s.json(&["revoke", &guest]).await;
    assert_eq!(again["replaced"], true, "{again}");

    let (ok, out, err) = s.run(&["revoke", "--undo", &guest]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("identity {guest} re-enabled"));
    token().await.unwrap();
    let (ok, _, err) = s.run(&["revoke", "--undo", &guest]).await;
    assert!(!ok && err.contains("is not revoked"), "{err}");

    let revoked = s
        .json(&[
            "revoke",
            "--pool",
            &pool_id,
            "--before",
            "2030-01-01T00:00:00Z",
        ])
        .await;
    assert_eq!(
        revoked["deny_policy"]["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
        "2030-01-01T00:00:00Z",
        "{revoked}"
    );
    assert!(token().await.is_err());
    let (ok, _, err) = s.run(&["revoke", "--undo", "--pool", &pool_id]).await;
    assert!(ok, "{err}");
    token().await.unwrap();

    let (ok, _, err) = s.run(&["revoke"]).await;
    assert!(!ok && err.contains("--pool"), "{err}");
}

/// The metadata of a fresh pysaml2 identity provider (tests/saml-idp/idp.py), written to a file.
fn saml_metadata(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let python = std::env::var_os("IDBROKER_TEST_PYSAML2_PYTHON").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/test-tools/pysaml2-7.5.5/bin/python")
        },
        std::path::PathBuf::from,
    );
    assert!(
        python.exists(),
        "pysaml2 is missing: {} does not exist; run scripts/test.sh or set IDBROKER_TEST_PYSAML2_PYTHON",
        python.display()
    );
    let out = Command::new(python)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/saml-idp/idp.py"))
        .args([
            "metadata",
            dir.join(name).to_str().unwrap(),
            "https://idp.example.test/saml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_saml_providers_from_the_command_line() {
    let s = server().await;
    let dir = tempfile::tempdir().unwrap();
    let first = saml_metadata(dir.path(), "first");
    let second = saml_metadata(dir.path(), "second");
    let added = s
        .json(&[
            "saml-providers",
            "add",
            "--name",
            "corp",
            "--metadata-file",
            first.to_str().unwrap(),
        ])
        .await;
    assert_eq!(added["entity_id"], "https://idp.example.test/saml");
    assert!(
        added["arn"]
            .as_str()
            .unwrap()
            .ends_with(":saml-provider/corp")
    );
    let (ok, table, _) = s.run(&["saml-providers", "list"]).await;
    assert!(ok && table.contains(":saml-provider/corp"), "{table}");
    let updated = s
        .json(&[
            "saml-providers",
            "update",
            "corp",
            "--metadata-file",
            second.to_str().unwrap(),
            "--legacy-sha1",
            "true",
            "--subject-attribute",
            "employeeID",
        ])
        .await;
    assert_eq!(updated["legacy_sha1"], true);
    assert_eq!(updated["subject_attribute"], "employeeID");
    assert_ne!(
        updated["certificate_fingerprints"],
        added["certificate_fingerprints"]
    );
    let shown = s.json(&["saml-providers", "show", "corp"]).await;
    assert_eq!(shown, updated);
    let (ok, table, _) = s.run(&["saml-providers", "show", "corp"]).await;
    assert!(ok && table.contains("attribute employeeID"), "{table}");
    // An update without subject flags keeps the attribute; --subject-name-id drops it.
    let kept = s
        .json(&[
            "saml-providers",
            "update",
            "corp",
            "--metadata-file",
            second.to_str().unwrap(),
        ])
        .await;
    assert_eq!(kept["subject_attribute"], "employeeID");
    let by_name_id = s
        .json(&[
            "saml-providers",
            "update",
            "corp",
            "--metadata-file",
            second.to_str().unwrap(),
            "--subject-name-id",
        ])
        .await;
    assert!(
        by_name_id.get("subject_attribute").is_none(),
        "{by_name_id}"
    );
    assert_eq!(by_name_id["legacy_sha1"], true, "kept");
    let (ok, _, err) = s
        .run(&[
            "saml-providers",
            "add",
            "--name",
            "bad",
            "--metadata-file",
            "/nonexistent",
        ])
        .await;
    assert!(!ok && err.contains("metadata file"), "{err}");
    s.json(&["saml-providers", "remove", "corp"]).await;
    let (ok, _, err) = s.run(&["saml-providers", "show", "corp"]).await;
    assert!(!ok && err.contains("not found"), "{err}");
}
