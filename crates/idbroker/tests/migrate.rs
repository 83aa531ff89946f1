//! `idbroker migrate` as an operator runs it: only the database is needed, and a database
//! that cannot be reached is named (host and port, never the password) with the cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::process::Output;

use idbroker_store::testing::TestDatabase;

mod support;

/// `idbroker migrate` with this database URL and no other setting.
fn migrate(url: &str) -> Output {
    support::run_on_database(url, &["migrate"], &[])
}

#[tokio::test]
async fn migrate_needs_only_the_database_and_applies_the_migrations() {
    let db = TestDatabase::postgres().await;
    let url = db.url().to_owned();
    let out = tokio::task::spawn_blocking(move || migrate(&url))
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("migrations applied"), "{stdout}");
}

#[test]
fn an_unreachable_database_is_named_with_the_cause_and_without_the_password() {
    let port = support::free_port();
    for (url, server, cause) in [
        (
            format!("postgres://idbroker:hunter2@127.0.0.1:{port}/idbroker"),
            format!("127.0.0.1:{port}"),
            "refused",
        ),
        (
            "postgres://idbroker:hunter2@no-such-host.invalid:5432/idbroker".to_owned(),
            "no-such-host.invalid:5432".to_owned(),
            "lookup",
        ),
    ] {
        let started = std::time::Instant::now();
        let out = migrate(&url);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("cannot reach the database server {server}")),
            "{err}"
        );
        assert!(err.to_lowercase().contains(cause), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        // Told at once, not after the pool's retries ran out.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{err}"
        );
    }
}
