//! Stopping: the built binary, run as an operator runs it, gets SIGTERM while a request is in
//! flight. It stops accepting, lets the request finish within the shutdown timeout, closes
//! its database pool and exits cleanly; a request that never finishes is cut off at the bound.
//! Also checks the production log shape: JSON lines that carry the request id the client got.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const BODY: &str = r#"{"IdentityPoolId":"us-east-1:00000000-0000-4000-8000-000000000000"}"#;
const SHUTDOWN_TIMEOUT_SECONDS: u64 = 2;

mod support;

use support::Server;

fn start() -> Server {
    support::start(&[
        ("IDBROKER_LOG_FORMAT", "json"),
        (
            "IDBROKER_SHUTDOWN_TIMEOUT_SECONDS",
            &SHUTDOWN_TIMEOUT_SECONDS.to_string(),
        ),
    ])
}

trait Stopping {
    fn start_slow_request(&self) -> TcpStream;
    fn terminate(&self);
    fn wait_for_exit(self, since: Instant) -> (Duration, String);
}

impl Stopping for Server {
    /// Sends the headers and the first half of a GetId body, and leaves the request waiting.
    fn start_slow_request(&self) -> TcpStream {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AWSCognitoIdentityService.GetId\r\nContent-Length: {}\r\n\r\n{}",
            BODY.len(),
            &BODY[..10]
        )
        .unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stream
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns how long that took after `since`, and its logs.
    fn wait_for_exit(mut self, since: Instant) -> (Duration, String) {
        let deadline = since + Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS + 10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let took = since.elapsed();
                let logs = self.logs();
                assert!(status.success(), "exit status {status}; logs:\n{logs}");
                return (took, logs);
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("idbroker did not exit within the shutdown bound");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read_response(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn a_stopping_server_finishes_the_request_in_flight_then_exits() {
    let server = start();
    let mut in_flight = server.start_slow_request();
    let stop = Instant::now();
    server.terminate();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "a stopping server accepts no new connections"
    );

    in_flight.write_all(&BODY.as_bytes()[10..]).unwrap();
    let response = read_response(&mut in_flight);
    assert!(
        response.starts_with("HTTP/1.1 400"),
        "the request in flight is answered: {response}"
    );
    assert!(response.contains("ResourceNotFoundException"), "{response}");
    let request_id = response
        .lines()
        .find_map(|l| l.strip_prefix("x-amzn-requestid: "))
        .expect("the response carries a request id")
        .trim()
        .to_owned();

    let (took, logs) = server.wait_for_exit(stop);
    assert!(
        took < Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS),
        "nothing left to wait for once the request is answered, yet exit took {took:?}"
    );
    assert!(logs.contains("idbroker stopped"), "{logs}");

    // Production logs: every line that is not the start-up banner is a JSON object, and the
    // request's lines name the id its client was given.
    let json_lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!json_lines.is_empty(), "{logs}");
    assert!(
        json_lines
            .iter()
            .any(|line| line.to_string().contains(&request_id)),
        "no log line names request {request_id}:\n{logs}"
    );
}

#[test]
fn a_request_that_never_finishes_is_cut_off_at_the_shutdown_timeout() {
    let server = start();
    let mut stalled = server.start_slow_request();
    let stop = Instant::now();
    server.terminate();
    let (took, _) = server.wait_for_exit(stop);
    assert!(
        took >= Duration::from_millis(SHUTDOWN_TIMEOUT_SECONDS * 1000 - 200),
        "exited after {took:?}, before the request's time was up"
    );
    assert!(
        took < Duration::from_secs(SHUTDOWN_TIMEOUT_SECONDS + 5),
        "exited after {took:?}"
    );
    // The stalled client sees its connection closed, not a hang.
    assert_eq!(read_response(&mut stalled), "");
}
