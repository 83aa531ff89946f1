//! A newcomer's first run, as the README has it: the development banner names every credential
//! the walkthrough needs, the command line says where to find the admin token when it has none,
//! and text logs written to a file carry no colour codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::process::Command;

mod support;

#[test]
fn the_banner_names_the_admin_token_and_the_cli_says_where_it_lives() {
    let server = support::start(&[("IDBROKER_LOG_FORMAT", "text")]);
    let secrets = std::fs::read_to_string(server.dir.path().join("dev-secrets.toml")).unwrap();
    let token = secrets
        .lines()
        .find_map(|l| l.strip_prefix("admin_token = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the development admin token");
    let logs = server.logs();
    assert!(
        logs.contains(&format!("IDBROKER_ADMIN_TOKEN={token}")),
        "{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in a log file: {logs}"
    );

    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let cli = |token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_idbroker"));
        command
            .args(["pools", "list", "--endpoint", &endpoint])
            .env_remove("IDBROKER_ADMIN_TOKEN");
        if let Some(token) = token {
            command.env("IDBROKER_ADMIN_TOKEN", token);
        }
        command.output().unwrap()
    };
    let without = cli(None);
    assert!(!without.status.success());
    let said = String::from_utf8_lossy(&without.stderr);
    assert!(said.contains("idbroker-data/dev-secrets.toml"), "{said}");
    let with = cli(Some(token));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
}
