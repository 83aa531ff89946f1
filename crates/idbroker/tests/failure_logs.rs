//! A failed call is logged once, by the face that answers it, and a caller's mistake not at
//! all: watched from outside, in the log the built binary writes, as an operator reads it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

use std::time::Duration;

mod support;

use support::{Server, call, json_of};

/// The WARN and ERROR lines the server logged while `work` ran.
fn failures_logged_during(server: &Server, work: impl FnOnce()) -> Vec<String> {
    let before = server.logs().lines().count();
    work();
    // Log lines are written as the request ends; give the writer a moment.
    std::thread::sleep(Duration::from_millis(300));
    server
        .logs()
        .lines()
        .skip(before)
        .filter(|l| l.contains(r#""level":"WARN""#) || l.contains(r#""level":"ERROR""#))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_failure_is_logged_once_and_a_callers_mistake_not_at_all() {
    // STS is a port nobody listens on: every credentials call fails as ExternalService.
    let server = support::start(&[
        ("IDBROKER_LOG_FORMAT", "json"),
        ("IDBROKER_STS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ]);
    let token = server.admin_token();
    let admin = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let json = "Content-Type: application/json\r\n";

    let (status, body) = call(
        &server,
        "POST /v1/identity-pools",
        &admin,
        r#"{"identity_pool_name": "logs", "allow_unauthenticated_identities": true}"#,
    );
    assert_eq!(status, 201, "{body}");
    let pool = json_of(&body)["identity_pool_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = call(
        &server,
        &format!("PUT /v1/identity-pools/{pool}/roles"),
        &admin,
        r#"{"roles": {"unauthenticated": "arn:aws:iam::123456789012:role/guest"}}"#,
    );
    assert_eq!(status, 200, "{body}");

    let mistakes = failures_logged_during(&server, || {
        let (status, _) = call(
            &server,
            &format!("POST /v1/identity-pools/{pool}/identities"),
            json,
            r#"{"Logins": {}}"#,
        );
        assert_eq!(status, 400);
        let (status, _) = call(
            &server,
            "POST /",
            "Content-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AWSCognitoIdentityService.GetId\r\n",
            r#"{"IdentityPoolId": "bad"}"#,
        );
        assert_eq!(status, 400);
        let (status, _) = call(&server, "GET /v1/identity-pools", "", "");
        assert_eq!(status, 401);
    });
    assert_eq!(
        mistakes,
        Vec::<String>::new(),
        "a caller's mistake is not logged"
    );

    let (status, body) = call(
        &server,
        &format!("POST /v1/identity-pools/{pool}/identities"),
        json,
        "{}",
    );
    assert_eq!(status, 200, "{body}");
    let identity = json_of(&body)["identity_id"].as_str().unwrap().to_owned();
    let failure = failures_logged_during(&server, || {
        let (status, body) = call(
            &server,
            &format!("POST /v1/identities/{identity}/credentials"),
            json,
            "{}",
        );
        assert_eq!(status, 502, "{body}");
        assert!(
            !body.contains("127.0.0.1:9"),
            "the cause stays in the log: {body}"
        );
    });
    assert_eq!(failure.len(), 1, "one line for one failure: {failure:#?}");
    assert!(
        failure[0].contains("ExternalServiceException") && failure[0].contains("STS"),
        "the line names the failure and its cause: {}",
        failure[0]
    );
    // The operator learns where STS was looked for, and why it could not be reached.
    assert!(
        failure[0].contains("http://127.0.0.1:9") && failure[0].contains("refused"),
        "the endpoint and the cause: {}",
        failure[0]
    );
    let startup = server.logs();
    let ready = startup
        .lines()
        .find(|l| l.contains("STS client ready"))
        .expect("start-up names the STS endpoint");
    assert!(ready.contains("http://127.0.0.1:9"), "{ready}");
}
