//! STS that hangs or fails, on loopback: a call stays within its budget, and while STS is
//! down calls fail at once instead of each spending the budget again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use idbroker_sts::{AssumeRequest, CredentialsIssuer, Sts, StsError, StsPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback "STS" that either holds every connection unanswered or answers every request
/// with a 500; counts connections (every answer closes its connection).
async fn fake_sts(hang: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if hang {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    drop(socket);
                    return;
                }
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                // Read the head and the body (the SDK sends a content-length).
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let body = "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>down</Message></Error><RequestId>1</RequestId></ErrorResponse>";
                let response = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, connections)
}

fn request() -> AssumeRequest<'static> {
    AssumeRequest {
        role_arn: "arn:aws:iam::123456789012:role/r",
        session_name: "s",
        web_identity_token: "t",
        duration_seconds: 900,
        policy: None,
    }
}

async fn timed(sts: &Sts) -> (Duration, Result<(), StsError>) {
    let started = Instant::now();
    let result = sts.assume_role_with_web_identity(request()).await;
    (started.elapsed(), result.map(|_| ()))
}

fn policy() -> StsPolicy {
    StsPolicy {
        attempt_timeout: Duration::from_secs(1),
        budget: Duration::from_secs(2),
        backoff_initial: Duration::from_secs(10),
        ..StsPolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_sts_costs_one_attempt_then_fails_fast() {
    let (url, connections) = fake_sts(true).await;
    let sts = Sts::with_policy("us-east-1", Some(&url), policy())
        .await
        .unwrap();
    let (took, result) = timed(&sts).await;
    assert!(
        matches!(result, Err(StsError::Unavailable(_))),
        "{result:?}"
    );
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    let after_first = connections.load(Ordering::SeqCst);
    assert_eq!(after_first, 1, "a second attempt would not fit the budget");

    let calls: Vec<_> = (0..6).map(|_| timed(&sts)).collect();
    for call in calls {
        let (took, result) = call.await;
        assert!(
            matches!(result, Err(StsError::Unavailable(_))),
            "{result:?}"
        );
        assert!(took < Duration::from_millis(300), "took {took:?}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), after_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sts_gets_two_attempts_and_then_a_rest() {
    let (url, connections) = fake_sts(false).await;
    let sts = Sts::with_policy(
        "us-east-1",
        Some(&url),
        StsPolicy {
            backoff_initial: Duration::from_millis(500),
            ..policy()
        },
    )
    .await
    .unwrap();
    let (_, result) = timed(&sts).await;
    assert!(
        matches!(result, Err(StsError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    let (took, result) = timed(&sts).await;
    assert!(
        matches!(result, Err(StsError::Unavailable(_))),
        "{result:?}"
    );
    assert!(took < Duration::from_millis(300));
    assert_eq!(connections.load(Ordering::SeqCst), 2);

    // After the backoff, STS is asked again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _ = timed(&sts).await;
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_sts_gives_up_within_six_seconds() {
    let (url, connections) = fake_sts(true).await;
    let sts = Sts::new("us-east-1", Some(&url)).await.unwrap();
    let (took, result) = timed(&sts).await;
    assert!(
        matches!(result, Err(StsError::Unavailable(_))),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(connections.load(Ordering::SeqCst) <= 2);
}
