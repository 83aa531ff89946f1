//! Hostile input against the built binary, watched from outside as an operator would: the
//! process's memory in `/proc`, and the log lines it writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod support;

use support::Server;

fn start(log_format: &str) -> Server {
    // The per-IP limit is off, so every call reaches the per-pool limiter and the service.
    support::start(&[
        ("IDBROKER_LOG_FORMAT", log_format),
        ("IDBROKER_RATE_LIMIT_PER_IP", "0"),
    ])
}

trait Calls {
    fn call(&self, operation: &str, body: &str) -> String {
        self.call_with(operation, body, "")
    }
    fn call_with(&self, operation: &str, body: &str, extra_headers: &str) -> String;
    fn rss_kib(&self) -> u64;
    fn stop(self) -> String;
}

impl Calls for Server {
    /// One AWS-face call; the whole response as text.
    fn call_with(&self, operation: &str, body: &str, extra_headers: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AWSCognitoIdentityService.{operation}\r\n{extra_headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        String::from_utf8_lossy(&response).into_owned()
    }

    /// Resident memory of the process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Stops the process and returns what it logged.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.logs()
    }
}

/// A 1 MB identity-pool id that differs per call.
fn huge_pool_id(n: usize) -> String {
    format!("us-east-1:{n:08}{}", "a".repeat(1_000_000))
}

#[test]
fn distinct_huge_pool_ids_do_not_grow_memory() {
    let server = start("json");
    // Warm up the allocator and the connection machinery first.
    for n in 0..10 {
        let body = serde_json::json!({"IdentityPoolId": huge_pool_id(n)}).to_string();
        assert!(server.call("GetId", &body).starts_with("HTTP/1.1 400"));
    }
    let before = server.rss_kib();
    for n in 10..110 {
        let body = serde_json::json!({"IdentityPoolId": huge_pool_id(n)}).to_string();
        let response = server.call("GetId", &body);
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{}",
            &response[..200.min(response.len())]
        );
        assert!(response.contains("ValidationException"));
        // The echoed id is cut to a few dozen characters, in the header and the body.
        assert!(
            response.len() < 2_000,
            "response of {} bytes",
            response.len()
        );
    }
    let grown_mib = server.rss_kib().saturating_sub(before) / 1024;
    let logs = server.stop();
    // 100 distinct 1 MB ids once kept ~110 MiB as rate-limiter keys.
    assert!(
        grown_mib < 32,
        "grew {grown_mib} MiB after 100 distinct 1 MB pool ids"
    );
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 8 * 1024, "a log line of {longest} bytes");
}

#[test]
fn text_logs_cannot_be_forged_or_flooded_through_ids() {
    let server = start("text");
    let forged = "us-east-1:0\n2026-11-30T00:00:00.000000Z  INFO idbroker: FORGED admin login";
    let body = serde_json::json!({"IdentityId": forged}).to_string();
    let response = server.call("GetCredentialsForIdentity", &body);
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    // Headers a client controls: a made-up Forwarded address, and a user agent shaped to
    // read as more fields.
    let body = serde_json::json!({"IdentityId": "us-east-1:1"}).to_string();
    server.call_with(
        "GetOpenIdToken",
        &body,
        "Forwarded: for=\"10.6.6.6 request_id=00000000-forged admin=yes\"\r\n\
         User-Agent: ua request_id=forged-by-agent\r\n",
    );
    let huge = format!("us-east-1:{}", "b".repeat(1_000_000));
    let body = serde_json::json!({"IdentityId": huge}).to_string();
    assert!(
        server
            .call("GetOpenIdToken", &body)
            .starts_with("HTTP/1.1 400")
    );
    let logs = server.stop();
    assert!(logs.contains("FORGED"), "the id is logged, escaped: {logs}");
    assert!(
        !logs.contains("10.6.6.6"),
        "a made-up Forwarded address was logged"
    );
    assert!(
        !logs.contains("http.user_agent=ua "),
        "a user agent added a field: {logs}"
    );
    assert!(logs.contains("http.user_agent=\"ua request_id=forged-by-agent\""));
    for line in logs.lines() {
        assert!(
            !line.starts_with("2026-11-30T00:00:00.000000Z"),
            "a client started a log line: {line}"
        );
        assert!(line.len() < 8 * 1024, "a log line of {} bytes", line.len());
    }
}
