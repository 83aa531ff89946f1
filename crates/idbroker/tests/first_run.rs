//! A newcomer's first run, as the README has it: the development banner names every credential
//! the walkthrough needs, the command line says where to find the admin token when it has none,
//! and text logs written to a file carry no colour codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::process::Command;

mod support;

#[test]
fn the_banner_names_the_admin_token_and_the_cli_says_where_it_lives() {
    let server = support::start(&[("IDBROKER_LOG_FORMAT", "text")]);
    let token = server.admin_token();
    // The banner comes once the port is bound, a moment after it accepts connections.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let logs = loop {
        let logs = server.logs();
        if logs.contains("IDBROKER_ADMIN_TOKEN=") || std::time::Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
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
    let with = cli(Some(&token));
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
}

/// A second start on a port already taken fails with the address, before printing the banner
/// (which would read as if this instance were the one running).
#[test]
fn a_taken_port_fails_before_the_banner() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::serve_command(dir.path(), port, &[])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("idbroker kept running on a taken port");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success());
    let said = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!said.contains("DEVELOPMENT MODE"), "{said}");
    assert!(said.contains(&port.to_string()), "{said}");
    drop(taken);
}
