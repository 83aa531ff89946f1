//! `idbroker health`, the container image's HEALTHCHECK: succeeds against a ready server,
//! also when given the image's `IDBROKER_LISTEN=0.0.0.0:…`, and fails with a reason otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::process::Command;

mod support;

fn health(env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_idbroker"))
        .arg("health")
        .env_remove("IDBROKER_LISTEN")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn the_health_command_says_whether_the_server_is_ready() {
    let server = support::start(&[]);
    let listen = format!("0.0.0.0:{}", server.port);
    let out = health(&[("IDBROKER_LISTEN", &listen)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ready");

    // Nothing listens there: a failure that says so.
    let nobody = format!("127.0.0.1:{}", support::free_port());
    let out = health(&[("IDBROKER_LISTEN", &nobody)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("nothing answers at {nobody}")),
        "{err}"
    );

    // Something answers, but not idbroker's readiness: the status is named.
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stranger.local_addr().unwrap().port();
    let answer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = stranger.accept().unwrap();
        let mut buf = [0u8; 256];
        let _ = conn.read(&mut buf).unwrap();
        conn.write_all(b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
            .unwrap();
    });
    let out = health(&[("IDBROKER_LISTEN", &format!("127.0.0.1:{port}"))]);
    answer.join().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("503 Service Unavailable"), "{err}");
}
