//! `idbroker health`, the container image's HEALTHCHECK: succeeds against a live (and, with
//! `--ready`, ready) server, also when given the image's `IDBROKER_LISTEN=0.0.0.0:…`, and
//! fails with a reason otherwise, within its deadline even against a server that trickles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

fn health(listen: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_idbroker"))
        .arg("health")
        .args(args)
        .env("IDBROKER_LISTEN", listen)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A one-connection server on loopback that answers with `reply` (a byte every `pace`).
fn stranger(reply: &'static [u8], pace: Duration) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let _ = conn.read(&mut buf).unwrap();
        for byte in reply {
            if conn.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(pace);
        }
        // Keep the connection open a while, as a keep-alive server would.
        std::thread::sleep(Duration::from_secs(4));
    });
    (port, handle)
}

#[test]
fn the_health_command_says_whether_the_server_is_alive_and_ready() {
    let server = support::start(&[]);
    let listen = format!("0.0.0.0:{}", server.port);
    let (ok, out, err) = health(&listen, &[]);
    assert!(ok, "{err}");
    assert_eq!(out, "alive");
    let (ok, out, err) = health(&listen, &["--ready"]);
    assert!(ok, "{err}");
    assert_eq!(out, "ready");

    // Nothing listens there: a failure that says so.
    let nobody = format!("127.0.0.1:{}", support::free_port());
    let (ok, _, err) = health(&nobody, &[]);
    assert!(!ok);
    assert!(
        err.contains(&format!("nothing answers at {nobody}")),
        "{err}"
    );
}

#[test]
fn a_status_other_than_200_and_a_trickling_server_fail_within_the_deadline() {
    // Another status: named.
    let (port, answer) = stranger(b"HTTP/1.0 503 Service Unavailable\r\n\r\n", Duration::ZERO);
    let (ok, _, err) = health(&format!("127.0.0.1:{port}"), &[]);
    answer.join().unwrap();
    assert!(!ok);
    assert!(err.contains("503 Service Unavailable"), "{err}");

    // A 200 whose connection stays open is judged on its status line, at once.
    let (port, answer) = stranger(b"HTTP/1.1 200 OK\r\n\r\nalive", Duration::ZERO);
    let started = Instant::now();
    let (ok, _, err) = health(&format!("127.0.0.1:{port}"), &[]);
    assert!(ok, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    answer.join().unwrap();

    // A byte a second never finishes its status line: the check gives up on its deadline.
    let (port, answer) = stranger(b"HTTP/1.1 200 OK\r\n\r\n", Duration::from_secs(1));
    let started = Instant::now();
    let (ok, _, err) = health(&format!("127.0.0.1:{port}"), &[]);
    let took = started.elapsed();
    assert!(!ok);
    assert!(err.contains("within 3 s"), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(answer); // it ends by itself
}
